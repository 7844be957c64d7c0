"""Tests of the local plugin plugins/forgetting_quality_cs354.py: the CS354 report's approximate F.

Every rule of the approximation is checked on hand-computed values; the whole pipeline is checked against
a straightforward per-example loop written from the protocol's description (scikit-learn's
``cross_validate`` for the logistic-regression attack).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from unlearnbench import api
from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.plugins import build_plugin_manager

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN_PATH = REPO_ROOT / "plugins" / "forgetting_quality_cs354.py"


def _load_plugin() -> ModuleType:
    name = "forgetting_quality_cs354_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PLUGIN_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fq = _load_plugin()


# --------------------------------------------------------------------------- points, δ, ε rules


def test_points_formula() -> None:
    eps = [0.0, 0.49, 0.5, 0.99, 1.0, 2.2, 5.5, 5.99, 6.0, 6.5, 50.0, math.inf]
    expected = [1, 1, 0.5, 0.5, 0.25, 2**-4, 2**-11, 2**-11, 2**-12, 2**-12, 2**-12, 2**-12]
    np.testing.assert_array_equal(fq.points_cs354(eps), expected)
    assert fq.points_cs354([math.inf])[0] > 0  # never 0, unlike the official F
    np.testing.assert_array_equal(fq.POINT_BINS, [0.5 * k for k in range(13)])


def test_attack_epsilon_uses_delta_0_01() -> None:
    assert fq.DELTA == 0.01
    # FPR 0.2, FNR 0.3: max(log(0.79 / 0.3), log(0.69 / 0.2)) = log(3.45).
    assert fq.attack_epsilons(0.2, 0.3) == pytest.approx(math.log(3.45), rel=1e-12)
    # With the official δ = 1e-5 the value is different: log(0.69999 / 0.2).
    assert fq.attack_epsilons(0.2, 0.3, delta=1e-5) == pytest.approx(math.log(0.69999 / 0.2), rel=1e-12)
    assert fq.example_epsilons([[0.2]], [[0.3]])[0] == pytest.approx(math.log(3.45), rel=1e-12)


def test_attack_epsilon_special_cases() -> None:
    fpr = np.array([0.0, 0.0, 0.5, 1.0, 0.995, 0.5])
    fnr = np.array([0.0, 0.5, 0.0, 1.0, 0.5, 0.5])
    eps = fq.attack_epsilons(fpr, fnr)
    assert eps[0] == math.inf  # perfect separation
    assert np.isnan(eps[1]) and np.isnan(eps[2])  # exactly one zero: discarded
    assert eps[3] == math.inf  # both log arguments negative: a NaN pair counts as +inf
    # 1 − δ − FPR < 0: only the other side, log(0.49) − log(0.995), which is negative (not clipped here).
    assert eps[4] == pytest.approx(math.log(0.49) - math.log(0.995), rel=1e-12)
    assert eps[5] == pytest.approx(math.log(0.49 / 0.5), rel=1e-12)


def test_initial_zero_in_the_maximum() -> None:
    # Every attack has a negative ε, or is discarded: the initial 0 gives ε_s = 0 (one point), not −0.02.
    assert fq.example_epsilons([[0.5, 0.995]], [[0.5, 0.5]])[0] == 0.0
    assert fq.example_epsilons([[0.0, 0.3]], [[0.4, 0.0]])[0] == 0.0
    # A positive attack wins, and one perfect attack makes it +inf.
    assert fq.example_epsilons([[0.5, 0.2]], [[0.5, 0.3]])[0] == pytest.approx(math.log(3.45))
    assert fq.example_epsilons([[0.5, 0.0]], [[0.5, 0.0]])[0] == math.inf


# --------------------------------------------------------------------------- the attacks


def test_threshold_attack_tiny_example() -> None:
    # Unlearned 2, 4, 6 and retrained 1, 3, 5: predict "unlearned" iff value > t, t at every pooled value.
    u, r = np.array([[2.0], [4.0], [6.0]]), np.array([[1.0], [3.0], [5.0]])
    thresholds, fpr, fnr = fq.threshold_attack_rates(u, r)
    np.testing.assert_array_equal(thresholds, [[1, 2, 3, 4, 5, 6]])
    np.testing.assert_allclose(fpr, [[2 / 3, 2 / 3, 1 / 3, 1 / 3, 0, 0]])  # retrained values above t
    np.testing.assert_allclose(fnr, [[0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1]])  # unlearned values at or below t
    # t = 3 is best: FPR = FNR = 1/3, ε = log((0.99 − 1/3) / (1/3)) = log(1.97); t = 1, 5, 6 are discarded.
    eps = fq.example_epsilons(fpr, fnr)
    assert eps[0] == pytest.approx(math.log(1.97), rel=1e-12)
    assert fq.points_cs354(eps)[0] == 0.5


def test_threshold_attack_is_one_directional() -> None:
    # Unlearned above retrained: t = 2 separates perfectly (FPR = FNR = 0) → +inf.
    _, fpr, fnr = fq.threshold_attack_rates(np.array([[3.0], [4.0]]), np.array([[1.0], [2.0]]))
    assert fq.example_epsilons(fpr, fnr)[0] == math.inf
    # Unlearned below retrained: "value > t" is always wrong; at t = 2, FPR = FNR = 1, a NaN pair → +inf.
    _, fpr, fnr = fq.threshold_attack_rates(np.array([[1.0], [2.0]]), np.array([[3.0], [4.0]]))
    np.testing.assert_allclose(fpr, [[1, 1, 0.5, 0]])
    np.testing.assert_allclose(fnr, [[0.5, 1, 1, 1]])
    assert fq.example_epsilons(fpr, fnr)[0] == math.inf
    # Interleaved 1, 3 vs 2, 4: every attack is negative or discarded → 0.
    _, fpr, fnr = fq.threshold_attack_rates(np.array([[1.0], [3.0]]), np.array([[2.0], [4.0]]))
    assert fq.example_epsilons(fpr, fnr)[0] == 0.0


def test_logistic_regression_attack() -> None:
    splits = fq._lr_splits(10, 10)
    assert len(splits) == 2
    for train, test in splits:  # 10 % of 20 models held out, one of each pool
        assert len(test) == 2 and len(train) == 18
        assert sorted(int(i) // 10 for i in test) == [0, 1]
    # Separable pools: both held-out models are classified correctly → FPR = FNR = 0.
    u, r = np.arange(10.0, 20.0), np.arange(10.0)
    assert fq.logistic_regression_attack_rates(u, r) == (0.0, 0.0)
    rng = np.random.default_rng(5)
    for _ in range(5):
        u, r = rng.normal(size=10), rng.normal(size=10)
        assert fq.logistic_regression_attack_rates(u, r) == pytest.approx(_lr_reference(u, r), abs=0)


# --------------------------------------------------------------------------- F_cs354


def test_matches_a_straightforward_loop() -> None:
    rng = np.random.default_rng(0)
    for n, shift in ((10, 0.0), (10, 0.8), (7, 0.3), (13, -0.5)):
        u = rng.normal(size=(n, 12)) + shift
        r = rng.normal(size=(n, 12))
        u[:, :3], r[:, :3] = np.round(u[:, :3]), np.round(r[:, :3])  # ties between and within the pools
        f_value, eps = fq.forgetting_quality_cs354(u, r)
        ref_eps = np.array([_epsilon_reference(u[:, s], r[:, s]) for s in range(u.shape[1])])
        np.testing.assert_array_equal(eps, ref_eps)
        assert f_value == pytest.approx(float(np.mean(2.0 / 2.0 ** np.digitize(ref_eps, np.arange(13) / 2))))


def test_hand_computed_f() -> None:
    # Example 0: pools 10..19 and 0..9 are separated → ε = +inf → 2^−12.
    # Example 1: every model scores 5 in both pools. The only threshold, t = 5, has FPR 0 and FNR 1
    # (discarded); the logistic regression on a constant feature with balanced classes stays at weights 0,
    # so it predicts the negative class for both held-out models: FPR 0, FNR 1 (discarded). Only the
    # initial 0 is left: ε = 0 → 1 point. F = (2^−12 + 1) / 2.
    u = np.stack([np.arange(10.0, 20.0), np.full(10, 5.0)], axis=1)
    r = np.stack([np.arange(10.0), np.full(10, 5.0)], axis=1)
    f_value, eps = fq.forgetting_quality_cs354(u, r)
    assert eps[0] == math.inf and eps[1] == 0.0
    assert f_value == pytest.approx((2**-12 + 1) / 2, rel=1e-12)


def test_identical_distributions_score_about_0_44() -> None:
    # The page: "even identical distributions score about 0.44" (the official F scores ≈ 0.19 at N = 512).
    # At n = 10 the expectation is about 0.38 for Gaussian scalars (0.37 to 0.42 for other shapes).
    rng = np.random.default_rng(2023)
    u, r = rng.normal(size=(fq.REPORT_RUNS, 400)), rng.normal(size=(fq.REPORT_RUNS, 400))
    f_value, eps = fq.forgetting_quality_cs354(u, r)
    assert 0.3 < f_value < 0.5
    assert 0.1 < np.mean(eps == math.inf) < 0.3  # LR folds all right or all wrong: +inf, worth 2^−12


def test_determinism() -> None:
    rng = np.random.default_rng(9)
    u, r = rng.normal(size=(10, 15)), rng.normal(size=(10, 15)) + 0.3
    first = fq.forgetting_quality_cs354(u, r)
    second = fq.forgetting_quality_cs354(u.copy(), r.copy())
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    logits = rng.normal(size=(15, 4))
    noisy = fq.noisy_retrained_scalars(logits, u)
    np.testing.assert_array_equal(noisy, fq.noisy_retrained_scalars(logits, u))
    assert not np.array_equal(noisy, fq.noisy_retrained_scalars(logits, u, seed=1))


def test_input_validation_and_minimum_runs() -> None:
    assert fq.min_runs() == 6  # ceil(0.1 · 2n) ≥ 2
    rng = np.random.default_rng(1)
    with pytest.raises(MetricNotApplicable, match="at least 6 unlearning runs"):
        fq.forgetting_quality_cs354(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))
    fq.forgetting_quality_cs354(rng.normal(size=(6, 3)), rng.normal(size=(6, 3)))
    with pytest.raises(ValueError, match="same shape"):
        fq.forgetting_quality_cs354(rng.normal(size=(10, 3)), rng.normal(size=(9, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        fq.forgetting_quality_cs354(np.full((10, 2), np.nan), rng.normal(size=(10, 2)))


# --------------------------------------------------------------------------- scalars and noise


def test_max_softmax_loss() -> None:
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0], [1000.0, 0.0]], dtype=np.float32)
    # [0, 0]: log 2; [log 3, 0]: p_max = 3/4 → log(4/3); [1000, 0]: e^−1000 ≈ 0, no overflow.
    np.testing.assert_allclose(fq.max_softmax_loss(logits), [math.log(2), math.log(4 / 3), 0.0], atol=1e-7)
    three = np.array([[math.log(3.0), 0.0, 0.0]])  # p_max = 3/5, label-free
    assert fq.max_softmax_loss(three)[0] == pytest.approx(-math.log(0.6), rel=1e-12)
    assert fq.max_softmax_loss(np.zeros((2, 5, 3))).shape == (2, 5)


def test_noise_is_on_the_logits_with_sd_from_all_unlearned_scalars() -> None:
    # Unlearned scalars alternate 0 and 2 across examples: std over ALL of them is 1 (sd 0.1), while each
    # example's own std over runs is 0. Retrained logits [0, 0] give log 2; with noise on the logits the
    # scalar is log(1 + e^−|d|) ≤ log 2 with d ~ N(0, 2·0.1²), so E[log 2 − scalar] ≈ E|d| / 2 = 0.1/√π.
    n_examples = 2000
    unlearned = np.tile(np.array([0.0, 2.0]), (10, n_examples // 2))
    scalars = fq.noisy_retrained_scalars(np.zeros((n_examples, 2)), unlearned)
    assert scalars.shape == (10, n_examples)
    assert np.all(scalars <= math.log(2) + 1e-12)  # noise on the scalars would exceed log 2 half the time
    assert np.mean(math.log(2) - scalars) == pytest.approx(0.1 / math.sqrt(math.pi), rel=0.05)
    assert fq.noisy_retrained_scalars(np.zeros((n_examples, 2)), unlearned, copies=3).shape == (3, n_examples)


# --------------------------------------------------------------------------- the metric plugins


def _outputs(forget_logits: np.ndarray, retain_right: int, test_right: int) -> ModelOutputs:
    """The given forget logits; the first ``*_right`` of 4 retain / 5 test examples are right (label 1)."""

    def split(right: int, size: int) -> np.ndarray:
        out = np.zeros((size, 2), dtype=np.float32)
        out[:right, 1], out[right:, 0] = 1.0, 1.0
        return out

    return ModelOutputs({"forget": forget_logits.astype(np.float32), "retain": split(retain_right, 4),
                         "test": split(test_right, 5), "val": split(5, 5)})  # fmt: skip


def _population_ctx(unlearned: Sequence[ModelOutputs], oracles: Sequence[ModelOutputs]) -> EvalContext:
    labels = {"forget": np.ones(8, np.int64), "retain": np.ones(4, np.int64), "test": np.ones(5, np.int64),
              "val": np.ones(5, np.int64)}  # fmt: skip
    return EvalContext(
        outputs=unlearned[0], replicates=list(unlearned), oracle_outputs=list(oracles),
        original_outputs=unlearned[0], labels=labels, num_classes=2, seed=0,
        unlearn_seconds=[1.0] * len(unlearned), oracle_seconds=[1.0] * len(oracles),
    )  # fmt: skip


def _population(rng: np.random.Generator, runs: int) -> tuple[list[ModelOutputs], list[ModelOutputs]]:
    base = rng.normal(size=(8, 2)) * 2
    unlearned = [_outputs(base + rng.normal(scale=0.5, size=(8, 2)), ra, 3) for ra in [2, 3, 4] * (runs // 3)]
    oracles = [_outputs(base, 4, 4), _outputs(rng.normal(size=(8, 2)), 1, 1)]
    return unlearned, oracles


def test_metrics_compute_from_oracle_zero() -> None:
    rng = np.random.default_rng(4)
    unlearned, oracles = _population(rng, 9)
    ctx = _population_ctx(unlearned, oracles)
    u = np.stack([fq.max_softmax_loss(o["forget"]) for o in unlearned])
    r = fq.noisy_retrained_scalars(oracles[0]["forget"], u, seed=fq.NOISE_SEED)
    expected_f = fq.forgetting_quality_cs354(u, r)[0]
    f_value = fq.ForgettingQualityCS354().compute(ctx)
    assert f_value == expected_f
    assert fq.ForgettingQualityCS354().compute(ctx) == f_value  # deterministic
    # Only oracle 0 is used: replacing the others changes nothing.
    other = _population_ctx(unlearned, [oracles[0], _outputs(np.zeros((8, 2)), 0, 0)])
    assert fq.ForgettingQualityCS354().compute(other) == f_value
    # RA_U = mean(2/4, 3/4, 4/4) = 0.75 and RA_R = 1 (oracle 0); TA_U = 3/5 and TA_R = 4/5.
    score = fq.UnlearningScoreCS354().compute(ctx)
    assert score == pytest.approx(f_value * 0.75 * (0.6 / 0.8), rel=1e-12)
    assert fq.UnlearningScoreCS354().compute(other) == score


def test_metrics_need_six_runs() -> None:
    unlearned, oracles = _population(np.random.default_rng(4), 3)
    ctx = _population_ctx(unlearned, oracles)
    for metric in (fq.ForgettingQualityCS354(), fq.UnlearningScoreCS354()):
        with pytest.raises(MetricNotApplicable, match="--seeds 10"):
            metric.compute(ctx)


def test_registration_through_the_plugin_manager() -> None:
    plugins = build_plugin_manager(plugins_dir=REPO_ROOT / "plugins", use_entry_points=False)
    info = plugins.infos["forgetting_quality_cs354"]
    assert info.origin == "local file" and "unlearnbench_add_metrics" in info.hooks
    classes: dict[str, Any] = {
        cls.name: cls for group in plugins.manager.hook.unlearnbench_add_metrics() for cls in group
    }
    for name in ("forgetting_quality_cs354", "unlearning_score_cs354"):
        metric: Any = classes[name]()
        assert isinstance(classes[name](), api.Metric)
        assert metric.higher_is_better is True
        assert api.metric_scope(metric) == "population"
        assert api.metric_needs(metric) == {"outputs", "oracle_outputs"}
        assert "CS354" in metric.description and "APPROXIMAT" in metric.description
        assert "not the official" in metric.description
    # The official metrics keep their names and are not replaced.
    assert classes["forgetting_quality"].__module__ == "unlearnbench.metrics.forgetting_quality"


# --------------------------------------------------------------------------- references


def _lr_reference(u: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    """The logistic-regression attack through scikit-learn's cross_validate with FPR/FNR scorers."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import StratifiedShuffleSplit, cross_validate

    def rate(y_true: np.ndarray, y_pred: np.ndarray, label: int) -> float:
        return float(np.sum((y_pred != label) & (y_true == label)) / np.sum(y_true == label))

    scoring = {
        "fpr": make_scorer(lambda t, p: rate(t, p, 0)),
        "fnr": make_scorer(lambda t, p: rate(t, p, 1)),
    }
    x = np.concatenate([r, u]).reshape(-1, 1)
    y = np.array([0] * len(r) + [1] * len(u))
    cv = StratifiedShuffleSplit(n_splits=2, test_size=0.1, random_state=0)
    scores = cross_validate(LogisticRegression(), x, y, cv=cv, scoring=scoring)
    return float(np.mean(scores["test_fpr"])), float(np.mean(scores["test_fnr"]))


def _epsilon_reference(u: np.ndarray, r: np.ndarray, delta: float = 0.01) -> float:
    """ε of one example, one attack at a time, exactly as the protocol reads."""
    pooled = np.concatenate([r, u])
    rates = [(float(np.mean(r > t)), float(np.mean(u <= t))) for t in sorted(pooled)]
    rates.append(_lr_reference(u, r))
    best = 0.0
    for fpr, fnr in rates:
        if fpr == 0 and fnr == 0:
            best = math.inf
            continue
        if fpr == 0 or fnr == 0:
            continue
        sides = [
            math.log(1 - delta - fpr) - math.log(fnr) if 1 - delta - fpr > 0 else math.nan,
            math.log(1 - delta - fnr) - math.log(fpr) if 1 - delta - fnr > 0 else math.nan,
        ]
        defined = [s for s in sides if not math.isnan(s)]
        best = max(best, max(defined) if defined else math.inf)
    return best
