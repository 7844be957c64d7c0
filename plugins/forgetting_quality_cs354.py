"""The CS354 course report's APPROXIMATE forgetting quality, kept only to reproduce the report's table.

The report scored its methods with a community pre-release approximation of the NeurIPS 2023 challenge's
forgetting quality, not with the official definition (``unlearnbench.metrics.forgetting_quality``). This
local plugin implements that approximation step for step (shared/docs/forgetting-quality.md, last section),
under names that say so: ``forgetting_quality_cs354`` and ``unlearning_score_cs354``. Its values are not
comparable with the official F: under this protocol two identical distributions already score about 0.4
(simulated at n = 10: 0.37 to 0.42 depending on the shape of the distribution; 0.42 to 0.45 at n = 6, 8, 12),
because ε is a maximum over 2n + 1 attacks on only n models per pool, and it is +inf (worth 2^−12) for
about a fifth of the examples: at n = 10, those where the logistic regression's 2-model test folds are all
right or all wrong.

The protocol, per forget example:

- the per-model scalar is −log max softmax of the logits (label-free; the official F uses the logit-scaled
  confidence on the true label);
- the unlearned pool is the n unlearning runs (the report: n = 10; here the bench's S replicate seeds);
- the "retrained pool" is ONE real retrained model (the bench's oracle 0) whose forget-set logits get
  Gaussian noise of sd = std(all n × |forget| unlearned scalars) / 10, drawn n times, each copy turned
  into scalars (the report: 10 copies, one per unlearned run);
- attacks: every single threshold "value > t" at each pooled value (unlearned runs are the positive class),
  plus a default scikit-learn logistic regression on the scalar, FPR and FNR averaged over 2 stratified
  shuffle splits of test size 0.1 (random_state 0);
- per attack, FPR = FNR = 0 gives +inf, exactly one zero discards the attack, otherwise
  ε = max(log(1 − δ − FPR) − log FNR, log(1 − δ − FNR) − log FPR), NaN-ignoring, +inf if both sides are
  NaN; δ = 0.01; ε_s = the maximum over the attacks and an initial 0 (so ε_s ≥ 0 and never NaN);
- points = 2 / 2^digitize(ε, [0, 0.5, …, 6.0]): 1 below 0.5, halving per 0.5, and 2^−12 (never 0) from
  6 on, +inf included; F_cs354 is their mean.

The logistic-regression attack holds out ceil(0.1 · 2n) models and needs one of each pool, so the
protocol needs n ≥ 6 unlearning runs (``--seeds 10`` reproduces the report); below that the metrics are
"n/a" with the reason. The noise is drawn from a fixed seed (the community code drew it unseeded), so
identical inputs give identical values; scalars are computed in float64.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np

from unlearnbench import hookimpl
from unlearnbench.api import EvalContext
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.unlearning_score import mean_accuracy, unlearning_score

__all__ = [
    "DELTA",
    "NOISE_SEED",
    "POINT_BINS",
    "REPORT_RUNS",
    "ForgettingQualityCS354",
    "UnlearningScoreCS354",
    "attack_epsilons",
    "check_runs",
    "example_epsilons",
    "forgetting_quality_cs354",
    "logistic_regression_attack_rates",
    "max_softmax_loss",
    "min_runs",
    "noisy_retrained_scalars",
    "points_cs354",
    "population_scalars",
    "threshold_attack_rates",
]

#: δ of the approximation (the official F uses 1e-5).
DELTA = 0.01
#: Unlearning runs (and noisy retrained copies) the report used.
REPORT_RUNS = 10
#: The noise sd is the std of all unlearned scalars divided by this.
NOISE_DIVISOR = 10.0
#: Fixed seed of the logit noise, so that identical inputs give identical values.
NOISE_SEED = 0
LR_SPLITS = 2
LR_TEST_SIZE = 0.1
LR_RANDOM_STATE = 0
#: Bucket edges 0, 0.5, ..., 6.0 of ``np.digitize``; index k is worth 2 / 2^k.
POINT_BINS: np.ndarray = np.arange(13) * 0.5
#: Threshold-attack comparisons per chunk of examples (bounds memory for large pools).
_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------- scalars


def max_softmax_loss(logits: Any) -> np.ndarray:
    """−log max softmax(z) = logsumexp(z) − max z per example, float64; [..., n, C] → [..., n].

    Label-free: it is the cross-entropy against the model's own prediction.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 2 or z.shape[-1] < 1:
        raise ValueError(f"logits must have shape [..., n, classes], got {z.shape}")
    shifted = z - z.max(axis=-1, keepdims=True)
    result: np.ndarray = np.log(np.exp(shifted).sum(axis=-1))
    return result


