"""``retrain``: the exact oracle, a model trained from scratch on the retain set only.

The replicate for seed ``s`` is a retrained model with training seed ``R + s`` (trained, or loaded from the
cache, with the same recipe as the original model), disjoint from the R models of the reference pool, so
population metrics compare independent retrained models. Its runtime is charged as that model's training
time, so the ``runtime`` ratio of this row is about 1.
"""

from __future__ import annotations

from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl


class Retrain:
    """Retraining from scratch on the retain set: the gold standard every method is judged against."""

    name = "retrain"
    description = "Reference: retrain from scratch on the retain set, the exact unlearning oracle"
    defaults: dict[str, object] = {}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        return ctx.oracle_model()


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    return [Retrain]
