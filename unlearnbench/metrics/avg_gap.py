"""Average gap to retraining of the SalUn line: mean |difference| over UA, RA, TA and MIA-efficacy.

Fan et al. (ICLR 2024, SalUn) and Jia et al. (NeurIPS 2023) summarise a method by the mean absolute gap
between its unlearning accuracy UA = 1 − FA, retain accuracy RA, test accuracy TA and MIA-efficacy and
those of the retrained model. Here the reference is the mean of each quantity over the R retrained models
and the gap is computed per replicate seed (the bench averages it over seeds). Values are fractions, so
the gap lies in [0, 1] (the papers print percentage points); 0 is perfect and lower is better.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics.accuracy import split_accuracies
from unlearnbench.metrics.mia_efficacy import MIAEfficacy, mia_efficacy_of

__all__ = ["GAP_QUANTITIES", "AvgGap", "average_gap", "gap_profile", "oracle_profile"]

#: The quantities compared with retraining, in the papers' column order.
GAP_QUANTITIES: tuple[str, ...] = ("UA", "RA", "TA", "MIA")


def gap_profile(ctx: EvalContext, outputs: ModelOutputs | None = None, seed: int = 0) -> dict[str, float]:
    """UA, RA, TA (from :func:`split_accuracies`) and MIA-efficacy of ``outputs`` (default: the model)."""
    chosen = ctx.outputs if outputs is None else outputs
    view = ctx if outputs is None else dataclasses.replace(ctx, outputs=chosen, replicates=[chosen])
    acc = split_accuracies(view)
    mia = mia_efficacy_of(chosen, ctx.labels, seed)
    return {"UA": acc["UA"], "RA": acc["RA"], "TA": acc["TA"], "MIA": mia}


def oracle_profile(ctx: EvalContext, oracles: Sequence[ModelOutputs], seed: int = 0) -> dict[str, float]:
    """Each quantity of :data:`GAP_QUANTITIES` averaged over the retrained models."""
    if not oracles:
        raise MetricNotApplicable("avg_gap needs at least one retrained model, got none")
    profiles = [gap_profile(ctx, oracle, seed) for oracle in oracles]
    return {q: float(np.mean([p[q] for p in profiles])) for q in GAP_QUANTITIES}


def average_gap(values: Mapping[str, float], reference: Mapping[str, float]) -> float:
    """Mean over :data:`GAP_QUANTITIES` of ``|values[q] − reference[q]|``."""
    missing = [q for q in GAP_QUANTITIES if q not in values or q not in reference]
    if missing:
        raise ValueError(f"average gap needs {', '.join(GAP_QUANTITIES)}; missing {', '.join(missing)}")
    return float(np.mean([abs(float(values[q]) - float(reference[q])) for q in GAP_QUANTITIES]))


class AvgGap:
    """Mean absolute gap to the retrained models over UA, RA, TA and MIA-efficacy (lower is better)."""

    name: ClassVar[str] = "avg_gap"
    description: ClassVar[str] = (
        "Mean absolute gap to retraining over UA, RA, TA and MIA-efficacy, as a fraction "
        "(Avg. Gap of SalUn, Fan et al. ICLR 2024)"
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    higher_is_better: ClassVar[bool | None] = False

    def compute(self, ctx: EvalContext) -> float:
        """Gap of this replicate's profile to the mean oracle profile (MIA with the fixed attack seed)."""
        seed = MIAEfficacy.attack_seed
        return average_gap(gap_profile(ctx, seed=seed), oracle_profile(ctx, ctx.oracle_outputs, seed))


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`AvgGap`."""
    return [AvgGap]
