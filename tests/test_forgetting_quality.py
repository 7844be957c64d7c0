"""Tests of the official forgetting quality F, its retrained reference, and the unlearning score.

Each rule of shared/docs/forgetting-quality.md is checked on a small case worked out by hand in the
comments, and the counting implementation is compared with a straightforward one written below that
materialises every threshold against every model.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pluggy
import pytest
import torch

from unlearnbench import api, hookspec
from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics import _fq_torch
from unlearnbench.metrics import forgetting_quality as fq
from unlearnbench.metrics.forgetting_quality import (
    ForgettingQuality,
    epsilon_points,
    epsilon_table,
    forgetting_quality,
    logit_scaled_confidence,
    max_epsilon,
    retrained_reference,
)
from unlearnbench.metrics.unlearning_score import UnlearningScore, unlearning_score

D = 1e-5


def _col(*values: float) -> np.ndarray:
    """One forget example: confidences of len(values) models, shape [N, 1]."""
    return np.array(values, dtype=np.float64)[:, None]


def _eps(u: Sequence[float], r: Sequence[float], delta: float = D) -> float:
    """ε of one example, from both backends (which must agree)."""
    eps = float(forgetting_quality(_col(*u), _col(*r), delta)[1][0])
    assert float(forgetting_quality(_col(*u), _col(*r), delta, backend="torch")[1][0]) == eps
    return eps


# --------------------------------------------------------------------------- a straightforward reference


def _rule_eps(fnr: np.ndarray, fpr: np.ndarray, delta: float) -> np.ndarray:
    """ε per threshold from the page's rules; NaN marks a discarded or ignored threshold."""
    with np.errstate(divide="ignore", invalid="ignore"):
        both = np.fmax(np.log(1 - delta - fpr) - np.log(fnr), np.log(1 - delta - fnr) - np.log(fpr))
    out = np.where((fnr > 0) & (fpr > 0) & ~np.isnan(both), np.maximum(both, 0), np.nan)
    return np.where((fnr == 0) & (fpr == 0), np.inf, out)


def naive_epsilon(u: np.ndarray, r: np.ndarray, delta: float = D) -> float:
    """Every threshold compared with every model, rates as means: the definition read literally."""
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    pr, nr = np.ptp(pos), np.ptp(neg)
    if max(pr, nr) == 0 or min(pr, nr) / max(pr, nr) < 0.01:
        return 50.0
    lo, hi = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    t = np.linspace(lo, hi, int(np.ceil((hi - lo) * 100)))
    found = [_rule_eps((pos[:, None] < t).mean(0), (neg[:, None] >= t).mean(0), delta)]
    narrow, wide = (neg, pos) if pr >= nr else (pos, neg)
    w = narrow.max() - narrow.min()
    r_lo, r_hi = narrow.min() + w - 2.0, narrow.max() + 2.0
    rights = np.linspace(r_lo, r_hi, int(np.ceil((r_hi - r_lo) * 100)))
    lefts = np.concatenate([np.linspace(x - w - 2.0, x - w + 2.0, 400) for x in rights])
    rr = np.repeat(rights, 400)
    fnr = (~((lefts <= narrow[:, None]) & (narrow[:, None] <= rr))).mean(0)
    fpr = ((lefts <= wide[:, None]) & (wide[:, None] <= rr)).mean(0)
    found.append(_rule_eps(fnr, fpr, delta))
    kept = np.concatenate(found)
    kept = kept[~np.isnan(kept)]
    return float(np.clip(kept.max() if kept.size else 0.0, 0, 50))


# --------------------------------------------------------------------------- confidences