def noisy_retrained_scalars(
    retrained_logits: Any, unlearned_scalars: Any, copies: int | None = None, seed: int = NOISE_SEED
) -> np.ndarray:
    """The approximation's retrained pool [copies, n]: one model's logits [n, C] plus Gaussian noise.

    The noise is added to the LOGITS, with sd = std of ALL unlearned scalars (population std over the
    whole [runs, n] array) / 10; each noisy copy is then turned into −log max softmax scalars. ``copies``
    defaults to the number of unlearned runs, as in the report (10 and 10).
    """
    logits = np.asarray(retrained_logits, dtype=np.float64)
    u = np.asarray(unlearned_scalars, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"retrained_logits must have shape [n, classes], got {logits.shape}")
    if u.ndim != 2 or u.shape[1] != logits.shape[0]:
        raise ValueError(f"unlearned_scalars must have shape [runs, {logits.shape[0]}], got {u.shape}")
    count = u.shape[0] if copies is None else int(copies)
    if count < 1:
        raise ValueError(f"copies must be at least 1, got {count}")
    scale = float(np.std(u)) / NOISE_DIVISOR
    rng = np.random.default_rng(seed)
    noisy = rng.normal(loc=logits[None], scale=scale, size=(count, *logits.shape))
    return max_softmax_loss(noisy)


# --------------------------------------------------------------------------- attacks and ε


def threshold_attack_rates(
    unlearned: np.ndarray, retrained: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds, FPR and FNR of "value > t" at every pooled value, each [S, n_r + n_u].

    Inputs are [n_u, S] and [n_r, S] (models × examples). Unlearned runs are the positive class:
    FPR = share of retrained values > t, FNR = share of unlearned values ≤ t. Thresholds are sorted.
    """
    u = np.asarray(unlearned, dtype=np.float64).T
    r = np.asarray(retrained, dtype=np.float64).T
    thresholds = np.sort(np.concatenate([r, u], axis=1), axis=1)
    fpr = np.empty_like(thresholds)
    fnr = np.empty_like(thresholds)
    per_example = thresholds.shape[1] * max(u.shape[1], r.shape[1], 1)
    step = max(1, _CHUNK_ELEMENTS // per_example)
    for start in range(0, thresholds.shape[0], step):
        part = slice(start, start + step)
        t = thresholds[part, :, None]
        fpr[part] = (r[part, None, :] > t).sum(axis=2) / r.shape[1]
        fnr[part] = (u[part, None, :] <= t).sum(axis=2) / u.shape[1]
    return thresholds, fpr, fnr


def _lr_splits(n_retrained: int, n_unlearned: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stratified shuffle splits; they depend only on the labels, so they are shared by all examples."""
    from sklearn.model_selection import StratifiedShuffleSplit

    labels = np.array([0] * n_retrained + [1] * n_unlearned)
    cv = StratifiedShuffleSplit(n_splits=LR_SPLITS, test_size=LR_TEST_SIZE, random_state=LR_RANDOM_STATE)
    return list(cv.split(np.zeros((labels.size, 1)), labels))


def logistic_regression_attack_rates(
    unlearned: np.ndarray, retrained: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]] | None = None
) -> tuple[float, float]:
    """Mean FPR and FNR of a default ``LogisticRegression`` on one example's scalars [n_u], [n_r].

    Samples are the retrained values (label 0) followed by the unlearned ones (label 1); the rates are
    averaged over 2 stratified shuffle splits of test size 0.1 (random_state 0).
    """
    from sklearn.linear_model import LogisticRegression

    r = np.asarray(retrained, dtype=np.float64).ravel()
    u = np.asarray(unlearned, dtype=np.float64).ravel()
    samples = np.concatenate([r, u]).reshape(-1, 1)
    labels = np.array([0] * r.size + [1] * u.size)
    fprs, fnrs = [], []
    for train, test in splits if splits is not None else _lr_splits(r.size, u.size):
        predicted = LogisticRegression().fit(samples[train], labels[train]).predict(samples[test])
        truth = labels[test]
        fprs.append(np.sum((predicted == 1) & (truth == 0)) / np.sum(truth == 0))
        fnrs.append(np.sum((predicted == 0) & (truth == 1)) / np.sum(truth == 1))
    return float(np.mean(fprs)), float(np.mean(fnrs))


