"""``cf_k``: catastrophic forgetting of the last k blocks (Goel et al., "Towards adversarial evaluations
for inexact machine unlearning", arXiv 2201.06640, 2022).

Algorithm: freeze every block of the original model except the last ``k`` (``named_blocks``: for ResNet
``stem, layer1 … layer4, fc``; for ``small_cnn`` ``features.0 … features.2, fc``) and fine-tune those on
the retain set with cross-entropy. What the frozen part learnt from the forget set stays; the hope is that
the last layers, where class evidence is read out, forget it catastrophically. EU-k (``eu_k``) is the
sibling that re-initialises the last k blocks first.

Defaults. Goel et al. fine-tune the last k layers for 30 epochs with SGD (momentum 0.9) on a cosine
schedule from lr 0.1 down, the same optimiser as their base training. They sweep the number of layers;
the default here is k = 3 blocks and the grid sweeps k = 1, 2, 3, the parameter that sets how much of
the network may change. On the embedded digits data 3 epochs keep the default run fast.

Choices the paper leaves open:

- "Layer" versus "block". Goel et al. count conv/linear layers; this bench counts the architecture's
  blocks (a ResNet stage is one block), so k means the same on every architecture
  :func:`~unlearnbench.models.named_blocks` knows.
- BatchNorm statistics of frozen blocks. The shared training loop puts the whole model in train mode, so
  frozen BN layers normalise with batch statistics while training (as in the reference code), but their
  running statistics are restored afterwards: a frozen block leaves the method exactly as it came. The
  reference code lets them drift on the retain set.
- No augmentation (fine-tuning for unlearning, like ``finetune``), no best-on-validation checkpoint: the
  model after the last epoch is returned.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl
from unlearnbench.models import named_blocks


def last_blocks(model: nn.Module, k: int) -> list[tuple[str, nn.Module]]:
    """The last ``k`` of ``named_blocks(model)``; ``ValueError`` unless 1 <= k <= number of blocks."""
    blocks = named_blocks(model)
    if not 1 <= k <= len(blocks):
        names = ", ".join(name for name, _ in blocks)
        raise ValueError(f"k must be between 1 and {len(blocks)} (the model's blocks: {names}), got {k}")
    return blocks[len(blocks) - k :]


def train_last_blocks(model: nn.Module, ctx: UnlearnContext, k: int, **recipe: Any) -> nn.Module:
    """Train only the last ``k`` blocks of ``model`` on ``ctx.retain`` with ``ctx.train``; the rest is frozen.

    Frozen parameters are excluded from the optimiser (``requires_grad=False``) and the buffers of frozen
    modules (BatchNorm running statistics) are restored after training, so nothing outside the last ``k``
    blocks changes. ``requires_grad`` flags are restored as well. ``recipe`` goes to ``ctx.train``.
    """
    trainable = {id(p) for _, block in last_blocks(model, k) for p in block.parameters()}
    trainable_buffers = {id(b) for _, block in last_blocks(model, k) for b in block.buffers()}
    frozen_buffers = [b for b in model.buffers() if id(b) not in trainable_buffers]
    saved = [b.detach().clone() for b in frozen_buffers]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p in model.parameters():
            p.requires_grad_(id(p) in trainable)
        ctx.train(model, ctx.retain, **recipe)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        with torch.no_grad():
            for buffer, value in zip(frozen_buffers, saved, strict=True):
                buffer.copy_(value)
    model.eval()
    return model


def recipe_from(params: dict[str, Any], augment: bool) -> dict[str, Any]:
    """The ``ctx.train`` overrides named by a CF-k / EU-k parameter dict."""
    return {
        "epochs": int(params["epochs"]),
        "lr": float(params["lr"]),
        "momentum": float(params["momentum"]),
        "weight_decay": float(params["weight_decay"]),
        "batch_size": int(params["batch_size"]),
        "schedule": "cosine",
        "augment": augment,
    }


class CFk:
    """CF-k: fine-tune only the last k blocks on the retain set, the rest frozen."""

    name: ClassVar[str] = "cf_k"
    description: ClassVar[str] = (
        "Catastrophic forgetting: fine-tune only the last k blocks on retain (Goel et al., arXiv 2022)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "k": 3,
        "epochs": 30,
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 128,
    }
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {"digits": {"epochs": 3}, "fake": {"epochs": 3}}
    grid: ClassVar[dict[str, list[Any]]] = {"k": [1, 2, 3]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Fine-tune the last ``k`` blocks of ``model`` on the retain set, in place."""
        params = {**self.defaults, **ctx.params}
        return train_last_blocks(model, ctx, int(params["k"]), **recipe_from(params, augment=False))


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``cf_k`` method."""
    return [CFk]