def test_confidence_hand_computed() -> None:
    z = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 40.0, 0.0]])
    conf = logit_scaled_confidence(z, np.array([0, 2, 1]))
    # p ∝ (e^-2, e^-1, 1): label 0 → -2 - ln(e^-1 + 1); label 2 → 0 - ln(e^-1 + e^-2) = 1 - ln(1 + e^-1).
    # [0, 40, 0], label 1: wrong mass 2e^-40 (1 - p_y would round to 0 and give 103.6) → 40 - ln 2.
    expected = [-2 - math.log(1 + math.exp(-1)), 1 - math.log(1 + math.exp(-1)), 40 - math.log(2)]
    assert conf.dtype == np.float64
    np.testing.assert_allclose(conf, expected, rtol=1e-12)
    # p_y = e^-200 underflows below the 1e-45 floor: ln(1e-45) - ln(1) = -103.616...
    assert logit_scaled_confidence(np.array([[0.0, 200.0]]), np.array([0]))[0] == pytest.approx(
        math.log(1e-45), rel=1e-12
    )
    stacked = logit_scaled_confidence(np.stack([z, z[::-1]]).astype(np.float32), np.array([0, 2, 1]))
    assert stacked.shape == (2, 3)
    np.testing.assert_allclose(stacked[0], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="targets"):
        logit_scaled_confidence(z, np.array([0, 3, 1]))
    with pytest.raises(ValueError, match="shape"):
        logit_scaled_confidence(z[0], np.array([0]))


# --------------------------------------------------------------------------- ε table


def test_epsilon_table_hand_values() -> None:
    t3 = epsilon_table(3, 3)
    # FN = FP = 1 of 3: ln(1 - δ - 1/3) - ln(1/3) = ln(2 - 3δ) on both sides.
    assert t3[1, 1] == pytest.approx(math.log(2 - 3 * D), rel=1e-12)
    # FN = 1, FP = 2: ln(1/3 - δ) - ln(1/3) < 0 and ln(2/3 - δ) - ln(2/3) < 0, clipped to 0.
    assert t3[1, 2] == 0.0 and t3[2, 1] == 0.0
    assert t3[0, 0] == math.inf  # perfect separation
    assert t3[0, 2] == -math.inf and t3[3, 0] == -math.inf  # exactly one zero: discarded
    assert t3[3, 3] == -math.inf  # FNR = FPR = 1: both logs undefined, ignored
    # FNR = 1/3, FPR = 1: side 1 undefined, side 2 = ln(2/3 - δ) - ln 1 < 0 → the defined side, 0.
    assert t3[1, 3] == 0.0
    t4 = epsilon_table(4, 4, 0.3)
    # δ = 0.3: FN = FP = 1 of 4: ln(1 - 0.3 - 1/4) - ln(1/4) = ln(1.8).
    assert t4[1, 1] == pytest.approx(math.log(1.8), rel=1e-12)
    # FPR = 3/4: 1 - 0.3 - 0.75 < 0, side 1 undefined; side 2 = ln(0.45) - ln(0.75) < 0 → 0.
    assert t4[1, 3] == 0.0
    assert t4[3, 3] == -math.inf  # both 1 - δ - 3/4 < 0: ignored
    # Unequal pools, FN = 1 of 2, FP = 1 of 8: side 1 = ln(1 - δ - 1/8) - ln(1/2) = ln(1.75 - 2δ) ≈ 0.56,
    # side 2 = ln(1 - δ - 1/2) - ln(1/8) = ln(4 - 8δ) ≈ 1.39, the larger.
    assert epsilon_table(2, 8)[1, 1] == pytest.approx(math.log(4 - 8 * D), rel=1e-12)


# --------------------------------------------------------------------------- the rules, end to end


def test_median_tie_makes_unlearned_positive() -> None:
    # u = [0,3,5,5], r = [0,0,8,8]: medians (3+5)/2 = 4 = (0+8)/2, a tie, so u is positive.
    # Family A, "conf ≥ t" → u: t in (0,3] leaves u's 0 out (FN 1 of 4) and takes r's 8,8 (FP 2 of 4):
    #   ln(1 - δ - 1/2) - ln(1/4) = ln(2 - 4δ) ≈ 0.6931; (3,5]: FN 2, FP 2 → 0; (5,8]: FN 4 → 0.
    # Family B: narrow = u (range 5 < 8), right ends in [3, 7] never reach 8; an interval taking u's 0
    #   takes r's two 0s: {0,3} → FN 2, FP 2 → 0, or all of u → FN 0, FP 2 → discarded. So ε = ln(2 - 4δ).
    assert _eps([0, 3, 5, 5], [0, 0, 8, 8]) == pytest.approx(math.log(2 - 4 * D), rel=1e-12)
    # Swapped pools: the tie now makes [0,0,8,8] positive; family A: t in (0,3]: FN 2, FP 3 → 0;
    # (3,5]: FN 2, FP 2 → 0; (5,8]: FN 2, FP 0 → discarded. Family B is unchanged (0), so ε = 0.
    assert _eps([0, 0, 8, 8], [0, 3, 5, 5]) == 0.0


