"""U-LiRA: the likelihood-ratio attack against unlearning, with shadows unlearned by the method under test.

Paper: Hayes et al., "Inexact unlearning needs more careful evaluations to avoid a false sense of privacy"
(2024). Per forget example the attack asks whether a model *was trained on it and then unlearned* (IN) or
*never trained on it* (OUT, retrained). It fits one Gaussian per hypothesis to shadow models' logit-scaled
true-class confidence φ = log(p_y / Σ_{j≠y} p_j) and decides by the likelihood ratio

    Λ(x) = log N(φ(x); μ_in(x), σ_in²) − log N(φ(x); μ_out(x), σ_out²),  "unlearned" if Λ > 0.

Shadows (see docs/metrics/ulira.md for the seeds): IN, K shadow originals (full training set), each
unlearned by the method under test at the item's parameters; OUT, the R retrained oracles. Targets are
balanced: the item's S unlearned replicates ("unlearned") and S retrained models in neither pool
("retrained"). Means are per example; each hypothesis has ONE global σ over the forget examples, the only
examples the attack scores (root of the mean per-example variance, ddof 1), as Carlini et al. advise for
few shadows. Columns: ``acc``, the balanced accuracy over every (target, forget example) decision, ``auc``,
the ROC AUC of Λ (unlearned positive), and ``gap`` = |acc − 0.5|, ranked, lower is better.

Reference: the authors published no code, so the paper is the reference; the Gaussian fit follows the
LiRA code, tensorflow/privacy@03035d5d4a27 ``research/mi_lira_2021/plot.py`` (``generate_ours``). Differs
from that code's fixed variance (one np.std of all IN scores around their grand mean, ddof 0, used for both
hypotheses) and median: see ``ULiRA.fidelity``, with the measured effects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics.forgetting_quality import logit_scaled_confidence
from unlearnbench.metrics.loss_mia_auc import roc_auc

__all__ = ["ULiRA", "DEFAULT_SHADOWS", "gaussian_fit", "ulira_ratios", "ulira_summary"]

#: K, the number of shadow originals each unlearned by the method under test.
DEFAULT_SHADOWS = 4

#: Smallest σ used, so shadows that agree exactly do not divide by zero.
MIN_SIGMA = 1e-6


def gaussian_fit(phi: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-example means [n] and the global standard deviation of ``phi`` [K ≥ 2, n]."""
    values = np.asarray(phi, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise MetricNotApplicable(f"U-LiRA needs at least 2 shadow models per hypothesis, got {values.shape[0]}")
    sigma = max(math.sqrt(float(np.mean(values.var(axis=0, ddof=1)))), MIN_SIGMA)
    return values.mean(axis=0), sigma


def _log_normal(x: np.ndarray, mu: np.ndarray, sigma: float) -> np.ndarray:
    result: np.ndarray = -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma)
    return result  # the shared −½ log 2π cancels in the ratio


def ulira_ratios(target_phi: np.ndarray, in_phi: np.ndarray, out_phi: np.ndarray) -> np.ndarray:
    """Λ per target and example: ``target_phi`` [T, n], ``in_phi`` [K, n], ``out_phi`` [R, n] → [T, n]."""
    target = np.asarray(target_phi, dtype=np.float64)
    mu_in, sigma_in = gaussian_fit(in_phi)
    mu_out, sigma_out = gaussian_fit(out_phi)
    if target.ndim != 2 or target.shape[1] != mu_in.shape[0] or mu_in.shape != mu_out.shape:
        raise ValueError(
            f"scores disagree in examples: targets {target.shape}, IN {np.shape(in_phi)}, OUT {np.shape(out_phi)}"
        )
    result: np.ndarray = _log_normal(target, mu_in, sigma_in) - _log_normal(target, mu_out, sigma_out)
    return result


def ulira_summary(unlearned_ratios: np.ndarray, retrained_ratios: np.ndarray) -> dict[str, float]:
    """Balanced accuracy of "Λ > 0 ⇒ unlearned", AUC of Λ, and |acc − 0.5|.

    Each argument holds Λ of one class of targets, any shape (targets × examples); the accuracy is the
    mean of the two classes' hit rates, so unequal counts do not bias it.
    """
    pos = np.asarray(unlearned_ratios, dtype=np.float64).reshape(-1)
    neg = np.asarray(retrained_ratios, dtype=np.float64).reshape(-1)
    if pos.size == 0 or neg.size == 0:
        raise ValueError("U-LiRA needs unlearned and retrained targets")
    acc = 0.5 * (float(np.mean(pos > 0)) + float(np.mean(neg <= 0)))
    return {"acc": acc, "auc": roc_auc(pos, neg), "gap": abs(acc - 0.5)}


def forget_phi(outputs: Sequence[ModelOutputs], labels: np.ndarray) -> np.ndarray:
    """φ on the forget split of every model in ``outputs``: [models, n]."""
    return np.stack([logit_scaled_confidence(o["forget"], labels) for o in outputs])


