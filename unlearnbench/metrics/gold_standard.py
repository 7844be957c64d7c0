"""The gold standard: the starting kit's simple MIA computed on the retrained (oracle) models.

It is the reference value for ``simple_mia``: an unlearned model should score what a model that never
saw the forget set scores. With R oracles it is the mean of their R scores; it is the same for every row
of a run, so it is a population metric.

Reference code: unlearning-challenge/starting-kit@901e784c4243, ``unlearning-CIFAR10.ipynb`` cells 28-31
(one retrained model). Differs: the mean over R retrained models, and ``simple_mia``'s seeded balancing.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext
from unlearnbench.fidelity import Difference, Fidelity, Source
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
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="NeurIPS 2023 Machine Unlearning Challenge starting kit (Triantafillou et al. 2023): the simple MIA "
        "of the retrained model, the 'gold standard'",
        repository="unlearning-challenge/starting-kit",
        commit="901e784c4243eee541a5748a075d132c1724f5ed",
        loop=(
            Source(
                "unlearning-CIFAR10.ipynb", "cells 28-31",
                note="one model retrained on the retain set; simple_mia (cell 19) of its forget vs test losses",
            ),
            Source("unlearning-CIFAR10.ipynb", "cell 27", note="the retrained model's score is the gold standard"),
        ),
        defaults={},
        differences=(
            Difference(
                what="The mean of simple_mia over the R retrained models; the kit has one retrained model.",
                why="The bench trains R oracles; their mean removes one model's noise (R = 1 gives the kit's value).",
                effect="Digits (R = 6): 0.4868 mean; oracle 0 alone 0.5000 (the six range 0.4625-0.5125).",
            ),
            Difference(
                what="simple_mia's seeded balancing of the larger side (see simple_mia); the kit's cells 30-31 use "
                "the two sides as they are (equal sizes on CIFAR-10).",
                why="As for simple_mia.",
                effect="As for simple_mia: on digits (120 forget, 300 test) the unbalanced input would score the "
                "majority-class rate, 0.714.",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> float:
        """The mean oracle simple_mia, with the same fixed attack seed as ``simple_mia``."""
        return gold_standard(ctx, seed=0)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`GoldStandard`."""
    return [GoldStandard]
