"""Average gap to retraining of the SalUn line: mean |difference| over UA, RA, TA and MIA-efficacy.

Fan et al. (ICLR 2024, SalUn) and Jia et al. (NeurIPS 2023) summarise a method by the mean absolute gap
between its unlearning accuracy UA = 1 − FA, retain accuracy RA, test accuracy TA and MIA-efficacy and
those of the retrained model. As in SalUn's tables, each quantity is first averaged over the runs (here:
over the S replicate seeds of the method, and over the R retrained models for the reference) and the gap is
taken between those means, so the value is one number per item (a population metric), not a mean of
per-seed gaps. Values are fractions, so the gap lies in [0, 1] (the papers print percentage points); 0 is
perfect and lower is better.

Reference: no code; SalUn's paper, Table 3 ("Avg. Gap"). Its gaps are between the means over 10 trials,
e.g. FT on CIFAR-10, 10 % random forgetting: (4.61 + 0.12 + 0.20 + 10.19) / 4 = 3.78.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics.accuracy import split_accuracies
from unlearnbench.metrics.mia_efficacy import mia_efficacy_of

__all__ = ["GAP_QUANTITIES", "AvgGap", "average_gap", "gap_profile", "mean_profile", "oracle_profile"]

#: The quantities compared with retraining, in the papers' column order.
GAP_QUANTITIES: tuple[str, ...] = ("UA", "RA", "TA", "MIA")


def gap_profile(ctx: EvalContext, outputs: ModelOutputs | None = None) -> dict[str, float]:
    """UA, RA, TA (from :func:`split_accuracies`) and MIA-efficacy of ``outputs`` (default: ``ctx.outputs``)."""
    chosen = ctx.outputs if outputs is None else outputs
    view = ctx if outputs is None else dataclasses.replace(ctx, outputs=chosen, replicates=[chosen])
    acc = split_accuracies(view)
    mia = mia_efficacy_of(chosen, ctx.labels)
    return {"UA": acc["UA"], "RA": acc["RA"], "TA": acc["TA"], "MIA": mia}


def mean_profile(ctx: EvalContext, models: Sequence[ModelOutputs], what: str = "models") -> dict[str, float]:
    """Each quantity of :data:`GAP_QUANTITIES` averaged over ``models``."""
    if not models:
        raise MetricNotApplicable(f"avg_gap needs at least one of the {what}, got none")
    profiles = [gap_profile(ctx, model) for model in models]
    return {q: float(np.mean([p[q] for p in profiles])) for q in GAP_QUANTITIES}


def oracle_profile(ctx: EvalContext, oracles: Sequence[ModelOutputs]) -> dict[str, float]:
    """Each quantity of :data:`GAP_QUANTITIES` averaged over the retrained models."""
    return mean_profile(ctx, oracles, "retrained models")


def average_gap(values: Mapping[str, float], reference: Mapping[str, float]) -> float:
    """Mean over :data:`GAP_QUANTITIES` of ``|values[q] − reference[q]|``."""
    missing = [q for q in GAP_QUANTITIES if q not in values or q not in reference]
    if missing:
        raise ValueError(f"average gap needs {', '.join(GAP_QUANTITIES)}; missing {', '.join(missing)}")
    return float(np.mean([abs(float(values[q]) - float(reference[q])) for q in GAP_QUANTITIES]))


class AvgGap:
    """Mean absolute gap between the seed-mean profile and the retrained models' mean profile (lower is better)."""

    name: ClassVar[str] = "avg_gap"
    description: ClassVar[str] = (
        "Mean absolute gap to retraining over UA, RA, TA and MIA-efficacy, each averaged over seeds first, as "
        "a fraction (Avg. Gap of SalUn, Fan et al. ICLR 2024)"
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    higher_is_better: ClassVar[bool | None] = False

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper=(
            "Fan et al., SalUn: Empowering machine unlearning via gradient-based weight saliency, ICLR 2024, "
            "Table 3 ('Avg. Gap')"
        ),
        repository=None,
        commit=None,
        loop=(
            Source(
                "paper", "Table 3 and its caption",
                note="'Avg. Gap' = the average of the gaps to Retrain in UA, RA, TA and MIA-Efficacy; every "
                "entry is the mean over 10 trials and the gaps in parentheses are between those means, e.g. "
                "FT: (4.61 + 0.12 + 0.20 + 10.19) / 4 = 3.78. The released code "
                "(OPTML-Group/Unlearn-Saliency@a6e89fd1) only prints the four quantities",
            ),
            Source(
                "Classification/README.md", "37", repository="OPTML-Group/Unlearn-Saliency",
                commit="a6e89fd17ff737c24c6aa16c9574469a234ffd91",
                note="UA = 100 - forget accuracy; MIA = 100 x SVC_MIA_forget_efficacy['confidence'] "
                "(the bench's mia_efficacy)",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="The retrained reference is the mean over the R oracles of the run (the paper: Retrain's "
                "mean over its 10 trials); the method's side is the mean over the S replicate seeds.",
                why="The bench's pool of retrained models plays the role of the paper's Retrain trials.",
                effect="none on the definition; the number of runs averaged differs (S and R here, 10 there)",
            ),
            Difference(
                what="Fractions instead of percentage points.",
                why="Every bench metric is a fraction.",
                effect="a factor of 100",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> float:
        """Gap between the mean profile of the S replicates and the mean profile of the R oracles."""
        return average_gap(mean_profile(ctx, ctx.replicates, "replicates"), oracle_profile(ctx, ctx.oracle_outputs))


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`AvgGap`."""
    return [AvgGap]
