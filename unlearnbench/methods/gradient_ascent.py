"""``gradient_ascent`` (GA, NegGrad): maximise the cross-entropy of the original model on the forget set.

Starting from the original weights, run SGD on ``−CE(model(x_f), y_f)`` over the forget set for a few
epochs, i.e. climb the training loss of exactly the examples to be forgotten: the "negative gradient"
baseline of Golatkar et al. (CVPR 2020) and the gradient-ascent unlearner analysed by Thudi et al. (EuroS&P
2022), run as "GA" by the sparsity / saliency line (Jia et al., NeurIPS 2023; Fan et al., ICLR 2024).

Reference: OPTML-Group/Unlearn-Sparse@80ba55d, ``unlearn/GA.py`` 21-110 (identical in Unlearn-Saliency's
``Classification/unlearn/GA.py`` without a mask): model in train mode (BatchNorm statistics updated on
forget batches), one pass over the shuffled forget loader per epoch, loss ``−CE``, SGD lr 1e-4 for 5 epochs
(README), momentum 0.9, weight decay 5e-4, batch 256, a MultiStepLR at epochs 91 / 136 that never fires,
no warm-up, and the training transform (random crop + flip) on the forget loader. No clipping or early
stopping: too large a learning rate destroys the model, which the grid over ``lr`` exposes. Each epoch's
pass keeps its last partial forget batch, as the reference's DataLoader does.

Remaining difference (see ``fidelity``): batched augmentation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl

_ARGS = "arg_parser.py"
_IMPL = "unlearn/impl.py"


def negative_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``−CE(model(x), y)``: minimising it is gradient ascent on the cross-entropy."""
    return -nn.functional.cross_entropy(model(x), y)


class GradientAscent:
    """NegGrad: SGD on the negated cross-entropy of the forget set."""

    name: ClassVar[str] = "gradient_ascent"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("forget",)
    description: ClassVar[str] = (
        "Gradient ascent on the forget set, NegGrad (Thudi et al., EuroS&P 2022; Golatkar et al., CVPR 2020)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 5,
        "lr": 1e-4,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "nesterov": False,
        "batch_size": 256,
        "schedule": "constant",
        "optimizer": "sgd",
        "augment": True,
    }
    #: The embedded datasets have ~100 forget examples: one batch of 256 per epoch would take 5 steps in
    #: all, so smaller batches and more epochs give the ascent a comparable number of steps.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 16, "epochs": 10},
        "fake": {"batch_size": 16, "epochs": 10},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [1e-4, 5e-4, 1e-3]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Golatkar, Achille and Soatto, \"Eternal Sunshine of the Spotless Net\", CVPR 2020 (negative "
        "gradient); Thudi, Deza, Chandrasekaran and Papernot, \"Unrolling SGD\", EuroS&P 2022; the GA of Jia et "
        "al., \"Model Sparsity Can Simplify Machine Unlearning\", NeurIPS 2023",
        repository="OPTML-Group/Unlearn-Sparse",
        commit="80ba55d36d0871465c2d3e3896db26a98070e065",
        loop=(
            Source("unlearn/GA.py", "21-110", note="model.train(); for each forget batch: loss = −CE, "
                   "zero_grad, backward, SGD step"),
            Source(_IMPL, "59-124", note="iterative_unlearn: SGD(unlearn_lr, momentum, weight_decay), "
                   "MultiStepLR(decreasing_lr, 0.1), one GA call per epoch"),
            Source("Classification/unlearn/GA.py", "44-128", repository="OPTML-Group/Unlearn-Saliency",
                   commit="a6e89fd17ff737c24c6aa16c9574469a234ffd91", note="the same loop in SalUn's code "
                   "(its mask branch unused)"),
        ),
        defaults={
            "epochs": Source("README.MD", "74", 5, note="GA: --unlearn_epochs 5"),
            "lr": Source("README.MD", "74", 1e-4, note="GA: --unlearn_lr 0.0001"),
            "momentum": Source(_ARGS, "69", 0.9, note="--momentum"),
            "weight_decay": Source(_ARGS, "70", 5e-4, note="--weight_decay"),
            "nesterov": Source(_IMPL, "72-77", False, note="torch.optim.SGD without nesterov"),
            "batch_size": Source(_ARGS, "67", 256, note="--batch_size (the forget loader, main_forget.py 41-51)"),
            "schedule": Source(_IMPL, "97-100", "constant", note=f"MultiStepLR at --decreasing_lr 91,136 "
                               f"({_ARGS} 76), never reached in 5 epochs; --warmup 0 ({_ARGS} 74)"),
            "optimizer": Source(_IMPL, "72-77", "sgd", note="torch.optim.SGD"),
            "augment": Source("dataset.py", "542-555", True, note="the forget loader uses the training "
                              f"transform RandomCrop(32, 4) + RandomHorizontalFlip unless --no-aug ({_ARGS} 77-82)"),
        },
        differences=(
            Difference(
                what="Random crop + flip are batched tensor ops on uint8 images (zero padding) with the "
                "replicate's generator; the reference uses torchvision's per-image transforms.",
                why="The bench's data pipeline; the same distribution of crops and flips.",
                effect="not measured: the same augmentation up to the random draws.",
            ),
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run the ascent on ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        if len(ctx.forget) == 0:
            return model
        ctx.train(model, ctx.forget, ctx.recipe_from(p), loss_fn=negative_cross_entropy, description=self.name)
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``gradient_ascent`` method."""
    return [GradientAscent]