def test_median_strictly_larger_makes_retrained_positive() -> None:
    # r = [0,0,8.2,8.2]: median 4.1 > 4, so r is positive (ε would be ln 2 with u positive, as above):
    # t in (0,3]: FN 2 (r's 0s), FP 3 → 0; (3,5]: FN 2, FP 2 → 0; (5,8.2]: FN 2, FP 0 → discarded.
    assert _eps([0, 3, 5, 5], [0, 0, 8.2, 8.2]) == 0.0
    # With a strict order the positive group does not depend on the argument order.
    assert _eps([0, 0, 8.2, 8.2], [0, 3, 5, 5]) == 0.0
    # r = [0, 0.1, 8, 8] (median 4.05): family A gives 0; family B (narrow u positive) takes l in (0, 0.1]
    # and r ≥ 5: u's 3,5,5 and r's 0.1 → FN 1, FP 1 of 4 → ln(3 - 4δ) ≈ 1.0986, either argument order.
    for u, r in (([0, 3, 5, 5], [0, 0.1, 8, 8]), ([0, 0.1, 8, 8], [0, 3, 5, 5])):
        assert _eps(u, r) == pytest.approx(math.log(3 - 4 * D), rel=1e-12)


def test_equal_ranges_make_the_negative_group_narrow() -> None:
    # u = [4,5,6], r = [3,5,5]: medians tie (5) → u positive; ranges tie (2) → the negative r is "narrow".
    # Family A: t in (4,5]: FN 1 (u's 4), FP 2 (r's 5s) → 0; other t: FN 0 or FP 0 → discarded.
    # Family B, r positive: l in (4,5], right end in [5,6) takes r's 5,5 (FN 1) and u's 5 (FP 1)
    #   → ln(2 - 3δ). (With u as narrow, u's 5 always comes with r's two 5s: nothing above 0.)
    assert _eps([4, 5, 6], [3, 5, 5]) == pytest.approx(math.log(2 - 3 * D), rel=1e-12)


@pytest.mark.parametrize(
    ("u", "r", "expected"),
    [
        ([0, 1, 2], [0, 0.005, 0.01], 50.0),  # ranges 0.01 / 2 = 0.005 < 0.01
        ([0, 1], [0, 0.0099], 50.0),  # 0.0099 < 0.01
        # Exactly 0.01 is not below 0.01: u positive (median 0.5 > 0.005); t in (0, 0.01]: FN 1, FP 1 of 2
        # → ln(1 - 2δ) < 0 → 0; family B cannot take r's 0 without u's 0; so ε = 0, not the cap.
        ([0, 1], [0, 0.01], 0.0),
        ([1, 1, 1], [2, 2, 2], 50.0),  # both ranges 0 count as ratio < 0.01
        ([1, 1, 1], [1, 1, 1], 50.0),  # even when the values are equal
        ([1, 1, 1], [0, 1, 2], 50.0),  # one range 0: ratio 0
    ],
)
def test_peakiness_guard(u: list[float], r: list[float], expected: float) -> None:
    assert _eps(u, r) == expected


def test_single_retrained_model_scores_zero() -> None:
    rng = np.random.default_rng(0)
    f_value, eps = forgetting_quality(rng.normal(size=(8, 5)), rng.normal(size=(1, 5)))
    # One retrained model: its range is 0 → every ε is the cap, and a pool of 1 has no bucket anyway.
    assert f_value == 0.0
    np.testing.assert_array_equal(eps, 50.0)


