"""U-LiRA: the likelihood-ratio attack against unlearning, with shadows unlearned by the method under test.

Hayes et al. ("Inexact unlearning needs more careful evaluations to avoid a false sense of privacy", 2024)
ask, per forget example, whether a model *was trained on it and then unlearned* (IN) or *never trained on
it* (OUT, i.e. retrained). The attack fits one Gaussian per hypothesis to shadow models' logit-scaled
true-class confidence φ = log(p_y / (1 − p_y)) and decides by the likelihood ratio

    Λ(x) = log N(φ(x); μ_in(x), σ_in²) − log N(φ(x); μ_out(x), σ_out²),  "unlearned" if Λ > 0.

The bench's shadows (see docs/metrics/ulira.md for the seeds):

* IN: K shadow originals (full training set, seeds disjoint from every other model), each unlearned by the
  method under test at the item's parameters;
* OUT: the R retrained oracles of the reference pool (trained without the forget set).

Targets are balanced: the item's S unlearned replicates (label "unlearned") and S retrained models that
belong to neither pool (label "retrained"). Per-example means; variances are *global* (mean over examples of
the per-example variances, ddof = 1) per hypothesis, as Carlini et al. advise for few shadows. Columns:
``acc``, the attack's balanced accuracy over every (target, forget example) decision, and ``auc``, the ROC
AUC of Λ (unlearned positive); both have 0.5 as "perfect unlearning" (the unlearned models are as
retrained ones) and ``gap`` = |acc − 0.5| is ranked, lower is better. Unlike the offline LiRA, this attack
knows what the method does to a model that saw the forget set, so an unlearner that merely perturbs the
original in a recognisable way is caught.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
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
