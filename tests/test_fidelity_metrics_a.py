"""Fidelity of the membership-inference and challenge metrics to their reference code, on crafted inputs
with hand-computed answers: LiRA's global σ, U-LiRA's Gaussian fits, the starting kit's simple MIA, the
released forgetting-quality code's buckets and the challenge's final score."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.metrics.forgetting_quality import forgetting_quality, max_epsilon
from unlearnbench.metrics.lira import LiRA
from unlearnbench.metrics.ulira import ULiRA, ulira_ratios
from unlearnbench.testing import eval_context

# --------------------------------------------------------------------------- helpers


def _binary_logits(phi: Sequence[float]) -> np.ndarray:
    """Logits [0, φ] with label 1 have the logit-scaled confidence log(p_1 / p_0) = φ."""
    values = np.asarray(phi, dtype=np.float64)
    return np.stack([np.zeros_like(values), values], axis=1)


def _lira_context(
    forget_oracles: np.ndarray, test_oracles: np.ndarray, forget_target: np.ndarray, test_target: np.ndarray
) -> EvalContext:
    """An EvalContext whose oracles have φ ``*_oracles`` [R, n] and whose one replicate has φ ``*_target``."""
    labels = {s: np.ones(n, dtype=np.int64) for s, n in (("forget", forget_target.size), ("test", test_target.size))}
    labels |= {"retain": np.ones(1, dtype=np.int64), "val": np.ones(1, dtype=np.int64)}
    spare = {"retain": _binary_logits([0.0]), "val": _binary_logits([0.0])}
    oracles = [
        {"forget": _binary_logits(f), "test": _binary_logits(t), **spare}
        for f, t in zip(forget_oracles, test_oracles, strict=True)
    ]
    target = {"forget": _binary_logits(forget_target), "test": _binary_logits(test_target), **spare}
    return eval_context(target, labels, oracle_logits=oracles)


# --------------------------------------------------------------------------- lira: one global σ


def test_lira_uses_one_sigma_over_forget_and_test() -> None:
    """Offline LiRA with fixed variance: one σ_out over every scored example (forget and test together).

    Two oracles per example at μ ± a. Forget: a = 4 (per-example variance 2a² = 32, ddof 1), the target
    above μ by 2, 2.5, 3. Test: a = 0.25 (variance 0.125), the target above μ by 0.5, 1, 1.5.
    Global σ = √((3·32 + 3·0.125)/6) = √16.0625: z = offset/σ, every forget z above every test z → AUC 1,
    TPR 1 at any FPR. A σ per split (√32 for forget, √0.125 for test) gives forget z ≤ 3/√32 = 0.53 and
    test z ≥ 0.5/√0.125 = 1.41: every test example above every forget example → AUC 0.
    """
    mu_f, mu_t = np.array([1.0, -2.0, 4.0]), np.array([0.0, 3.0, -1.0])
    d_f, d_t = np.array([2.0, 2.5, 3.0]), np.array([0.5, 1.0, 1.5])
    forget_oracles = np.stack([mu_f - 4.0, mu_f + 4.0])
    test_oracles = np.stack([mu_t - 0.25, mu_t + 0.25])
    ctx = _lira_context(forget_oracles, test_oracles, mu_f + d_f, mu_t + d_t)

    got = LiRA().compute(ctx)
    assert got["auc"] == 1.0
    assert got["gap"] == 0.5
    assert got["tpr@1%"] == 1.0 and got["tpr@0.1%"] == 1.0

    sigma = math.sqrt((3 * 32.0 + 3 * 0.125) / 6)
    forget_z, test_z = LiRA().resampling(ctx).groups
    np.testing.assert_allclose(forget_z[:, 0], d_f / sigma, rtol=1e-9)
    np.testing.assert_allclose(test_z[:, 0], d_t / sigma, rtol=1e-9)


def test_lira_ranks_do_not_depend_on_how_the_global_sigma_is_estimated() -> None:
    """With one σ for every scored example, z orders the examples as φ − μ_out does: the AUC equals that of
    φ − μ_out, whatever σ is (our root mean per-example variance or the reference's pooled np.std)."""
    rng = np.random.default_rng(3)
    n_f, n_t, r = 40, 60, 6
    mu = rng.normal(0.0, 3.0, n_f + n_t)
    spread = rng.uniform(0.2, 2.0, n_f + n_t)
    oracles = rng.normal(mu, spread, (r, n_f + n_t))
    target = mu + rng.normal(0.3, 1.0, n_f + n_t)
    target[:n_f] += 0.5
    ctx = _lira_context(oracles[:, :n_f], oracles[:, n_f:], target[:n_f], target[n_f:])
    got = LiRA().compute(ctx)

    from sklearn.metrics import roc_auc_score

    mean_offset = target - np.mean(oracles, axis=0)  # z × σ for any one σ > 0
    labels = np.r_[np.ones(n_f), np.zeros(n_t)]
    assert got["auc"] == pytest.approx(roc_auc_score(labels, mean_offset), abs=1e-12)
    assert got["auc"] == pytest.approx(roc_auc_score(labels, mean_offset / np.std(oracles)), abs=1e-12)


# --------------------------------------------------------------------------- ulira: one σ per hypothesis


def _outputs(forget_phi: Sequence[float], test_phi: Sequence[float] = (0.0,)) -> ModelOutputs:
    spare = _binary_logits([0.0])
    return ModelOutputs(
        {"forget": _binary_logits(forget_phi), "test": _binary_logits(test_phi), "retain": spare, "val": spare}
    )


def test_ulira_fits_one_sigma_per_hypothesis_over_the_forget_examples() -> None:
    """IN φ: example 0 {3, 5} (mean 4, variance 2), example 1 {0, 4} (mean 2, variance 8): σ_in² = 5.
    OUT φ: {−1, 1} (mean 0, variance 2) and {1, 1} (mean 1, variance 0): σ_out² = 1.
    Λ = −(x − μ_in)²/(2σ_in²) − ln σ_in + (x − μ_out)²/2 + 0: the unlearned target (4, 1) gives
    8 − ½ln5 > 0 and −0.1 − ½ln5 < 0; the retrained target (0, 2) gives −1.6 − ½ln5 and 0.5 − ½ln5 < 0.
    Balanced accuracy ½(1/2 + 2/2) = 0.75; AUC 3/4. The shadows' test split plays no part."""
    labels = {s: np.ones(2 if s == "forget" else 1, dtype=np.int64) for s in ("forget", "test", "retain", "val")}
    wild = (1e3,)  # a test-split φ that would dominate any σ taken beyond the forget examples
    ctx = EvalContext(
        outputs=_outputs([4.0, 1.0]),
        replicates=[_outputs([4.0, 1.0])],
        oracle_outputs=[_outputs([-1.0, 1.0], wild), _outputs([1.0, 1.0])],
        original_outputs=_outputs([0.0, 0.0]),
        labels=labels,
        num_classes=2,
        seed=0,
        unlearn_seconds=[1.0],
        oracle_seconds=[1.0, 1.0],
        shadow_outputs=[_outputs([3.0, 0.0], wild), _outputs([5.0, 4.0])],
        target_retrained_outputs=[_outputs([0.0, 2.0])],
    )
    got = ULiRA().compute(ctx)
    assert got["acc"] == pytest.approx(0.75)
    assert got["auc"] == pytest.approx(0.75)
    half_ln5 = 0.5 * math.log(5.0)
    in_phi, out_phi = np.array([[3.0, 0.0], [5.0, 4.0]]), np.array([[-1.0, 1.0], [1.0, 1.0]])
    unlearned = ulira_ratios(np.array([[4.0, 1.0]]), in_phi, out_phi)
    np.testing.assert_allclose(unlearned, [[8.0 - half_ln5, -0.1 - half_ln5]], rtol=1e-12)


# --------------------------------------------------------------------------- forgetting quality: released rules


def _released_f(unlearned: np.ndarray, retrained: np.ndarray, delta: float = 1e-5) -> float:
    """F by the released metric.py's rules, written out here: float32 rates, torch.linspace for the single
    thresholds, np.linspace for the intervals, ε in float32, buckets up to ceil(ln(N_u − 1))."""
    import torch

    def eps32(tpr: np.ndarray, fnr: np.ndarray, fpr: np.ndarray, tnr: np.ndarray) -> np.ndarray:
        one_minus = np.float32(1) - np.float32(delta)
        with np.errstate(all="ignore"):
            side = np.fmax(np.log(one_minus - fpr) - np.log(fnr), np.log(one_minus - fnr) - np.log(fpr))
        side = np.where(np.isnan(side), np.nan, np.maximum(side, 0))
        perfect = (fpr + fnr == 0) & (tpr + tnr == 2)
        value = np.where(perfect, np.inf, np.where(fpr * fnr == 0, np.nan, side))
        return value[~np.isnan(value)]

    def rates(inside_pos: np.ndarray, inside_neg: np.ndarray) -> tuple[np.ndarray, ...]:
        p, n = inside_pos.astype(np.float32), inside_neg.astype(np.float32)
        return p.mean(0), (1 - p).mean(0), n.mean(0), (1 - n).mean(0)

    eps = []
    for s in range(unlearned.shape[1]):
        u, r = unlearned[:, s], retrained[:, s]
        pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
        pos_range, neg_range = np.ptp(pos), np.ptp(neg)
        if min(pos_range, neg_range) / max(pos_range, neg_range) < 0.01:
            eps.append(50.0)
            continue
        low, high = min(pos.min(), neg.min()), max(pos.max(), neg.max())
        t = torch.linspace(float(low), float(high), int(math.ceil((high - low) * 100)), dtype=torch.float64).numpy()
        kept = [eps32(*rates(pos[:, None] >= t, neg[:, None] >= t))]
        narrow, wide = (neg, pos) if pos_range >= neg_range else (pos, neg)
        width = min(pos_range, neg_range)
        lo, hi = narrow.min() + width - 2.0, narrow.max() + 2.0
        rights = np.linspace(lo, hi, int(math.ceil((hi - lo) * 100)))
        lefts = np.concatenate([np.linspace(x - width - 2.0, x - width + 2.0, 400) for x in rights])
        rights = np.repeat(rights, 400)
        kept.append(eps32(*rates((lefts <= narrow[:, None]) & (narrow[:, None] <= rights),
                                 (lefts <= wide[:, None]) & (wide[:, None] <= rights))))  # fmt: skip
        eps.append(float(np.clip(np.max(np.concatenate(kept)), 0, 50)))
    top = math.ceil(math.log(unlearned.shape[0] - 1))
    points = [2.0 ** -math.floor(e / 0.5) if e < top else 0.0 for e in eps]
    return float(np.mean(points))


@pytest.mark.parametrize(("seed", "n"), [(0, 4), (1, 8), (2, 16)])
def test_forgetting_quality_equals_the_released_rules_at_equal_pools(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    examples = 10
    mean, spread = rng.normal(0, 3, examples), rng.uniform(0.1, 2, examples)
    u = rng.normal(mean, spread, (n, examples))
    r = rng.normal(mean + rng.normal(0, 0.7, examples), spread * rng.uniform(0.5, 1.5, examples), (n, examples))
    assert forgetting_quality(u, r)[0] == pytest.approx(_released_f(u, r), abs=1e-15)


def test_unequal_pools_use_both_sizes_not_the_unlearned_pool_alone() -> None:
    """The recorded difference: S = 3 vs R = 6 gives max_ε = ceil(ln(6·2/3)) = 2 (four buckets); the released
    ceil(ln(N_u − 1)) = ceil(ln 2) = 1 (two). At equal sizes both are ceil(ln(N − 1))."""
    assert max_epsilon(3, 6) == 2 and math.ceil(math.log(3 - 1)) == 1
    for n in (3, 4, 8, 16, 512):
        assert max_epsilon(n, n) == math.ceil(math.log(n - 1))