def test_perfect_separation_is_the_cap() -> None:
    # r all above u: "conf ≥ t" with t in (1, 3] has FN = FP = 0 → +inf, clipped to 50.
    assert _eps([0, 0.5, 1], [3, 3.5, 4]) == 50.0


def test_undefined_logs_use_the_defined_side() -> None:
    # δ = 0.3, u = [0, 2], r = [1, 3]: r positive (median 2 > 1); family A at t in (1, 2] has FN 1 of 2
    # (r's 1) and FP 1 (u's 2): 1 - 0.3 - 0.5 = 0.2 > 0, ln(0.2) - ln(0.5) < 0 → 0; at t in (0, 1]
    # FP = 2: side 1 is undefined (1 - 0.3 - 1 < 0), side 2 = ln(0.2) - ln(1) < 0 → 0, not NaN.
    eps = _eps([0, 2], [1, 3], delta=0.3)
    assert eps == 0.0 and not math.isnan(eps)


def test_no_kept_threshold_gives_zero() -> None:
    # δ = 0.6 with N = 2: every rate is 1/2 or 1 and 1 - 0.6 - 1/2 < 0, so every threshold that is not
    # discarded has both logs undefined; u = [0, 2] and r = [1, 3] interleave, so nothing separates.
    # No threshold is kept (the released code fails here); ε = 0: no attack tells the groups apart.
    assert _eps([0, 2], [1, 3], delta=0.6) == 0.0
    assert naive_epsilon(np.array([0.0, 2.0]), np.array([1.0, 3.0]), 0.6) == 0.0


def test_single_threshold_linspace_edge_cases() -> None:
    # Pooled span 0.004: ceil(0.4) = 1 threshold, linspace(0, 0.004, 1) = [0] → FN 0 → discarded. A grid
    # that also had t = 0.004 would find FN 1 (u's 0), FP 1 (r's 0.004) of 3 → ln 2. Family B: the
    # right ends closest to the cluster lie 0.005 either side of 0.004 and the left ends are 0.01
    # apart, so an interval takes the whole cluster (FN 0), nothing (FP 0), or all but r's 0.001
    # (FN 1, FP 2 → 0): ε = 0.
    assert _eps([0, 0.004, 0.004], [0.001, 0.002, 0.004]) == 0.0
    pos = np.array([1.5, 1.5])
    assert fq._single_threshold_best(pos, pos.copy(), D) == -math.inf  # count 0: no threshold at all
    rng = np.random.default_rng(3)
    for num in (1, 2, 3, 400, 401):
        start, stop = rng.normal(size=2) * 10
        want = np.linspace(start, stop, num)
        idx = np.arange(num)
        np.testing.assert_array_equal(fq.linspace_at(np.full(num, start), np.full(num, stop), num, idx), want)
        got = _fq_torch.linspace_at(
            torch.tensor(start), torch.tensor(stop), torch.tensor(num), torch.arange(num)
        ).numpy()
        np.testing.assert_array_equal(got, want)
    # A sub-normal span: the step underflows to 0 and numpy divides before multiplying.
    tiny = np.linspace(0.0, 1e-323, 3)
    np.testing.assert_array_equal(fq.linspace_at(np.zeros(3), np.full(3, 1e-323), 3, np.arange(3)), tiny)
    f64 = torch.float64
    got = _fq_torch.linspace_at(
        torch.tensor(0.0, dtype=f64), torch.tensor(1e-323, dtype=f64), torch.tensor(3), torch.arange(3)
    ).numpy()
    np.testing.assert_array_equal(got, tiny)


# --------------------------------------------------------------------------- points and F


