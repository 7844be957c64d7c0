"""``finetune``: fine-tune the original on the retain set only (catastrophic forgetting).

Algorithm 1 of the seed protocol and the NeurIPS 2023 challenge baseline (Warnecke et al. 2023):
cross-entropy on the retain set, SGD (momentum 0.9, weight decay 5e-4), cosine annealing stepped per
epoch, batch 128, no augmentation. Defaults are the challenge kit's (5 epochs, lr 0.1); the grid is the
CS354 report's sweep.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl


class Finetune:
    """Fine-tuning on the retain set with the bench's training loop."""

    name = "finetune"
    description = (
        "Fine-tune on the retain set (Warnecke et al., NDSS 2023; NeurIPS 2023 unlearning challenge baseline)"
    )
    defaults: dict[str, Any] = {"epochs": 5, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128}
    grid: list[dict[str, Any]] = [
        {"epochs": 5, "lr": 0.1},
        {"epochs": 5, "lr": 0.01},
        {"epochs": 5, "lr": 0.001},
        {"epochs": 15, "lr": 0.1},
        {"epochs": 25, "lr": 0.1},
    ]

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        p = ctx.params
        ctx.train(
            model,
            ctx.retain,
            epochs=int(p["epochs"]),
            lr=float(p["lr"]),
            momentum=float(p["momentum"]),
            weight_decay=float(p["weight_decay"]),
            batch_size=int(p["batch_size"]),
            schedule="cosine",
            augment=False,
        )
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    return [Finetune]
