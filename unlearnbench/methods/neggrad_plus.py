"""``neggrad_plus`` (NegGrad+): descend on the retain set and ascend on the forget set in the same step.

Algorithm (Kurmanji et al., NeurIPS 2023, "Towards Unbounded Machine Unlearning", the SCRUB paper): every
step draws a retain batch and a forget batch and minimises

    α · CE(model(x_r), y_r) − (1 − α) · CE(model(x_f), y_f)

with SGD, iterating over the retain set for ``epochs`` passes while the forget set is cycled. α close to 1
keeps the model's utility; the small weight on the ascent term is what forgets. Defaults (CIFAR-10,
ResNet-18): α 0.999, SGD lr 0.01 (momentum 0.9, weight decay 5e-4), 5 epochs, batch 128.

Choices the paper leaves open, and what is done here:

- Pairing: one forget batch of the same size as the retain batch per step, drawn from an endlessly
  reshuffled stream of the forget set (the bench's ``aux`` stream); the reference code zips the retain
  loader with a cycled forget loader in the same way.
- Two forward passes per step (retain, then forget), as in the reference code, so BatchNorm batch
  statistics are never mixed across the two sets.
- Regularisation: plain SGD weight decay. The reference code instead adds ``α · wd/2 · ‖w − w₀‖²`` (an ℓ2
  pull towards the original weights) with SGD's own decay off; over a few epochs at lr 0.01 both shift the
  weights by well under 1 %.
- BatchNorm: train mode (the bench's training loop); the reference notebooks keep the whole model in eval
  mode during every fine-tuning baseline.
- Constant learning rate; no augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl


def neggrad_plus_loss(alpha: float) -> Callable[..., torch.Tensor]:
    """``loss_fn(model, x_r, y_r, x_f, y_f) = α·CE(retain) − (1−α)·CE(forget)`` for the bench's loop."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"neggrad_plus: alpha must be in [0, 1], got {alpha!r}")

    def loss(
        model: nn.Module, xr: torch.Tensor, yr: torch.Tensor, xf: torch.Tensor, yf: torch.Tensor
    ) -> torch.Tensor:
        retain = nn.functional.cross_entropy(model(xr), yr)
        forget = nn.functional.cross_entropy(model(xf), yf)
        return alpha * retain - (1.0 - alpha) * forget

    return loss


class NegGradPlus:
    """NegGrad+: a weighted sum of retain descent and forget ascent, one SGD step at a time."""

    name: ClassVar[str] = "neggrad_plus"
    description: ClassVar[str] = (
        "NegGrad+: α·CE(retain) − (1−α)·CE(forget) in every step (Kurmanji et al., NeurIPS 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 0.999,
        "epochs": 5,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 128,
    }
    #: Two epochs at batch 64 (~34 steps) keep the default digits run fast.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 64, "epochs": 2},
        "fake": {"batch_size": 64, "epochs": 2},
    }
    #: The reference notebooks use α 0.95 (small-scale), 0.999 and 0.9999 (CIFAR-10).
    grid: ClassVar[dict[str, list[Any]]] = {"alpha": [0.95, 0.99, 0.999]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run NegGrad+ on ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        alpha = float(p["alpha"])
        loss = neggrad_plus_loss(alpha)
        if len(ctx.retain) == 0:
            raise ValueError("neggrad_plus needs a non-empty retain set")
        common: dict[str, Any] = {
            "epochs": int(p["epochs"]),
            "lr": float(p["lr"]),
            "momentum": float(p["momentum"]),
            "weight_decay": float(p["weight_decay"]),
            "batch_size": int(p["batch_size"]),
            "schedule": "constant",
            "augment": False,
            "optimizer": "sgd",
            "nesterov": False,
        }
        if len(ctx.forget) == 0:
            # Nothing to ascend on: the objective reduces to α-scaled fine-tuning on the retain set.
            ctx.train(model, ctx.retain, loss_fn=lambda m, x, y: alpha * nn.functional.cross_entropy(m(x), y),
                      description=self.name, **common)  # fmt: skip
            return model
        ctx.train(model, ctx.retain, loss_fn=loss, aux=ctx.forget, description=self.name, **common)
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``neggrad_plus`` method."""
    return [NegGradPlus]