def test_max_epsilon_and_points() -> None:
    # ceil(ln(N-1)): ln 1 = 0, ln 2 = 0.69, ln 3 = 1.10, ln 7 = 1.95, ln 8 = 2.08, ln 511 = 6.24.
    assert [max_epsilon(n) for n in (1, 2, 3, 4, 8, 9, 512)] == [0, 0, 1, 2, 2, 3, 7]
    # Unequal pools a ≤ b: ceil(ln(b(a-1)/a)): (3,6) ln 4 = 1.39; (2,4) ln 2; (2,3) ln 1.5 = 0.41; (1,8) none.
    assert [max_epsilon(a, b) for a, b in ((3, 6), (6, 3), (2, 4), (2, 3), (1, 8), (512, 512))] == [
        2,
        2,
        1,
        1,
        0,
        7,
    ]
    np.testing.assert_array_equal(epsilon_points(np.array([0.0, 0.3, 50.0]), 2), [0, 0, 0])
    # N = 3: buckets [0, .5) → 1, [.5, 1) → 1/2, ε ≥ 1 → 0.
    np.testing.assert_array_equal(
        epsilon_points(np.array([0.0, 0.49, 0.5, 0.99, 1.0, 50.0]), 3), [1, 1, 0.5, 0.5, 0, 0]
    )
    # N = 8: four buckets up to 2.
    np.testing.assert_array_equal(
        epsilon_points(np.array([0.0, 0.5, 1.0, 1.5, 1.99, 2.0]), 8), [1, 0.5, 0.25, 0.125, 0.125, 0]
    )
    # N = 512: 14 buckets worth 2^0 .. 2^-13, then 0 from 7 on.
    points = epsilon_points(np.arange(0.0, 7.5, 0.5) + 0.25, 512)
    np.testing.assert_array_equal(points, [2.0**-k for k in range(14)] + [0.0])


def test_f_for_several_n() -> None:
    # N = 3, three examples: perfect separation (ε 50 → 0 points); u = [0,2,4] vs r = [1,3,5] (r
    # positive; family A t in (2,3]: FN 1 (r's 1), FP 1 (u's 4) → ln(2 - 3δ) ≈ 0.693 → 1/2; the
    # interleaved values admit no interval with FN = FP = 0 and no better state with N = 3);
    # identical pools (every attack accepts as many of each → ε 0 → 1 point). F = (0 + 1/2 + 1) / 3.
    u = np.array([[0, 0, 0], [0.5, 2, 2], [1, 4, 4]], dtype=np.float64)
    r = np.array([[3, 1, 0], [3.5, 3, 2], [4, 5, 4]], dtype=np.float64)
    f_value, eps = forgetting_quality(u, r)
    np.testing.assert_allclose(eps, [50.0, math.log(2 - 3 * D), 0.0], rtol=1e-12)
    assert f_value == pytest.approx(0.5)
    # N = 2 has no bucket: F = 0 even for identical pools (ε = 0).
    assert forgetting_quality(_col(0, 1), _col(0, 1)) == (0.0, pytest.approx(np.zeros(1)))
    # N = 8 and N = 512, identical pools: ε = 0 everywhere → F = 1.
    rng = np.random.default_rng(5)
    for n in (8, 512):
        same = rng.normal(size=(n, 2))
        assert forgetting_quality(same, same.copy())[0] == 1.0


