"""Loss-threshold membership inference reported the honest way: ROC AUC and TPR at low FPR.

Carlini et al. (IEEE S&P 2022, "Membership inference attacks from first principles") argue that an
attack's average accuracy hides what matters, whether it identifies *some* members with confidence, and
ask for the full ROC curve and its true-positive rate at 1 % and 0.1 % false-positive rate. This metric
applies that protocol to the simplest attack, a threshold on the per-example cross-entropy loss (low loss
→ member): forget examples are the positives, test examples the negatives. The same numbers for retain vs
test (``*_retain``) are the "not forgotten" ceiling: how visible training examples are at all.

TPR at FPR x is the largest TPR over all thresholds whose FPR is at most x, read from the exact step
ROC curve without interpolation (Carlini et al.'s code takes FPR strictly below x; with n negatives the two
differ only when x·n is a whole number). The AUC counts tied scores as half, as ``roc_auc_score`` does.
No column is ranked: the target is the retrained model's value (an AUC near 0.5 on forget), and an AUC
well below it is a leak too.

Reference code: tensorflow/privacy@03035d5d4a27 ``research/mi_lira_2021/plot.py`` (``generate_global``, the
global-threshold baseline, and ``sweep``/``do_plot`` for the ROC and TPR at 0.1 % FPR). Differs: the
statistic is the loss, not the logit-scaled confidence (the same order of examples), and FPR ≤ the level
instead of < (see ``LossMIAAUC.fidelity``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl

__all__ = ["FPR_LEVELS", "LossMIAAUC", "loss_attack", "roc_auc", "roc_points", "tpr_at_fpr"]

#: The low false-positive rates reported, as (column suffix, rate).
FPR_LEVELS: tuple[tuple[str, float], ...] = (("1%", 0.01), ("0.1%", 0.001))


def _scores(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} scores must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what} scores are empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} scores contain non-finite values")
    return arr


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + ½ P(equal): the area under the exact ROC curve."""
    pos = _scores(positive, "positive")
    neg = np.sort(_scores(negative, "negative"))
    below = np.searchsorted(neg, pos, side="left")
    not_above = np.searchsorted(neg, pos, side="right")
    # Integer counts summed exactly, so the only rounding is the final division.
    wins = 2 * int(np.sum(below, dtype=np.int64)) + int(np.sum(not_above - below, dtype=np.int64))
    return wins / (2.0 * pos.size * neg.size)