class ULiRA:
    """U-LiRA: shadows unlearned by the method (IN) vs retrained oracles (OUT); balanced accuracy, AUC."""

    name: ClassVar[str] = "ulira"
    description: ClassVar[str] = (
        "U-LiRA: likelihood-ratio attack on forget examples with shadow originals unlearned by the method "
        'under test (IN) vs retrained models (OUT); balanced accuracy and AUC, 0.5 = perfect (Hayes et al. 2024, '
        '"Inexact unlearning needs more careful evaluations to avoid a false sense of privacy")'
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs", "shadows"})
    columns: ClassVar[tuple[str, ...]] = ("acc", "auc", "gap")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"acc": None, "auc": None, "gap": False}
    #: Trains K extra originals and unlearns each with every method: only when asked for by name.
    default_selected: ClassVar[bool] = False
    #: K, the number of shadow originals (each unlearned by the method under test).
    shadows: ClassVar[int] = DEFAULT_SHADOWS
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper='Hayes, Shumailov, Triantafillou, Khalifa, Papernot, "Inexact unlearning needs more careful '
        'evaluations to avoid a false sense of privacy" (2024, arXiv 2403.01218): U-LiRA, with the Gaussian '
        "likelihood-ratio test of Carlini et al. (S&P 2022)",
        repository=None,
        commit=None,
        loop=(
            Source(
                "paper", "U-LiRA (per-example U-MIA)",
                note="IN: shadows trained on the example, then unlearned by the method; OUT: shadows never "
                "trained on it; per-example Gaussians on φ, likelihood ratio; balanced unlearned / retrained "
                "targets. No code from the authors (third-party ports exist; none was used)",
            ),
            Source(
                "research/mi_lira_2021/plot.py", "62-102",
                repository="tensorflow/privacy", commit="03035d5d4a271ac795dab80f5bc1cef82fc3d462",
                note="generate_ours, the online LiRA it adapts: per-example IN and OUT fits (72-83), "
                "fix_variance (85-87), the log-likelihood ratio (95-97); its global σ spans every scored example",
            ),
            Source(
                "research/mi_lira_2021/score.py", "38-54",
                repository="tensorflow/privacy", commit="03035d5d4a271ac795dab80f5bc1cef82fc3d462",
                note="φ: max-shifted softmax in float64, log(p_y + 1e-45) − log(Σ_{j≠y} p_j + 1e-45)",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="σ_in and σ_out: each the root of the mean per-example variance (ddof 1) of its own shadows "
                "over the forget examples, with per-example means. The LiRA code's fixed variance takes np.std "
                "of every IN score pooled around their grand mean (ddof 0) and uses it for both hypotheses "
                "(plot.py:86-87, std_out = np.std(dat_in)); its means are medians (82-83).",
                why="No U-LiRA code exists; the per-example Gaussian with one shared σ per hypothesis is the "
                "paper's model, and σ_out taken from the IN scores reads as a slip (the offline variant, "
                "plot.py:125, takes OUT's own). K = 4 and R = 6 shadows are too few for per-example σ.",
                effect="Digits, random 10 % forget, K = 4, R = 6, S = 3 (acc / auc): finetune[epochs=5,lr=0.1] "
                "0.603 / 0.662 ours vs 0.597 / 0.663 with the code's fixed-variance rule vs 0.569 / 0.615 with "
                "per-example σ (fix_variance=False); gradient_ascent[lr=0.001] 0.606 / 0.674 vs 0.568 / 0.640 "
                "vs 0.563 / 0.637; retrain 0.488 / 0.485 vs 0.489 / 0.477 vs 0.457 / 0.446.",
            ),
            Difference(
                what="Variances with ddof 1; np.std in the LiRA code has ddof 0.",
                why="Unbiased for K = 4 and R = 6 shadows, whose counts differ (ddof 0 would shrink σ_in more "
                "than σ_out).",
                effect="Digits (acc / auc): finetune[epochs=5,lr=0.1] 0.603 / 0.662 vs 0.604 / 0.665 with ddof 0; "
                "gradient_ascent[lr=0.001] 0.606 / 0.674 vs 0.607 / 0.672.",
            ),
            Difference(
                what="Shadows are whole models per run (K shadow originals, each unlearned; R oracles) rather "
                "than the paper's per-example random inclusion; K = 4 (ULiRA.shadows).",
                why="The bench fixes one forget set per run, so IN/OUT membership is per model.",
                effect="Not measured: more shadows cost K trainings and K unlearning runs per item.",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """The attack over the S unlearned replicates and S held-out retrained models."""
        if not ctx.shadow_outputs or not ctx.target_retrained_outputs:
            raise MetricNotApplicable("U-LiRA needs the unlearned shadows and held-out retrained models")
        labels = ctx.labels["forget"]
        if labels.size == 0:
            raise ValueError("U-LiRA needs a non-empty forget split")
        in_phi = forget_phi(ctx.shadow_outputs, labels)
        out_phi = forget_phi(ctx.oracle_outputs, labels)
        unlearned = ulira_ratios(forget_phi(ctx.replicates, labels), in_phi, out_phi)
        retrained = ulira_ratios(forget_phi(ctx.target_retrained_outputs, labels), in_phi, out_phi)
        return ulira_summary(unlearned, retrained)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`ULiRA`."""
    return [ULiRA]
