"""Offline LiRA: the likelihood-ratio membership attack with retrained models as OUT shadows.

Carlini et al. (IEEE S&P 2022, "Membership inference attacks from first principles") score an example by
how its logit-scaled true-class confidence φ = log(p_y / (1 − p_y)) on the target model compares with the
same statistic on shadow models. The offline variant only has OUT shadows (models that never saw the
example) and scores Λ = Φ((φ − μ_out) / σ_out), the one-sided probability that an OUT model is less
confident; a high Λ means "member".

For unlearning the R retrained oracles are exactly OUT shadows for every forget and test example (trained
without either), and they are already cached. Per example μ_out is the mean of the oracles' φ; σ_out is the
*global* standard deviation (the mean over examples of the per-example variances, ddof = 1), the variant
Carlini et al. recommend when shadows are few (the bench has R = 2 … 16, where per-example variances are
unreliable). Examples are ranked by z = (φ − μ_out)/σ_out, which orders them exactly as Λ does without
Λ saturating to 1. Positives are the forget examples (members, then unlearned), negatives the test examples
(never members); the scores of all S replicates are pooled. Columns: ROC ``auc``, ``tpr@1%`` and
``tpr@0.1%`` (exact step ROC, see :mod:`~unlearnbench.metrics.loss_mia_auc`), not ranked, and ``gap`` =
|AUC − 0.5|, lower is better: perfect unlearning leaves the attack at chance (AUC 0.5), the original
model's forget examples stand out (AUC > 0.5). The interval of every column is a percentile bootstrap over
forget and test examples (stratified; each example keeps its S replicate scores).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, Resampling
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics.forgetting_quality import logit_scaled_confidence
from unlearnbench.metrics.loss_mia_auc import FPR_LEVELS, roc_auc, tpr_at_fpr

__all__ = ["LiRA", "lira_scores", "lira_summary"]

#: Smallest σ_out used, so that oracles that agree exactly do not divide by zero.
MIN_SIGMA = 1e-6


def lira_scores(target_phi: np.ndarray, oracle_phi: np.ndarray) -> np.ndarray:
    """z = (φ − μ_out) / σ_out per example: ``target_phi`` [n] or [S, n], ``oracle_phi`` [R ≥ 2, n]."""
    oracle = np.asarray(oracle_phi, dtype=np.float64)
    if oracle.ndim != 2 or oracle.shape[0] < 2:
        raise MetricNotApplicable(f"LiRA needs at least 2 retrained models as OUT shadows, got {oracle.shape[0]}")
    target = np.asarray(target_phi, dtype=np.float64)
    if target.shape[-1] != oracle.shape[1]:
        raise ValueError(f"target scores {target.shape} and oracle scores {oracle.shape} differ in examples")
    mu = oracle.mean(axis=0)
    sigma = max(math.sqrt(float(np.mean(oracle.var(axis=0, ddof=1)))), MIN_SIGMA)
    result: np.ndarray = (target - mu) / sigma
    return result


def lira_summary(forget_scores: np.ndarray, test_scores: np.ndarray) -> dict[str, float]:
    """AUC, TPR at 1 % / 0.1 % FPR and |AUC − 0.5| of forget (positive) vs test (negative) scores.

    Rows are examples; any further axis (replicates) is pooled.
    """
    pos = np.asarray(forget_scores, dtype=np.float64).reshape(-1)
    neg = np.asarray(test_scores, dtype=np.float64).reshape(-1)
    auc = roc_auc(pos, neg)
    out = {"auc": auc, "gap": abs(auc - 0.5)}
    for suffix, rate in FPR_LEVELS:
        out[f"tpr@{suffix}"] = tpr_at_fpr(pos, neg, rate)
    return out


def _per_example_scores(ctx: EvalContext) -> tuple[np.ndarray, np.ndarray]:
    """z-scores of every replicate, shaped [examples, S], for forget and for test."""
    out = []
    for split in ("forget", "test"):
        labels = ctx.labels[split]
        if labels.size == 0:
            raise ValueError(f"LiRA needs a non-empty {split} split")
        oracle = np.stack([logit_scaled_confidence(o[split], labels) for o in ctx.oracle_outputs])
        target = np.stack([logit_scaled_confidence(r[split], labels) for r in ctx.replicates])
        out.append(lira_scores(target, oracle).T)
    return out[0], out[1]


class LiRA:
    """Offline LiRA (retrained models as OUT shadows) on forget vs test: AUC, TPR at low FPR, |AUC − 0.5|."""

    name: ClassVar[str] = "lira"
    description: ClassVar[str] = (
        "Offline LiRA membership attack with the retrained models as OUT shadows, forget vs test: ROC AUC, "
        'TPR at 1 % / 0.1 % FPR (Carlini et al. S&P 2022, "Membership inference attacks from first principles")'
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    columns: ClassVar[tuple[str, ...]] = ("auc", "tpr@1%", "tpr@0.1%", "gap")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"auc": None, "tpr@1%": None, "tpr@0.1%": None, "gap": False}

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """The attack's summary over all replicates."""
        return lira_summary(*_per_example_scores(ctx))

    def resampling(self, ctx: EvalContext) -> Resampling:
        """Forget and test examples are resampled separately, each with its S replicate scores."""
        return Resampling(_per_example_scores(ctx), lira_summary)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`LiRA`."""
    return [LiRA]
