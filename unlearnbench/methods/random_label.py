"""``random_label`` (RL): fine-tune on the forget set with random labels, then on the retain set, every epoch.

Random-label fine-tuning is a baseline of Golatkar et al. (CVPR 2020) and the "RL" unlearner of the
sparsity / saliency line (Jia et al., NeurIPS 2023; Fan et al., ICLR 2024, where SalUn is RL restricted to
salient weights). It minimises ``E_{D_f, y' ≠ y} CE(θ; x, y') + E_{D_r} CE(θ; x, y)`` (SalUn, Eq. 6 with
α = 1) from the original weights.

Reference: OPTML-Group/Unlearn-Saliency@a6e89fd, ``Classification/unlearn/RL.py`` 109-176 (the CIFAR-10 /
SVHN branch, run without a mask by ``main_forget.py``): every epoch one pass over the shuffled forget set,
each batch with labels freshly drawn by ``torch.randint``, then one pass over the retain set with its own
labels, under one SGD optimiser (lr 0.01, momentum 0.9, weight decay 5e-4, batch 256, 10 epochs; the
MultiStepLR milestones 91 and 136 are never reached), BatchNorm in train mode, both loaders through the
training transform (random crop + flip). Here each pass is a :class:`~unlearnbench.training.Phase` of
``ctx.train_phases``.

Where the code and the paper disagree the paper is followed: a label is drawn from the K − 1 *wrong*
classes (the paper's ``y' ≠ y``); the code draws from all K, so about 1/K of its "random" labels are the
true ones (``wrong_only=False``). ``mixed=True`` keeps the bench's former variant, one shuffled stream over
forget ∪ retain: the reference's CIFAR-100 / TinyImageNet branch, and its CIFAR-10 loop from the first
release (9576623, October 2023) until f31f82e (April 2024). Every pass keeps its last partial batch, as the
reference's DataLoaders do. Remaining difference (see ``fidelity``): batched augmentation.

:func:`random_wrong_labels`, :func:`random_labels` and :func:`random_label_training` are public so that
SalUn can reuse the same relabelling and loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.training import Phase, cross_entropy_loss

# Offset of this method's label generator among the replicate's generators.
_LABEL_STREAM = 17

_SALUN = "OPTML-Group/Unlearn-Saliency"
_SALUN_COMMIT = "a6e89fd17ff737c24c6aa16c9574469a234ffd91"
_RL = "Classification/unlearn/RL.py"
_IMPL = "Classification/unlearn/impl.py"
_ARGS = "Classification/arg_parser.py"
_DATASET = "Classification/dataset.py"


def random_wrong_labels(
    y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A label different from ``y`` for every entry, uniform over the other ``num_classes − 1`` classes.

    Drawn on the CPU from ``generator`` (reproducible on any device), returned on ``y``'s device.
    """
    if num_classes < 2:
        raise ValueError("random wrong labels need at least two classes")
    offset = torch.randint(1, num_classes, tuple(y.shape), generator=generator)
    return (y + offset.to(y.device)) % num_classes


