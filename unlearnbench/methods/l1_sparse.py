"""``l1_sparse``: fine-tune on the retain set with a decaying ℓ1 penalty on the weights.

Algorithm (Jia et al., NeurIPS 2023, "Model Sparsity Can Simplify Machine Unlearning", "sparsity-aware
unlearning"): minimise ``CE(model(x_r), y_r) + γ_t · ‖θ‖₁`` over the retain set, where the ℓ1 norm of all
parameters pushes the model towards a sparse solution while it is fine-tuned, and the coefficient γ_t
decays linearly over the epochs (the paper finds a decaying coefficient better than a constant or a
growing one: strong sparsification first, then recovery of accuracy). Defaults (CIFAR-10, ResNet-18):
γ 1e-4, SGD lr 0.01 (momentum 0.9, weight decay 5e-4), 10 epochs, batch 256, constant learning rate.

Choices, and where they come from:

- Decay: γ is held constant within an epoch and set to ``γ · (1 − e / E)`` in epoch ``e = 0 … E−1``, as in
  the released code (``no_l1_epochs = 0``): from γ down to γ/E, never exactly zero.
- The norm covers every parameter (weights, biases, BatchNorm affine parameters), as in the released
  code; frozen parameters (``requires_grad = False``) are left out since they cannot move.
- BatchNorm in train mode, constant learning rate, no augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl


def l1_norm(model: nn.Module) -> torch.Tensor:
    """The ℓ1 norm of all trainable parameters of ``model`` (a differentiable scalar)."""
    terms = [p.abs().sum() for p in model.parameters() if p.requires_grad]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def decayed_coefficient(alpha: float, epoch: int, epochs: int) -> float:
    """``α · (1 − epoch / epochs)``: the ℓ1 coefficient of epoch ``epoch`` (0-based) of ``epochs``."""
    if epochs <= 0:
        return alpha
    return alpha * (1.0 - epoch / epochs)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps per epoch of the bench's loop (full batches only when there is more than one)."""
    return n // batch_size if n > batch_size else 1


def sparse_loss(
    alpha: float, epochs: int, per_epoch: int
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy plus the decaying ℓ1 penalty; the epoch is derived from the number of calls."""
    calls = 0

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        coefficient = decayed_coefficient(alpha, calls // per_epoch, epochs)
        calls += 1
        ce = nn.functional.cross_entropy(model(x), y)
        if coefficient == 0.0:
            return ce
        return ce + coefficient * l1_norm(model)

    return loss


class L1Sparse:
    """Sparsity-aware unlearning: retain fine-tuning with a linearly decaying ℓ1 penalty."""

    name: ClassVar[str] = "l1_sparse"
    description: ClassVar[str] = (
        "Fine-tune on the retain set with a decaying l1 weight penalty (Jia et al., NeurIPS 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 1e-4,
        "epochs": 10,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 256,
    }
    #: Three epochs at batch 128 (~24 steps) keep the default digits run fast. (At these γ the penalty
    #: moves a weight by γ · lr ≈ 1e-6 per step, so on so short a run it cannot differ from fine-tuning.)
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 128, "epochs": 3},
        "fake": {"batch_size": 128, "epochs": 3},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"alpha": [5e-5, 1e-4, 5e-4]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Fine-tune ``model`` in place with the ℓ1 penalty and return it."""
        p = {**self.defaults, **ctx.params}
        if len(ctx.retain) == 0:
            raise ValueError("l1_sparse needs a non-empty retain set")
        epochs = int(p["epochs"])
        batch_size = int(p["batch_size"])
        loss = sparse_loss(float(p["alpha"]), epochs, steps_per_epoch(len(ctx.retain), batch_size))
        ctx.train(
            model,
            ctx.retain,
            loss_fn=loss,
            description=self.name,
            epochs=epochs,
            lr=float(p["lr"]),
            momentum=float(p["momentum"]),
            weight_decay=float(p["weight_decay"]),
            batch_size=batch_size,
            schedule="constant",
            augment=False,
            optimizer="sgd",
            nesterov=False,
        )
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``l1_sparse`` method."""
    return [L1Sparse]
