"""A documented template for a local plugin: copy it to ``plugins/<your_name>.py`` to activate it.

Files in ``./plugins/`` of the directory you run ``unlearnbench`` in are imported as plugins (files whose
name starts with ``_`` are skipped, which is why this template is inert). A plugin may provide methods,
metrics, datasets, models and presets; every hook is documented in ``unlearnbench/hookspec.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unlearnbench import EvalContext, UnlearnContext, hookimpl


class NoisyFinetune:
    """Example method: perturb the weights with Gaussian noise, then repair on the retain set."""

    name = "noisy_finetune"
    description = "Example: Gaussian weight noise, then fine-tune on retain (template plugin)"
    defaults: dict[str, Any] = {"sigma": 0.01, "epochs": 1, "lr": 0.01}
    grid: dict[str, list[Any]] = {"sigma": [0.01, 0.1]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        generator = ctx.generator()
        with torch.no_grad():
            for param in model.parameters():
                noise = torch.randn(param.shape, generator=generator).to(param.device)
                param.add_(noise * float(ctx.params["sigma"]))
        ctx.train(
            model, ctx.retain, epochs=int(ctx.params["epochs"]), lr=float(ctx.params["lr"]), augment=False
        )
        return model


class ForgetLoss:
    """Example metric: mean cross-entropy on the forget set."""

    name = "forget_loss"
    description = "Example: mean cross-entropy on the forget set (template plugin)"
    higher_is_better = None  # the closer to the retrained model, the better

    def compute(self, ctx: EvalContext) -> float:
        return float(ctx.losses("forget").mean())


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    return [NoisyFinetune]


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    return [ForgetLoss]
