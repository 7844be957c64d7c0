"""Tests of unlearnbench.stats: hand-computed intervals, and agreement with scipy and results.summarise."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from unlearnbench import stats
from unlearnbench.results import summarise
from unlearnbench.stats import Interval, bootstrap_interval, paired_difference, stratified_bootstrap, t_interval

T975_DOF2 = 4.302652730  # t_{0.975, 2}, from tables


# --------------------------------------------------------------------------- t_interval


def test_t_interval_hand_value() -> None:
    # values 1, 2, 3: mean 2, s = 1, half width = t_{0.975,2} / sqrt(3).
    got = t_interval([1.0, 2.0, 3.0])
    half = T975_DOF2 / math.sqrt(3.0)
    assert got.estimate == 2.0 and got.n == 3 and got.confidence == 0.95
    assert got.low == pytest.approx(2.0 - half, abs=1e-9)
    assert got.high == pytest.approx(2.0 + half, abs=1e-9)
    assert got.half_width == pytest.approx(half, abs=1e-9)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(confidence: float) -> None:
    values = np.random.default_rng(3).normal(5.0, 2.0, size=7)
    got = t_interval(values, confidence)
    low, high = sps.t.interval(confidence, df=6, loc=values.mean(), scale=sps.sem(values))
    assert got.low == pytest.approx(low, rel=1e-9)
    assert got.high == pytest.approx(high, rel=1e-9)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 14])
def test_t_interval_equals_summarise_exactly(n: int) -> None:
    values = list(np.random.default_rng(n).exponential(size=n))
    got, ref = t_interval(values), summarise(values)
    assert (got.estimate, got.low, got.high, got.n) == (ref.mean, ref.ci_low, ref.ci_high, ref.n)


def test_t_interval_one_value_has_no_interval() -> None:
    got = t_interval([0.7])
    assert got == Interval(estimate=0.7, low=None, high=None, n=1, confidence=0.95)
    assert got.half_width is None


@pytest.mark.parametrize(
    ("values", "confidence", "match"),
    [([], 0.95, "at least one"), ([1.0, math.nan], 0.95, "non-finite"), ([1.0, 2.0], 1.0, "between 0 and 1"),
     ([1.0, 2.0], 0.0, "between 0 and 1")],
)  # fmt: skip
def test_t_interval_rejects_bad_input(values: list[float], confidence: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        t_interval(values, confidence)


# --------------------------------------------------------------------------- paired_difference


def test_paired_difference_hand_value() -> None:
    # Differences 2, 3, 4: mean 3, s = 1, t = 3 / (1 / sqrt 3) = sqrt 27. For 2 degrees of freedom the
    # t distribution has P(|T| > t) = 1 - t / sqrt(t^2 + 2) in closed form.
    got = paired_difference([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])
    half = T975_DOF2 / math.sqrt(3.0)
    assert got.estimate == 3.0 and got.n == 3
    assert got.low == pytest.approx(3.0 - half, abs=1e-9)
    assert got.high == pytest.approx(3.0 + half, abs=1e-9)
    t_stat = math.sqrt(27.0)
    assert got.p_value == pytest.approx(1.0 - t_stat / math.sqrt(t_stat**2 + 2.0), rel=1e-9)


def test_paired_difference_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(size=6)
    b = a + rng.normal(0.3, 0.5, size=6)
    got = paired_difference(a, b, confidence=0.9)
    ref = sps.ttest_rel(a, b)
    assert got.p_value == pytest.approx(float(ref.pvalue), rel=1e-9)
    low, high = ref.confidence_interval(0.9)
    assert (got.low, got.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_pairing_removes_shared_seed_variance() -> None:
    # Seeds move both methods a lot; A is always 0.01 above B. Unpaired intervals overlap, the paired one
    # excludes 0.
    base = np.array([0.60, 0.75, 0.90, 0.68, 0.82])
    a = base + 0.01 + np.array([0.001, -0.001, 0.0, 0.0005, -0.0005])
    ia, ib = t_interval(a), t_interval(base)
    assert ia.low is not None and ib.high is not None and ia.low < ib.high
    diff = paired_difference(a, base)
    assert diff.low is not None and diff.low > 0.0
    assert diff.p_value is not None and diff.p_value < 1e-4


def test_paired_difference_degenerate_cases() -> None:
    same = paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (same.estimate, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = paired_difference([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (shifted.estimate, shifted.low, shifted.high, shifted.p_value) == (1.0, 1.0, 1.0, 0.0)
    one = paired_difference([2.0], [0.5])
    assert (one.estimate, one.low, one.high, one.p_value) == (1.5, None, None, None)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- bootstrap_interval


def _reference_percentile_bootstrap(
    x: np.ndarray, b: int, seed: int, confidence: float
) -> tuple[float, float]:
    """The percentile bootstrap written out plainly: one index matrix, one mean per row."""
    index = np.random.default_rng(seed).integers(0, x.size, (b, x.size))
    means = x[index].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def test_bootstrap_of_a_constant_is_the_constant() -> None:
    got = bootstrap_interval(np.mean, np.full(40, 0.25), n_resamples=50)
    assert (got.estimate, got.low, got.high, got.n) == (0.25, 0.25, 0.25, 40)


def test_bootstrap_two_points_hand_distribution() -> None:
    # Resampling {0, 1} twice: means 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4. With many resamples the
    # 2.5 % and 97.5 % quantiles are 0 and 1, and the share of 1/2 is close to one half.
    got = bootstrap_interval(np.mean, np.array([0.0, 1.0]), n_resamples=4000, seed=1)
    assert (got.estimate, got.low, got.high) == (0.5, 0.0, 1.0)
    got80 = bootstrap_interval(np.mean, np.array([0.0, 1.0]), n_resamples=4000, seed=1, confidence=0.4)
    assert (got80.low, got80.high) == (0.5, 0.5)  # the 30 % and 70 % quantiles fall in the middle mass


@pytest.mark.parametrize("seed", [0, 5])
def test_bootstrap_matches_plain_reference_and_scipy(seed: int) -> None:
    x = np.random.default_rng(100 + seed).exponential(size=60)
    got = bootstrap_interval(np.mean, x, n_resamples=500, confidence=0.9, seed=seed)
    assert (got.low, got.high) == pytest.approx(_reference_percentile_bootstrap(x, 500, seed, 0.9), abs=1e-12)
    ref = sps.bootstrap(
        (x,), np.mean, n_resamples=500, confidence_level=0.9, method="percentile",
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    assert got.low == pytest.approx(float(ref.confidence_interval.low), abs=1e-12)
    assert got.high == pytest.approx(float(ref.confidence_interval.high), abs=1e-12)
    assert got.estimate == pytest.approx(float(x.mean()), abs=1e-15)


def test_bootstrap_loop_path_matches_scipy_for_a_plain_statistic() -> None:
    x = np.random.default_rng(2).normal(size=35)

    def median(sample: np.ndarray) -> float:
        return float(np.median(sample))

    got = bootstrap_interval(median, x, n_resamples=300, seed=4)
    ref = sps.bootstrap(
        (x,), median, n_resamples=300, method="percentile", vectorized=False, rng=np.random.default_rng(4)
    )
    assert (got.low, got.high) == pytest.approx(
        (float(ref.confidence_interval.low), float(ref.confidence_interval.high)), abs=1e-12
    )
    assert got.estimate == float(np.median(x))


def test_bootstrap_is_deterministic_and_independent_of_batching(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(6).normal(size=50)
    first = bootstrap_interval(np.mean, x, n_resamples=400, seed=9)
    assert bootstrap_interval(np.mean, x, n_resamples=400, seed=9) == first
    monkeypatch.setattr(stats, "_BATCH_ELEMENTS", 50 * 7)  # batches of 7 resamples
    assert bootstrap_interval(np.mean, x, n_resamples=400, seed=9) == first
    assert bootstrap_interval(np.mean, x, n_resamples=400, seed=10) != first


def test_bootstrap_keeps_rows_together() -> None:
    # Column 1 equals column 0 on every row, so any resample of whole rows has difference exactly 0.
    col = np.random.default_rng(1).normal(size=30)
    rows = np.stack([col, col], axis=1)

    def mean_difference(batch: np.ndarray, axis: int) -> Any:
        return np.mean(batch[..., 0] - batch[..., 1], axis=axis)

    got = bootstrap_interval(mean_difference, rows, n_resamples=200)
    assert (got.estimate, got.low, got.high, got.n) == (0.0, 0.0, 0.0, 30)


def test_bootstrap_interval_is_close_to_normal_theory_for_a_mean() -> None:
    x = np.random.default_rng(12).normal(size=400)
    got = bootstrap_interval(np.mean, x, n_resamples=2000)
    half = 1.959964 * x.std(ddof=1) / math.sqrt(x.size)
    assert got.low is not None and got.high is not None
    assert got.low < x.mean() < got.high
    assert (got.high - got.low) / 2 == pytest.approx(half, rel=0.1)


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one example"):
        bootstrap_interval(np.mean, np.array([]))
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_interval(np.mean, np.ones(3), n_resamples=0)
    with pytest.raises(ValueError, match="not finite"):
        bootstrap_interval(lambda s: float("nan"), np.ones(3), n_resamples=5)
    with pytest.raises(ValueError, match="one value per resample"):
        bootstrap_interval(lambda s, axis: np.zeros(2), np.ones(3), n_resamples=5)
    with pytest.raises(ValueError, match="axis of examples"):
        bootstrap_interval(np.mean, np.asarray(1.0))


@pytest.mark.parametrize("dof", [1, 4, 29, 31, 57, 250, 10_000])
def test_t_quantiles_equal_scipy_stats(dof: int) -> None:
    """The quantiles come from scipy.special (no scipy.stats import at start-up): the same numbers."""
    from unlearnbench.results import t_quantile_975

    # dof <= 10 come from a table printed to 10 significant digits; beyond it scipy.special computes them.
    assert t_quantile_975(dof) == pytest.approx(float(sps.t.ppf(0.975, dof)), rel=1e-12 if dof > 10 else 1e-9)
    assert stats._t_quantile(0.9, dof) == pytest.approx(float(sps.t.ppf(0.95, dof)), rel=1e-12)


# --------------------------------------------------------------------------- stratified_bootstrap


def test_stratified_bootstrap_matches_scipy_for_one_group() -> None:
    x = np.random.default_rng(3).exponential(size=80)
    ours = stratified_bootstrap(lambda g: {"m": float(np.mean(g))}, [x], 2000, seed=5)["m"]
    same = bootstrap_interval(np.mean, x, 2000, seed=5)
    assert (ours.low, ours.high) == pytest.approx((same.low, same.high))
    ref = sps.bootstrap((x,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(5))
    assert (ours.low, ours.high) == pytest.approx(
        (ref.confidence_interval.low, ref.confidence_interval.high), rel=1e-12
    )


def test_stratified_bootstrap_resamples_groups_separately() -> None:
    a, b = np.zeros(10), np.ones(5)
    out = stratified_bootstrap(lambda x, y: {"n": float(x.size + 10 * y.size), "d": float(y.mean() - x.mean())},
                               [a, b], 50, seed=0)  # fmt: skip
    assert (out["n"].low, out["n"].high) == (60.0, 60.0)  # group sizes never change
    assert (out["d"].estimate, out["d"].low, out["d"].high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        stratified_bootstrap(lambda x: {"m": float("nan")}, [a], 10)
