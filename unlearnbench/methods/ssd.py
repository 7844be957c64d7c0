"""``ssd``: Selective Synaptic Dampening (Foster, Schoepf and Brintrup, AAAI 2024).

"Fast machine unlearning without retraining through selective synaptic dampening". A retraining-free,
one-shot edit of the weights:

1. Importance of every parameter on the forget set, ``I_f``, and on the full training data, ``I_D``:
   the diagonal of the Fisher information, estimated as the mean over minibatches of the squared
   minibatch gradient of the cross-entropy (as the reference code does).
2. Selection: a parameter is dampened where ``I_f > α · I_D`` (it matters far more for the forget set).
3. Dampening: ``θ ← β · θ`` with ``β = min(λ · I_D / I_f, 1)`` (never amplified).

Nothing is trained, so the retain accuracy can only suffer where a selected parameter also served it.

Defaults are the paper's for ResNet-18 (α = 10 "selection weighting", λ = 1 "dampening constant"); the
paper used the same values for full-class, sub-class and random forgetting on CIFAR. The grid sweeps α,
the parameter that decides how much is selected, downwards from the default: when the forget set is a
fraction ``q`` of the data, its own minibatches alone give ``I_D ≳ q · I_f``, so ``I_f > α · I_D`` can
hardly hold once ``α ≥ 1 / q``. The paper's settings forget 0.2 %–5 % of the data, where α = 10 selects;
at the bench's default 10 % it selects almost nothing, and α = 3 or 5 is where SSD acts.

Choices the paper leaves open, as the reference code makes them:

- The "full training data" ``D`` is ``retain ∪ forget`` (the bench's training set), visited in the order
  retain then forget, unshuffled.
- Both importances use minibatches of ``batch_size`` (128, the reference's loaders) of non-augmented
  data with the model in eval mode (BatchNorm uses its running statistics), so they share one scale:
  squared minibatch gradients shrink with the batch size, and comparing two sets only makes sense at the
  same batch size.
- Every trainable parameter is considered, BatchNorm affine parameters and biases included (the
  reference loops over ``named_parameters``); parameters where both importances are 0 are untouched.
- ``exponent`` (1) raises ``λ · I_D / I_f`` to a power before the bound, a knob of the reference code
  that the paper fixes at 1.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl
from unlearnbench.importance import concatenate, squared_batch_gradients, trainable


def dampening_factors(
    forget_importance: torch.Tensor,
    full_importance: torch.Tensor,
    alpha: float,
    lam: float,
    exponent: float = 1.0,
) -> torch.Tensor:
    """SSD's factor per parameter: ``min((λ·I_D/I_f)^exponent, 1)`` where ``I_f > α·I_D``, else 1."""
    selected = forget_importance > alpha * full_importance
    # Where I_f = 0 the parameter is never selected; the clamp only avoids a 0/0 that `where` would discard.
    ratio = (
        lam * full_importance / forget_importance.clamp_min(torch.finfo(forget_importance.dtype).tiny)
    ).pow(exponent)
    return torch.where(selected, ratio.clamp(max=1.0), torch.ones_like(ratio))


class SSD:
    """Selective Synaptic Dampening: shrink weights far more important to the forget set than to the data."""

    name: ClassVar[str] = "ssd"
    description: ClassVar[str] = (
        "Selective synaptic dampening of weights whose Fisher importance is far higher on the forget set "
        "(Foster et al., AAAI 2024)"
    )
    defaults: ClassVar[dict[str, Any]] = {"alpha": 10.0, "lam": 1.0, "exponent": 1.0, "batch_size": 128}
    grid: ClassVar[dict[str, list[Any]]] = {"alpha": [3.0, 5.0, 10.0]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Dampen ``model``'s selected parameters in place and return it."""
        p = ctx.params
        alpha, lam = float(p["alpha"]), float(p["lam"])
        batch_size = int(p["batch_size"])
        if alpha < 0 or lam < 0 or batch_size < 1:
            raise ValueError(
                f"ssd: alpha and lam must be >= 0 and batch_size >= 1, got {alpha}, {lam}, {batch_size}"
            )
        model.to(ctx.device)
        if len(ctx.forget) == 0:
            model.eval()
            return model
        forget_importance = squared_batch_gradients(model, ctx.forget, batch_size)
        full_importance = squared_batch_gradients(model, concatenate(ctx.retain, ctx.forget), batch_size)
        with torch.no_grad():
            for name, param in trainable(model).items():
                param.mul_(
                    dampening_factors(
                        forget_importance[name], full_importance[name], alpha, lam, float(p["exponent"])
                    )
                )
        model.eval()
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``ssd`` method."""
    return [SSD]
