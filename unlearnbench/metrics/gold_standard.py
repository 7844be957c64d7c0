"""The gold standard: the starting kit's simple MIA computed on the retrained (oracle) models.

It is the reference value for ``simple_mia``: an unlearned model should score what a model that never
saw the forget set scores. With R oracles it is the mean of their R scores; it is the same for every row
of a run, so it is a population metric.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics.simple_mia import simple_mia

__all__ = ["GoldStandard", "gold_standard"]


def gold_standard(ctx: EvalContext, seed: int = 0) -> float:
    """Mean over ``ctx.oracle_outputs`` of simple_mia(oracle forget losses, oracle test losses)."""
    if not ctx.oracle_outputs:
        raise ValueError("gold_standard needs at least one retrained model, got none")
    scores = [
        simple_mia(ctx.losses("forget", oracle), ctx.losses("test", oracle), seed=seed)
        for oracle in ctx.oracle_outputs
    ]
    return float(np.mean(scores))


class GoldStandard:
    """simple_mia on the retrained model(s), averaged over the oracles: the target for ``simple_mia``."""

    name: ClassVar[str] = "gold_standard"
    description: ClassVar[str] = (
        "simple_mia of the retrained models, the reference for simple_mia "
        "(NeurIPS 2023 Unlearning Challenge starting kit)"
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"oracle_outputs"})
    higher_is_better: ClassVar[bool | None] = None

    def compute(self, ctx: EvalContext) -> float:
        """The mean oracle simple_mia, with the same fixed attack seed as ``simple_mia``."""
        return gold_standard(ctx, seed=0)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`GoldStandard`."""
    return [GoldStandard]