def random_labels(
    y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A label uniform over all ``num_classes`` classes for every entry (it may equal the true one)."""
    return torch.randint(0, num_classes, tuple(y.shape), generator=generator).to(y.device)


def random_label_loss(
    num_classes: int, generator: torch.Generator, wrong_only: bool = True
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy against labels drawn afresh for every row at every call (the forget pass)."""
    draw = random_wrong_labels if wrong_only else random_labels

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(model(x), draw(y, num_classes, generator))

    return loss


def flagged_union(forget: TensorData, retain: TensorData, num_classes: int) -> TensorData:
    """Forget and retain examples in one set; forget labels are shifted by ``num_classes`` to mark them."""
    return TensorData(
        torch.cat([forget.x, retain.x.to(forget.x.device)]),
        torch.cat([forget.y + num_classes, retain.y.to(forget.y.device)]),
        forget.mean, forget.std, forget.crop_padding, forget.hflip,
    )  # fmt: skip


def relabelling_loss(
    num_classes: int, generator: torch.Generator, wrong_only: bool = True
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy on a :func:`flagged_union` batch, flagged (forget) rows getting fresh random labels."""
    draw = random_wrong_labels if wrong_only else random_labels

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        flagged = y >= num_classes
        true = y % num_classes
        target = torch.where(flagged, draw(true, num_classes, generator), true)
        return nn.functional.cross_entropy(model(x), target)

    return loss


def random_label_training(
    model: nn.Module,
    ctx: UnlearnContext,
    p: Mapping[str, Any],
    description: str,
    after_step: Callable[[nn.Module], None] | None = None,
) -> None:
    """RL's loop on ``model`` in place: forget pass with random labels, then retain pass, every epoch.

    ``p["mixed"]`` trains on one shuffled stream over forget ∪ retain instead (the reference's CIFAR-100
    branch); ``p["wrong_only"]`` draws labels from the wrong classes only (the paper) or from all classes
    (the reference code). ``after_step`` runs after every optimiser step of either pass (SalUn's mask).
    """
    if len(ctx.forget) == 0 and len(ctx.retain) == 0:
        return
    labels = ctx.generator(_LABEL_STREAM)
    wrong_only = bool(p["wrong_only"])
    recipe = ctx.recipe_from(p)
    if bool(p["mixed"]):
        data = flagged_union(ctx.forget, ctx.retain, ctx.num_classes)
        loss = relabelling_loss(ctx.num_classes, labels, wrong_only)
        ctx.train(model, data, recipe, loss_fn=loss, after_step=after_step, description=description)
        return
    phases = [
        Phase(ctx.forget, random_label_loss(ctx.num_classes, labels, wrong_only), name="forget"),
        Phase(ctx.retain, cross_entropy_loss, name="retain"),
    ]
    ctx.train_phases(model, phases, recipe, after_step=after_step, description=description)


#: The sources of the optimiser settings RL and SalUn share (Unlearn-Saliency's argparse and loop).
SHARED_SOURCES: dict[str, Source] = {
    "batch_size": Source(_ARGS, "69", 256, note="--batch_size, used by the forget and retain loaders"),
    "momentum": Source(_ARGS, "71", 0.9, note="--momentum"),
    "weight_decay": Source(_ARGS, "72", 5e-4, note="--weight_decay"),
    "nesterov": Source(_IMPL, "68-73", False, note="torch.optim.SGD without nesterov"),
    "optimizer": Source(_IMPL, "68-73", "sgd", note="torch.optim.SGD(model.parameters(), unlearn_lr, ...)"),
    "schedule": Source(_IMPL, "94-97", "constant", note="MultiStepLR at --decreasing_lr 91,136 "
                       f"({_ARGS} 78), never reached in 10 epochs; --warmup 0 ({_ARGS} 76)"),
    "augment": Source(_DATASET, "542-555", True, note="forget and retain loaders use the training "
                      f"transform RandomCrop(32, 4) + RandomHorizontalFlip unless --no-aug ({_ARGS} 79-84)"),
    "wrong_only": Source(_RL, "125", False, note="torch.randint(0, num_classes, ...): uniform over all K"),
    "mixed": Source(_RL, "109-176", False, note="CIFAR-10 / SVHN: a forget pass, then a retain pass; the "
                    "single mixed stream is the CIFAR-100 / TinyImageNet branch (51-107), and was CIFAR-10's "
                    "loop from the first release 9576623 (Oct. 2023) to 4882430 (Jan. 2024)"),
}

#: Where RL's loop sits (shared with SalUn).
LOOP_SOURCES: tuple[Source, ...] = (
    Source(_RL, "109-176", note="CIFAR-10 / SVHN branch: model.train(); forget pass with torch.randint labels "
           "per batch (123-140), then retain pass with the true labels (142-159), one optimiser; the "
           "maintainers confirm the sequential updates and α = 1 in Eq. 6 (Unlearn-Saliency issue #21)"),
    Source(_IMPL, "54-114", note="iterative_unlearn: SGD, MultiStepLR, one RL call per epoch"),
    Source("Classification/main_forget.py", "134-135", note="RL without a mask (the baseline)"),
)

#: The paper-over-code note RL and SalUn share.
WRONG_LABELS_NOTE = (
    "Random labels: SalUn's objective (Fan et al., ICLR 2024, Eq. 6, the RL loss restricted to salient "
    "weights) takes y' ≠ y, a wrong label; the reference code draws torch.randint(0, num_classes) "
    f"({_RL} 125), so about 1/K of its labels are the true ones. Default wrong_only=True follows the paper; "
    "wrong_only=False is the code."
)

#: The differences RL and SalUn share besides the labels.
_COMMON_DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        what="Random crop + flip are batched tensor ops on uint8 images (zero padding) with the replicate's "
        "generator; the reference uses torchvision's per-image transforms.",
        why="The bench's data pipeline; the same distribution of crops and flips.",
        effect="not measured: the same augmentation up to the random draws.",
    ),
)


def shared_differences(wrong_only_effect: str) -> tuple[Difference, ...]:
    """The differences RL and SalUn share; ``wrong_only_effect`` is each method's measured effect."""
    return (
        Difference(
            what="Labels are drawn from the K − 1 wrong classes (y' ≠ y); the reference draws from all K classes.",
            why="The paper's objective says y' ≠ y and the code disagrees with it: the paper is followed (see "
            "paper over code); wrong_only=false is the code.",
            effect=wrong_only_effect,
            parameter="wrong_only",
        ),
        *_COMMON_DIFFERENCES,
    )


class RandomLabel:
    """RL: every epoch a forget pass with random labels, then a retain pass, with one optimiser."""

    name: ClassVar[str] = "random_label"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain", "forget")
    description: ClassVar[str] = (
        "Fine-tune on forget examples with random wrong labels, then on the retain set, every epoch "
        "(Golatkar et al., CVPR 2020; RL of Fan et al., ICLR 2024)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 10,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "nesterov": False,
        "batch_size": 256,
        "schedule": "constant",
        "optimizer": "sgd",
        "augment": True,
        "wrong_only": True,
        "mixed": False,
    }
    #: ~1,100 retain examples give 5 steps per epoch at batch 256; batch 64 gives 17.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 64, "epochs": 3},
        "fake": {"batch_size": 64, "epochs": 3},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [0.005, 0.01, 0.02]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Golatkar, Achille and Soatto, \"Eternal Sunshine of the Spotless Net\", CVPR 2020 (random "
        "labels); the RL baseline of Fan, Liu, Zhang, Wong, Wei and Liu, \"SalUn\", ICLR 2024",
        repository=_SALUN,
        commit=_SALUN_COMMIT,
        loop=LOOP_SOURCES,
        defaults={
            "epochs": Source(_ARGS, "119-124", 10, note="--unlearn_epochs; the README gives no RL command"),
            "lr": Source(_ARGS, "116-118", 0.01, note="--unlearn_lr; the maintainers search RL's lr in "
                         "[1e-4, 1e-1] (OPTML-Group/Unlearn-WorstCase issue #1)"),
            **SHARED_SOURCES,
        },
        differences=shared_differences(
            "digits, lr 0.01, mean of 3 seeds, FA / TA / simple MIA, wrong labels (default) against the code's "
            "uniform labels: 10 % random forgetting 0.981 / 0.967 / 0.492 against 0.983 / 0.969 / 0.514; "
            "class 3 forgetting 0.350 / 0.894 / 0.835 against 0.888 / 0.959 / 0.688 (retrained: 0.000 / 0.873 "
            "/ 0.928)."
        ),
        paper_over_code=(WRONG_LABELS_NOTE,),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run RL on ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        random_label_training(model, ctx, p, self.name)
        model.eval()
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``random_label`` method."""
    return [RandomLabel]