def attack_epsilons(fpr: Any, fnr: Any, delta: float = DELTA) -> np.ndarray:
    """ε of each attack, elementwise; NaN marks a discarded attack (exactly one of FPR, FNR is 0).

    FPR = FNR = 0 gives +inf; otherwise the larger of log(1 − δ − FPR) − log FNR and
    log(1 − δ − FNR) − log FPR, a side whose log argument is negative being NaN and ignored, and +inf when
    both are NaN. Not clipped at 0: the initial 0 of :func:`example_epsilons` does that.
    """
    fp = np.asarray(fpr, dtype=np.float64)
    fn = np.asarray(fnr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        side1 = np.log(1.0 - delta - fp) - np.log(fn)
        side2 = np.log(1.0 - delta - fn) - np.log(fp)
    both_nan = np.isnan(side1) & np.isnan(side2)
    eps = np.where(np.isnan(side1), side2, np.where(np.isnan(side2), side1, np.maximum(side1, side2)))
    eps = np.where(both_nan, np.inf, eps)
    zero_fp, zero_fn = fp == 0, fn == 0
    eps = np.where(zero_fp ^ zero_fn, np.nan, eps)
    result: np.ndarray = np.where(zero_fp & zero_fn, np.inf, eps)
    return result


def example_epsilons(fpr: Any, fnr: Any, delta: float = DELTA) -> np.ndarray:
    """ε per example: the maximum over the attacks (last axis) and an initial 0, ignoring discarded ones."""
    eps = attack_epsilons(fpr, fnr, delta)
    eps = np.concatenate([np.zeros(eps.shape[:-1] + (1,)), eps], axis=-1)
    result: np.ndarray = np.nanmax(eps, axis=-1)
    return result


def points_cs354(epsilons: Any) -> np.ndarray:
    """2 / 2^digitize(ε, [0, 0.5, …, 6.0]): 1 on [0, 0.5), 1/2 on [0.5, 1), …, 2^−12 from 6 on (+inf too)."""
    k = np.digitize(np.asarray(epsilons, dtype=np.float64), POINT_BINS)
    result: np.ndarray = 2.0 / 2.0**k
    return result


# --------------------------------------------------------------------------- F_cs354


def min_runs() -> int:
    """The fewest runs per pool the logistic-regression attack accepts: one test model of each pool."""
    n = 1
    while math.ceil(LR_TEST_SIZE * 2 * n) < 2:
        n += 1
    return n


def check_runs(n_runs: int) -> None:
    """Raise :class:`MetricNotApplicable` (a ValueError) when the protocol cannot run with ``n_runs``."""
    needed = min_runs()
    if n_runs < needed:
        raise MetricNotApplicable(
            f"the CS354 approximation needs at least {needed} unlearning runs (the report used "
            f"{REPORT_RUNS}; got {n_runs}): its logistic-regression attack holds out 10 % of the models "
            f"and needs one of each pool; run with --seeds {REPORT_RUNS}"
        )


def forgetting_quality_cs354(
    unlearned_scalars: Any, retrained_scalars: Any, delta: float = DELTA
) -> tuple[float, np.ndarray]:
    """F of the CS354 report's approximation, and the per-example ε, from scalars [n, S] and [n, S].

    Rows are models (the unlearned runs; the noisy copies of the one retrained model, see
    :func:`noisy_retrained_scalars`), columns forget examples; both pools have the same size n ≥ 6.
    ε lies in [0, +inf]; F in [2^−12, 1].
    """
    u = np.asarray(unlearned_scalars, dtype=np.float64)
    r = np.asarray(retrained_scalars, dtype=np.float64)
    for what, arr in (("unlearned_scalars", u), ("retrained_scalars", r)):
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise ValueError(f"{what} must have shape [models, examples ≥ 1], got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} contains non-finite values")
    if u.shape != r.shape:
        raise ValueError(f"both pools must have the same shape [n, S], got {u.shape} and {r.shape}")
    if not 0 <= delta < 1:
        raise ValueError(f"delta must lie in [0, 1), got {delta}")
    check_runs(u.shape[0])
    _, fpr_t, fnr_t = threshold_attack_rates(u, r)
    splits = _lr_splits(r.shape[0], u.shape[0])
    lr = np.array([logistic_regression_attack_rates(u[:, s], r[:, s], splits) for s in range(u.shape[1])])
    fpr = np.concatenate([fpr_t, lr[:, :1]], axis=1)
    fnr = np.concatenate([fnr_t, lr[:, 1:]], axis=1)
    eps = example_epsilons(fpr, fnr, delta)
    return float(np.mean(points_cs354(eps))), eps


# --------------------------------------------------------------------------- metric plugins


def population_scalars(ctx: EvalContext, seed: int = NOISE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Forget-set scalars of the replicates [S, n] and of the noisy copies of oracle 0 [S, n]."""
    if not ctx.replicates or not ctx.oracle_outputs:
        raise MetricNotApplicable("the CS354 approximation needs unlearned replicates and a retrained model")
    check_runs(len(ctx.replicates))
    u = np.stack([max_softmax_loss(o["forget"]) for o in ctx.replicates])
    return u, noisy_retrained_scalars(ctx.oracle_outputs[0]["forget"], u, seed=seed)


_CACHE: dict[bytes, float] = {}


def _cached_f(unlearned: np.ndarray, retrained: np.ndarray) -> float:
    """F_cs354 memoised by content: both metrics of one item need it, and its attacks are not free."""
    digest = hashlib.sha256()
    for arr in (unlearned, retrained):
        digest.update(repr(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    key = digest.digest()
    if key not in _CACHE:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = forgetting_quality_cs354(unlearned, retrained)[0]
    return _CACHE[key]


class ForgettingQualityCS354:
    """F_cs354: the CS354 report's approximation of forgetting quality, only to reproduce its table."""

    name: ClassVar[str] = "forgetting_quality_cs354"
    description: ClassVar[str] = (
        "CS354 report's APPROXIMATION of forgetting quality (community pre-release code: -log max softmax, "
        "one retrained model + logit noise, threshold and logistic-regression attacks, delta 0.01); "
        "not the official F: identical distributions score about 0.4"
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    higher_is_better: ClassVar[bool] = True

    def compute(self, ctx: EvalContext) -> float:
        """F_cs354 of the S replicates against S noisy copies of oracle 0."""
        return _cached_f(*population_scalars(ctx))


class UnlearningScoreCS354:
    """The CS354 report's score: F_cs354 × RA_U/RA_R × TA_U/TA_R, R being one retrained model (oracle 0)."""

    name: ClassVar[str] = "unlearning_score_cs354"
    description: ClassVar[str] = (
        "CS354 report's APPROXIMATE unlearning score: forgetting_quality_cs354 x RA_U/RA_R x TA_U/TA_R, "
        "R = the one retrained model (oracle 0); not the official score"
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    higher_is_better: ClassVar[bool] = True

    def compute(self, ctx: EvalContext) -> float:
        """F_cs354 times the replicates' mean retain and test accuracy over oracle 0's."""
        f_value = _cached_f(*population_scalars(ctx))
        oracle = [ctx.oracle_outputs[0]]
        ra_u = mean_accuracy(ctx.replicates, ctx.labels["retain"], "retain")
        ta_u = mean_accuracy(ctx.replicates, ctx.labels["test"], "test")
        ra_r = mean_accuracy(oracle, ctx.labels["retain"], "retain")
        ta_r = mean_accuracy(oracle, ctx.labels["test"], "test")
        return unlearning_score(f_value, ra_u, ra_r, ta_u, ta_r)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register the approximation's two metrics."""
    return [ForgettingQualityCS354, UnlearningScoreCS354]
