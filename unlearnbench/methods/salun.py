"""``salun``: Saliency Unlearning (Fan, Liu, Zhang, Wong, Wei and Liu, ICLR 2024).

"SalUn: Empowering machine unlearning via gradient-based weight saliency in both image classification
and generation". Two steps:

1. Weight saliency: ``s = |∇θ ℓ(θ_o; D_f)|`` at the original weights; the mask ``m`` keeps the
   ``mask_ratio`` fraction of entries with the largest saliency under ONE hard threshold over all
   parameters together. As the reference's ``generate_mask.py`` (14-82): eval mode, one pass over the
   shuffled forget loader through the training transform, the minibatch-mean gradients summed.
2. Random-label unlearning (RL, :mod:`unlearnbench.methods.random_label`) on the salient weights only,
   ``θ_u = m ⊙ θ + (1 − m) ⊙ θ_o``: every epoch a forget pass with random labels, then a retain pass
   (``Classification/unlearn/RL.py`` 109-176), the non-salient weights put back after every step.

Reference: OPTML-Group/Unlearn-Saliency@a6e89fd. Defaults are its ResNet-18 / CIFAR-10 command
(``Classification/README.md`` 34): mask ratio 0.5, SGD lr 0.013, 10 epochs, with the argparse defaults
momentum 0.9, weight decay 5e-4, batch 256, no warm-up, a step schedule that never decays within 10
epochs, and the training augmentation (random crop + flip) in both the saliency pass and the unlearning.
The reference's latest code (the weight-decay fix of a6e89fd) keeps the non-salient weights exactly at
θ_o, as the paper's equation does; the paper's numbers were produced before it, when weight decay still
shrank them.

Paper over code: labels are drawn from the wrong classes (the paper's ``y' ≠ y``), the code draws from all
classes (``wrong_only=False``). ``mixed=True`` is the single shuffled forget ∪ retain stream of the
reference's CIFAR-100 branch, of its CIFAR-10 loop from the first release (9576623, October 2023) until
f31f82e (April 2024), and of this bench before. Every pass keeps its last partial batch, as the reference's
DataLoaders do. Remaining differences (see ``fidelity``): the saliency pass runs inside the method, and the
augmentation is batched.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.importance import global_top_mask, summed_batch_gradients, trainable
from unlearnbench.methods.random_label import (
    LOOP_SOURCES,
    SHARED_SOURCES,
    WRONG_LABELS_NOTE,
    random_label_training,
    shared_differences,
)

#: Generator offset of the saliency pass's batch order and augmentation.
SALIENCY_STREAM = 29

_MASK = "Classification/generate_mask.py"
_README = "Classification/README.md"


def saliency_mask(
    model: nn.Module,
    forget: TensorData,
    mask_ratio: float,
    batch_size: int = 256,
    *,
    augment: bool = False,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """SalUn's hard saliency mask: the top ``mask_ratio`` of ``|Σ_batches ∇ mean CE(batch)|`` over all weights.

    One pass over ``forget`` in eval mode, shuffled by ``generator`` (data order without one) and, with
    ``augment``, through the training augmentation, as the reference's forget loader.
    """
    scores = summed_batch_gradients(model, forget, batch_size, augment=augment, generator=generator)
    return global_top_mask({name: g.abs() for name, g in scores.items()}, mask_ratio)


class SalUn:
    """Random-label unlearning restricted to the weights most salient for the forget loss."""

    name: ClassVar[str] = "salun"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain", "forget")
    description: ClassVar[str] = (
        "Saliency unlearning: random labels on the forget set, then the retain set, updating only the "
        "top-gradient weights (Fan et al., ICLR 2024)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "mask_ratio": 0.5,
        "lr": 0.013,
        "epochs": 10,
        "batch_size": 256,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "nesterov": False,
        "schedule": "constant",
        "optimizer": "sgd",
        "augment": True,
        "wrong_only": True,
        "mixed": False,
    }
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # ~1,200 digits make only 6 steps an epoch at batch 256 (1 forget, 5 retain).
        "digits": {"batch_size": 64, "epochs": 5},
        "fake": {"batch_size": 64, "epochs": 5},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [0.005, 0.013, 0.03]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Fan, Liu, Zhang, Wong, Wei and Liu, \"SalUn: Empowering Machine Unlearning via Gradient-based "
        "Weight Saliency in Both Image Classification and Generation\", ICLR 2024",
        repository="OPTML-Group/Unlearn-Saliency",
        commit="a6e89fd17ff737c24c6aa16c9574469a234ffd91",
        loop=(
            Source(_MASK, "14-82", note="saliency: model.eval(); Σ over the shuffled, augmented forget loader of "
                   "∇ of the batch-mean −CE; |·|; one global rank over all parameters; top int(P · ratio)"),
            *LOOP_SOURCES[:2],
            Source("Classification/unlearn/RL.py", "11-34", note="mask the gradients, step, then restore "
                   "the masked-out weights to θ0 and zero their momentum (a6e89fd, 'Fix weight decay')"),
            Source("Classification/main_random.py", "133-140", note="SalUn = RL with --mask_path"),
        ),
        defaults={
            "mask_ratio": Source(_README, "34", 0.5, note="--mask_path mask/with_0.5.pt from the thresholds "
                                 f"of {_MASK} 50"),
            "lr": Source(_README, "34", 0.013, note="--unlearn_lr 0.013 (ResNet-18, CIFAR-10, 10 % forgetting)"),
            "epochs": Source(_README, "34", 10, note="--unlearn_epochs 10"),
            **SHARED_SOURCES,
        },
        differences=(
            *shared_differences(
                "digits, lr 0.013, mean of 3 seeds, FA / TA / simple MIA, wrong labels (default) against the "
                "code's uniform labels: 10 % random forgetting 0.983 / 0.971 / 0.524 against 0.978 / 0.974 / "
                "0.465; class 3 forgetting 0.115 / 0.874 / 0.875 against 0.795 / 0.949 / 0.776 (retrained: "
                "0.000 / 0.873 / 0.928)."
            ),
            Difference(
                what="The saliency pass uses the method's batch_size and augmentation; the reference computes "
                "the mask in a separate run of generate_mask.py, with its own seed and the same argparse "
                "defaults (batch 256, training transform).",
                why="One method run instead of two scripts; the same estimator.",
                effect="not measured: only the random batch order and crops of that one pass differ.",
            ),
        ),
        paper_over_code=(WRONG_LABELS_NOTE,),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run SalUn on ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        mask_ratio = float(p["mask_ratio"])
        if ctx.num_classes < 2:
            raise ValueError("salun needs at least two classes to draw random labels")
        model.to(ctx.device)
        if len(ctx.forget) == 0 or mask_ratio == 0.0:
            model.eval()
            return model
        masks = saliency_mask(
            model, ctx.forget, mask_ratio, int(p["batch_size"]),
            augment=bool(p["augment"]), generator=ctx.generator(SALIENCY_STREAM),
        )  # fmt: skip
        params = trainable(model)
        original = {name: q.detach().clone() for name, q in params.items()}

        def keep_non_salient(_: nn.Module) -> None:
            with torch.no_grad():
                for name, q in params.items():
                    q.copy_(torch.where(masks[name], q, original[name]))

        random_label_training(model, ctx, p, self.name, after_step=keep_non_salient)
        model.eval()
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``salun`` method."""
    return [SalUn]