def test_unequal_pools() -> None:
    # max_ε for pools of a ≤ b models: ceil(ln(b(a-1)/a)); 2 and 4: ceil(ln 2) = 1, one bucket.
    # The same distribution at both sizes ({0,1} vs {0,0,1,1}) gives ε = 0 → 1 point, in either order.
    assert forgetting_quality(_col(0, 1, 0, 1), _col(0, 1))[0] == 1.0
    assert forgetting_quality(_col(0, 1), _col(0, 1, 0, 1))[0] == 1.0
    # u = [0,2,4] (3 models) vs r = [1,3,3,5,5,5] (6): r positive (median 4 > 2); t in (2,3] misses r's
    # 1 (FN 1 of 6) and takes u's 4 (FP 1 of 3): ln(1 - δ - 1/3) - ln(1/6) = ln(4 - 6δ) ≈ 1.386, the
    # largest finite ε at these sizes (no threshold or interval separates the interleaved pools).
    # max_ε = ceil(ln(6·2/3)) = 2, so bucket [1, 1.5) scores 1/4 (a scale of N = 3 would give 0).
    for u, r in ((_col(0, 2, 4), _col(1, 3, 3, 5, 5, 5)), (_col(1, 3, 3, 5, 5, 5), _col(0, 2, 4))):
        f_value, eps = forgetting_quality(u, r)
        assert eps[0] == pytest.approx(math.log(4 - 6 * D), rel=1e-12)
        assert f_value == 0.25


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="same forget examples"):
        forgetting_quality(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        forgetting_quality(np.array([[0.0], [np.nan]]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="shape"):
        forgetting_quality(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="delta"):
        forgetting_quality(np.zeros((3, 1)), np.zeros((3, 1)), delta=1.0)


# --------------------------------------------------------------------------- against the reference


def _random_pools(seed: int, n_u: int, n_r: int, examples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean, spread = rng.normal(0, 3, examples), rng.uniform(0.01, 3, examples)
    u = rng.normal(mean, spread, (n_u, examples))
    r = rng.normal(mean + rng.normal(0, 1, examples), spread * rng.uniform(0.3, 2, examples), (n_r, examples))
    if seed % 2:  # rounded values: ties inside and across the pools
        u, r = np.round(u, 1), np.round(r, 1)
    return u, r


@pytest.mark.parametrize(
    ("seed", "n_u", "n_r"), [(0, 3, 3), (1, 4, 4), (2, 8, 8), (3, 5, 9), (4, 16, 16), (5, 6, 3)]
)
def test_matches_straightforward_reference(seed: int, n_u: int, n_r: int) -> None:
    u, r = _random_pools(seed, n_u, n_r, 12)
    got = forgetting_quality(u, r)[1]
    want = [naive_epsilon(u[:, s], r[:, s]) for s in range(u.shape[1])]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("offset", [1e5, -1e9])
def test_matches_reference_far_from_zero(offset: float) -> None:
    # At these magnitudes rounding is coarser than the lattice test allows: every threshold is counted.
    rng = np.random.default_rng(12)
    u, r = offset + rng.normal(0, 1, (5, 6)), offset + rng.normal(0.5, 1.5, (5, 6))
    want = [naive_epsilon(u[:, s], r[:, s]) for s in range(6)]
    np.testing.assert_array_equal(forgetting_quality(u, r)[1], want)
    np.testing.assert_array_equal(forgetting_quality(u, r, backend="torch")[1], want)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_threshold_lattice_points(seed: int) -> None:
    # Confidences placed on the left ends' lattice (spacing 4/399 from the narrow group's minimum), and
    # on right ends, where rounding decides which side of a threshold a value falls.
    rng = np.random.default_rng(seed)
    n, examples = 6, 8
    narrow = np.sort(rng.normal(0, 0.3, (examples, n)), axis=1)
    wide = narrow[:, :1] + rng.integers(-300, 300, (examples, n)) * (4 / 399)
    wide[::2, : n // 2] = narrow[::2, -1:] + (rng.integers(-200, 200, (examples // 2, n // 2)) - 0.5) * (
        4 / 399
    )
    u, r = narrow.T.copy(), wide.T.copy()
    got = forgetting_quality(u, r)[1]
    np.testing.assert_array_equal(got, [naive_epsilon(u[:, s], r[:, s]) for s in range(examples)])


@pytest.mark.parametrize(
    ("narrow", "wide", "expected"),
    [
        # r's 0.36 is min(narrow), on the diagonal of left ends that rounding puts on either side of it;
        # the best attack has one error of one kind and two of the other (of 6 each):
        # ln(1 - δ - 2/6) - ln(1/6) = ln(4 - 6δ).
        (
            [0.36, 0.37, 0.71, 0.77, 0.78, 0.92],
            [-1.5347368421052634, 0.6808020050125312, 1.5766416040100246, -1.344260651629073,
             2.2783959899749373, 0.36],
            math.log(4 - 6 * D),
        ),
        # r's values are right ends and left ends themselves ("l ≤ conf ≤ r" is inclusive); the best
        # attack has one error of one kind and three of the other: ln(1 - δ - 3/6) - ln(1/6) = ln(3 - 6δ).
        (
            [0.39, 0.45, 0.6, 0.68, 0.91, 0.92],
            [0.49393483709273167, 0.6844110275689221, 0.8849122807017542, 0.864862155388471,
             -0.24157894736842112, 1.3360401002506261],
            math.log(3 - 6 * D),
        ),
        # Narrow values that are right ends: FN 1 and FP 1 of 5 → ln(1 - δ - 1/5) - ln(1/5) = ln(4 - 5δ).
        (
            [0.25, 0.283483709273183, 0.5040350877192983, 0.8749624060150376, 0.89],
            [0.19325814536340857, 0.8849874686716792, 0.3436340852130326, -0.22117794486215536,
             -0.9229323308270676],
            math.log(4 - 5 * D),
        ),
        # ... FN 1 and FP 1 of 6 → ln(5 - 6δ).
        (
            [0.21, 0.40365914786967405, 0.8247117794486214, 0.8948872180451126, 0.9249624060150374, 0.94],
            [0.934987468671679, 0.7513533834586461, 0.981929824561403, 1.8741604010025057,
             0.11977443609022531, -1.083233082706767],
            math.log(5 - 6 * D),
        ),
        # Left ends a rounding error away from the nominal lattice: ln(4 - 5δ).
        (
            [0.22, 0.4536591478696741, 0.9047869674185463, 0.9248370927318295, 0.99],
            [-1.073233082706767, -0.6321303258145363, 0.6009523809523807, -0.4717293233082709,
             0.4505764411027564],
            math.log(4 - 5 * D),
        ),
    ],
)  # fmt: skip
def test_values_exactly_on_thresholds(narrow: list[float], wide: list[float], expected: float) -> None:
    u, r = np.array(narrow), np.array(wide)
    assert naive_epsilon(u, r) == pytest.approx(expected, rel=1e-12)
    assert _eps(narrow, wide) == naive_epsilon(u, r)


@pytest.mark.parametrize(("seed", "n_u", "n_r"), [(7, 3, 3), (8, 8, 8), (9, 4, 7), (10, 32, 32)])
def test_numpy_and_torch_agree(seed: int, n_u: int, n_r: int) -> None:
    u, r = _random_pools(seed, n_u, n_r, 16)
    f_np, eps_np = forgetting_quality(u, r)
    f_t, eps_t = forgetting_quality(torch.from_numpy(u), torch.from_numpy(r))
    np.testing.assert_array_equal(eps_t, eps_np)
    assert f_t == f_np
    f_b, eps_b = forgetting_quality(u, r, backend="torch")
    np.testing.assert_array_equal(eps_b, eps_np)


def test_retrained_reference() -> None:
    rng = np.random.default_rng(11)
    pool = rng.normal(size=(7, 6))
    # Halves of 7 // 2 = 3 models from the fixed seeded permutation; the seventh model is left out.
    order = np.random.default_rng(fq.REFERENCE_SEED).permutation(7)
    assert retrained_reference(pool) == forgetting_quality(pool[order[:3]], pool[order[3:6]])[0]
    for too_few in (3, 4, 5):  # halves of 1 or 2 models: no bucket at N = 2
        with pytest.raises(ValueError, match="retrained"):
            retrained_reference(rng.normal(size=(too_few, 4)))


# --------------------------------------------------------------------------- the metric plugins


def _outputs(forget_conf: np.ndarray, retain_right: int, test_right: int) -> ModelOutputs:
    """Two-class logits: forget logits [0, c] with label 1 give confidence c; the first ``*_right``
    retain/test examples are classified correctly (label 1), the others not."""
    forget = np.stack([np.zeros_like(forget_conf), forget_conf], axis=1).astype(np.float32)

    def split(right: int, size: int) -> np.ndarray:
        out = np.zeros((size, 2), dtype=np.float32)
        out[:right, 1], out[right:, 0] = 1.0, 1.0
        return out

    return ModelOutputs({"forget": forget, "retain": split(retain_right, 4), "test": split(test_right, 5),
                         "val": split(5, 5)})  # fmt: skip


def _population_ctx(unlearned: list[ModelOutputs], oracles: list[ModelOutputs]) -> EvalContext:
    labels = {"forget": np.ones(2, np.int64), "retain": np.ones(4, np.int64), "test": np.ones(5, np.int64),
              "val": np.ones(5, np.int64)}  # fmt: skip
    return EvalContext(
        outputs=unlearned[0], replicates=unlearned, oracle_outputs=oracles, original_outputs=unlearned[0],
        labels=labels, num_classes=2, seed=0, unlearn_seconds=[1.0] * len(unlearned),
        oracle_seconds=[1.0] * len(oracles),
    )  # fmt: skip


def _registered(module_name: str) -> list[Any]:
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    pm.register(importlib.import_module(f"unlearnbench.metrics.{module_name}"))
    return [cls for classes in pm.hook.unlearnbench_add_metrics() for cls in classes]


@pytest.mark.parametrize(("module_name", "cls"), [("forgetting_quality", ForgettingQuality),
                                                  ("unlearning_score", UnlearningScore)])  # fmt: skip
def test_metric_registration(module_name: str, cls: type) -> None:
    assert _registered(module_name) == [cls]
    metric: Any = cls()
    assert isinstance(metric, api.Metric) and metric.name == module_name
    assert api.metric_scope(metric) == "population"
    assert api.metric_needs(metric) == {"outputs", "oracle_outputs"}
    assert "NeurIPS 2023" in metric.description


def test_forgetting_quality_metric() -> None:
    # Example 0: every model scores 0, 1, 2 (u and r identical → ε 0 → 1 point at N = 3);
    # example 1: unlearned at 0, 0.5, 1 vs retrained at 3 ... 5.5 (separated → ε 50 → 0). F = 1/2.
    u = [_outputs(np.array([c, c / 2]), 4, 5) for c in (0.0, 1.0, 2.0)]
    oracle_confs = [(0.0, 3.0), (1.0, 3.5), (2.0, 4.0), (0.0, 4.5), (1.0, 5.0), (2.0, 5.5)]
    r = [_outputs(np.array(c), 4, 5) for c in oracle_confs]
    ctx = _population_ctx(u, r)
    values = ForgettingQuality().compute(ctx)
    assert set(values) == set(ForgettingQuality.columns)
    assert values["F"] == pytest.approx(0.5)
    assert ForgettingQuality.higher_is_better == {"F": True, "F_ref": None}
    confs = np.array(oracle_confs)
    assert values["F_ref"] == retrained_reference(confs)
    with pytest.raises(MetricNotApplicable, match="bucket"):  # one replicate: no bucket
        ForgettingQuality().compute(_population_ctx(u[:1], r))
    # Five oracles: halves of 2 have no bucket, so F_ref is left out (its cell stays empty) but F stays.
    partial = ForgettingQuality().compute(_population_ctx(u, r[:5]))
    assert set(partial) == {"F"}
    with pytest.raises(MetricNotApplicable, match="at least 6 retrained"):
        retrained_reference(confs[:5])


def test_unlearning_score_arithmetic() -> None:
    # F = 1/2 as above; RA_U = mean(2/4, 4/4, 3/4) = 0.75, RA_R = 1; TA_U = 3/5 each, TA_R = 4/5.
    # Score = 0.5 × 0.75 × (0.6 / 0.8) = 0.28125.
    u = [_outputs(np.array([c, c / 2]), ra, 3) for c, ra in ((0.0, 2), (1.0, 4), (2.0, 3))]
    r = [_outputs(np.array(c), 4, 4) for c in ((0.0, 3.0), (1.0, 3.5), (2.0, 4.0))]
    assert UnlearningScore().compute(_population_ctx(u, r)) == pytest.approx(0.28125, rel=1e-12)
    assert UnlearningScore.higher_is_better is True
    assert unlearning_score(0.4, 0.9, 0.6, 0.5, 1.0) == pytest.approx(0.4 * 1.5 * 0.5)
    with pytest.raises(ValueError, match="retrained"):
        unlearning_score(0.4, 0.9, 0.0, 0.5, 1.0)
    zero_test = [_outputs(np.array(c), 4, 0) for c in ((0.0, 3.0), (1.0, 3.5), (2.0, 4.0))]
    with pytest.raises(ValueError, match="accuracies"):
        UnlearningScore().compute(_population_ctx(u, zero_test))
