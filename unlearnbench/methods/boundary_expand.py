"""``boundary_expand``: Boundary Expanding (Chen, Gao, Liu, Peng and Wang, "Boundary Unlearning: rapid
forgetting of deep networks via shifting the decision boundary", CVPR 2023).

Algorithm. Widen the classifier by one "shadow" output neuron (num_classes + 1 outputs; the old rows
copied, the new one freshly initialised), fine-tune the whole widened network on the forget set with
every example labelled as the shadow class, then prune the shadow neuron. Fine-tuning moves the forget
examples' features into the shadow class's region, away from their own class; once the neuron is gone
they fall into whatever neighbouring class is left, as for a model that never saw them. The returned
model has the original architecture and parameter shapes (num_classes outputs).

Defaults are the authors' code for CIFAR-10: SGD lr 1e-5 with momentum 0.9 and no weight decay,
10 epochs over the forget set in batches of 64; the shadow row gets Xavier-normal weights (fan-out
num_classes + 1) and a zero bias. The grid sweeps the learning rate (1e-5, 1e-3, 1e-2): 1e-5 assumes
the ≈ 800 steps of a 5,000-image CIFAR-10 class; small data such as the embedded digits needs larger
rates to move at all.

Class-wise only (``requires_class_forget = True``), as the paper: one shadow class absorbs one region
of the decision space, which is meaningful for the examples of whole classes.

Choices the paper and code leave open:

- The classifier is the model's final linear layer, the last of
  :func:`~unlearnbench.models.named_blocks` (``fc`` on every built-in architecture).
- The shadow row's initialisation draws from a generator seeded by the replicate seed.
- BatchNorm layers are in train mode while fine-tuning on forget-only batches (as in the code), so their
  running statistics move towards the forget set's.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl
from unlearnbench.models import named_blocks

# Generator offset of the shadow neuron's initialisation.
_SHADOW_INIT_OFFSET = 17


def classifier_of(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """``(parent, attribute, layer)`` of the model's final linear classifier (the last named block)."""
    name, block = named_blocks(model)[-1]
    if not isinstance(block, nn.Linear):
        raise ValueError(f"boundary_expand needs a final nn.Linear classifier; the last block {name!r} is "
                         f"{type(block).__name__}")  # fmt: skip
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attribute, block


def widen(layer: nn.Linear, generator: torch.Generator) -> nn.Linear:
    """A copy of ``layer`` with one extra output row: Xavier-normal weights, zero bias."""
    wide = nn.Linear(layer.in_features, layer.out_features + 1, bias=layer.bias is not None)
    wide = wide.to(device=layer.weight.device, dtype=layer.weight.dtype)
    std = math.sqrt(2.0 / (layer.in_features + layer.out_features + 1))
    with torch.no_grad():
        wide.weight[:-1].copy_(layer.weight)
        row = torch.randn(layer.in_features, generator=generator, dtype=layer.weight.dtype) * std
        wide.weight[-1].copy_(row.to(layer.weight.device))
        if layer.bias is not None and wide.bias is not None:
            wide.bias[:-1].copy_(layer.bias)
            wide.bias[-1].zero_()
    return wide


def prune(wide: nn.Linear) -> nn.Linear:
    """A copy of ``wide`` without its last output row (the shadow class)."""
    layer = nn.Linear(wide.in_features, wide.out_features - 1, bias=wide.bias is not None)
    layer = layer.to(device=wide.weight.device, dtype=wide.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(wide.weight[:-1])
        if wide.bias is not None and layer.bias is not None:
            layer.bias.copy_(wide.bias[:-1])
    return layer


class BoundaryExpand:
    """Train the forget set into an extra shadow class, then prune the shadow neuron."""

    name: ClassVar[str] = "boundary_expand"
    description: ClassVar[str] = (
        "Boundary Expanding: train forget examples into an extra shadow class, then prune its neuron "
        "(Chen et al., CVPR 2023)"
    )
    requires_class_forget: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-5,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "epochs": 10,
        "batch_size": 64,
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [1e-5, 1e-3, 1e-2]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Widen, fine-tune on the forget set labelled as the shadow class, prune; returns ``model``."""
        params = {**self.defaults, **ctx.params}
        if len(ctx.forget) == 0:
            return model
        parent, attribute, layer = classifier_of(model)
        shadow = layer.out_features
        setattr(parent, attribute, widen(layer, ctx.generator(_SHADOW_INIT_OFFSET)))
        try:
            ctx.train(
                model,
                ctx.forget.with_labels(torch.full_like(ctx.forget.y, shadow)),
                epochs=int(params["epochs"]),
                lr=float(params["lr"]),
                momentum=float(params["momentum"]),
                weight_decay=float(params["weight_decay"]),
                batch_size=int(params["batch_size"]),
                schedule="constant",
                augment=False,
                optimizer="sgd",
                nesterov=False,
            )
        finally:
            wide = getattr(parent, attribute)
            setattr(parent, attribute, prune(wide) if wide is not layer else layer)
        model.eval()
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``boundary_expand`` method."""
    return [BoundaryExpand]
