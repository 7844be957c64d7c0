"""``gradient_ascent`` (NegGrad): maximise the cross-entropy of the original model on the forget set.

Algorithm: starting from the original weights, run SGD on ``−CE(model(x_f), y_f)`` over the forget set for a
few epochs, i.e. climb the training loss of exactly the examples to be forgotten. It appears as the
"negative gradient" baseline of Golatkar et al. (CVPR 2020, "Eternal Sunshine of the Spotless Net") and as
the gradient-ascent unlearner analysed by Thudi et al. (EuroS&P 2022, "Unrolling SGD"); the defaults below
are those of the sparsity / saliency line (Jia et al., NeurIPS 2023; Fan et al., ICLR 2024) on CIFAR-10 with
ResNet-18: SGD (momentum 0.9, weight decay 5e-4), lr 1e-4, 5 epochs, batch 256, constant learning rate.

Choices the papers leave open, and what is done here:

- Schedule: constant learning rate (the released code's multi-step schedule has milestones far beyond
  5 epochs, so it never decays).
- BatchNorm: train mode, as in the released code, so running statistics are updated on forget batches.
- No clipping or early stopping: the ascent is unbounded, as in the papers; too large a learning rate
  destroys the model, which is what the grid over ``lr`` exposes.
- No augmentation during unlearning (the bench's rule for every method).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl


def negative_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``−CE(model(x), y)``: minimising it is gradient ascent on the cross-entropy."""
    return -nn.functional.cross_entropy(model(x), y)


class GradientAscent:
    """NegGrad: SGD on the negated cross-entropy of the forget set."""

    name: ClassVar[str] = "gradient_ascent"
    description: ClassVar[str] = (
        "Gradient ascent on the forget set, NegGrad (Thudi et al., EuroS&P 2022; Golatkar et al., CVPR 2020)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 5,
        "lr": 1e-4,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 256,
    }
    #: The embedded datasets have ~100 forget examples: one batch of 256 per epoch would take 5 steps in
    #: all, so smaller batches and more epochs give the ascent a comparable number of steps.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 16, "epochs": 10},
        "fake": {"batch_size": 16, "epochs": 10},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [1e-4, 5e-4, 1e-3]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run the ascent on ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        if len(ctx.forget) == 0:
            return model
        ctx.train(
            model,
            ctx.forget,
            loss_fn=negative_cross_entropy,
            description=self.name,
            epochs=int(p["epochs"]),
            lr=float(p["lr"]),
            momentum=float(p["momentum"]),
            weight_decay=float(p["weight_decay"]),
            batch_size=int(p["batch_size"]),
            schedule="constant",
            augment=False,
            optimizer="sgd",
            nesterov=False,
        )
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``gradient_ascent`` method."""
    return [GradientAscent]