def roc_points(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) of "score ≥ t" for t = +inf and every distinct score, descending: the step ROC curve.

    It starts at (0, 0) and ends at (1, 1); the points equal those of ``sklearn.metrics.roc_curve(...,
    drop_intermediate=False)``.
    """
    pos = np.sort(_scores(positive, "positive"))
    neg = np.sort(_scores(negative, "negative"))
    thresholds = np.unique(np.concatenate((pos, neg)))[::-1]
    tpr = (pos.size - np.searchsorted(pos, thresholds, side="left")) / pos.size
    fpr = (neg.size - np.searchsorted(neg, thresholds, side="left")) / neg.size
    return np.concatenate(([0.0], fpr)), np.concatenate(([0.0], tpr))


def tpr_at_fpr(positive: np.ndarray, negative: np.ndarray, max_fpr: float) -> float:
    """Largest TPR of a threshold "score ≥ t" with FPR (count / n_neg) ≤ ``max_fpr``, not interpolated.

    FPR ≤ x allows at most k negatives at or above the threshold, k the largest count with k / n ≤ x;
    the best such threshold sits just above the (k+1)-th largest negative, so the TPR is the share of
    positives strictly above it (all of them when k = n).
    """
    if not 0.0 <= max_fpr <= 1.0:
        raise ValueError(f"max_fpr must lie in [0, 1], got {max_fpr!r}")
    pos = _scores(positive, "positive")
    neg = np.sort(_scores(negative, "negative"))[::-1]
    counts = np.arange(neg.size + 1)
    allowed = int(counts[counts / neg.size <= max_fpr].max())
    if allowed == neg.size:
        return 1.0
    return float(np.count_nonzero(pos > neg[allowed]) / pos.size)


def loss_attack(
    member_losses: np.ndarray, non_member_losses: np.ndarray, suffix: str = ""
) -> dict[str, float]:
    """``auc``, ``tpr@1%``, ``tpr@0.1%`` (each + ``suffix``) of the threshold attack "low loss → member"."""
    pos = -_scores(member_losses, "member loss")
    neg = -_scores(non_member_losses, "non-member loss")
    values = {f"auc{suffix}": roc_auc(pos, neg)}
    for label, rate in FPR_LEVELS:
        values[f"tpr@{label}{suffix}"] = tpr_at_fpr(pos, neg, rate)
    return values


class LossMIAAUC:
    """Loss-threshold MIA: ROC AUC and TPR at 1 % / 0.1 % FPR, forget vs test and retain vs test.

    Not ranked: compare with the retrained row (forget) and read ``*_retain`` as the ceiling.
    """

    name: ClassVar[str] = "loss_mia_auc"
    description: ClassVar[str] = (
        "Loss-threshold MIA, forget (and retain) vs test: ROC AUC and TPR at 1%/0.1% FPR "
        '(Carlini et al. S&P 2022, "Membership inference attacks from first principles")'
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs"})
    columns: ClassVar[tuple[str, ...]] = (
        "auc", "tpr@1%", "tpr@0.1%", "auc_retain", "tpr@1%_retain", "tpr@0.1%_retain",
    )  # fmt: skip
    higher_is_better: ClassVar[dict[str, bool | None]] = {column: None for column in columns}
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper='Carlini et al., "Membership inference attacks from first principles", IEEE S&P 2022 (ROC and TPR '
        "at low FPR; the global-threshold baseline)",
        repository="tensorflow/privacy",
        commit="03035d5d4a271ac795dab80f5bc1cef82fc3d462",
        loop=(
            Source(
                "research/mi_lira_2021/plot.py", "139-151",
                note="generate_global: one global threshold on the per-example score, averaged over views",
            ),
            Source("research/mi_lira_2021/plot.py", "32-38", note="sweep: sklearn roc_curve, auc (trapezoids)"),
            Source(
                "research/mi_lira_2021/plot.py", "165",
                note="TPR at FPR < 0.1 %; our levels: 1 % and 0.1 % (FPR_LEVELS), FPR ≤ the level",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="The statistic is the per-example cross-entropy (low loss → member); generate_global "
                "thresholds the logit-scaled confidence φ (score.py:54).",
                why="The loss attack of the unlearning literature and of the starting kit; loss = −log p_y and "
                "φ = log(p_y / (1 − p_y)) both move monotonically with p_y, so the ROC is the same.",
                effect="Digits (S = 3 seeds, per model): AUC identical to every digit, e.g. "
                "finetune[epochs=5,lr=0.1] 0.5145 (loss) vs 0.5145 (φ), original 0.5153 vs 0.5153.",
            ),
            Difference(
                what="Extra columns auc_retain, tpr@1%_retain, tpr@0.1%_retain (retain vs test).",
                why="The 'not forgotten' ceiling a non-forgetting model reaches on the forget set.",
                effect="None on the forget columns (separate columns).",
            ),
        ),
        paper_over_code=(
            "TPR at a FPR level: the paper reports the TPR at that FPR; plot.py:165 takes FPR strictly below it, "
            "dropping the point at exactly the level when level × negatives is whole. We take FPR ≤ the level. "
            "Digits (300 test examples, 1 % = 3): tpr@1% of retrain 0.0167 (≤) vs 0.0139 (<), mean of 3 seeds.",
        ),
    )

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """The attack on forget vs test, then on retain vs test."""
        test = ctx.losses("test")
        values = loss_attack(ctx.losses("forget"), test)
        values.update(loss_attack(ctx.losses("retain"), test, suffix="_retain"))
        return {column: values[column] for column in self.columns}


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`LossMIAAUC`."""
    return [LossMIAAUC]
