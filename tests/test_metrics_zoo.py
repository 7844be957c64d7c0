"""Tests of the per-example-output metrics: mia_efficacy, loss_mia_auc, entropy_mia, js_to_oracle,
activation_distance and avg_gap.

Pure functions are checked against values worked out by hand and against scikit-learn / scipy on the same
arrays; the plugins against outputs built by hand to look like the retrained model (the "perfect" value)
or like the original model (the other end).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pluggy
import pytest
from scipy import optimize
from scipy.spatial.distance import euclidean, jensenshannon
from scipy.stats import entropy as scipy_entropy
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.svm import SVC

from unlearnbench import api, hookspec
from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics import mia_efficacy as mia_module
from unlearnbench.metrics._functional import cross_entropy, softmax
from unlearnbench.metrics.activation_distance import (
    ActivationDistance,
    activation_distance,
    mean_activation_distance,
)
from unlearnbench.metrics.avg_gap import AvgGap, average_gap, gap_profile, oracle_profile
from unlearnbench.metrics.entropy_mia import EQUIVALENT_C, EntropyMIA, entropy_attack, prediction_entropy
from unlearnbench.metrics.js_to_oracle import LN2, JSToOracle, js_divergence, mean_js_to_oracles
from unlearnbench.metrics.loss_mia_auc import LossMIAAUC, loss_attack, roc_auc, roc_points, tpr_at_fpr
from unlearnbench.metrics.mia_efficacy import (
    MIAEfficacy,
    mia_efficacy_of,
    shadow_sets,
    svc_mia_efficacy,
    true_class_confidence,
)

ZOO = ("mia_efficacy", "loss_mia_auc", "entropy_mia", "js_to_oracle", "activation_distance", "avg_gap")
LN3 = math.log(3.0)


# --------------------------------------------------------------------------- helpers


def _margin_logits(labels: np.ndarray, margin: float, correct: bool = True, classes: int = 3) -> np.ndarray:
    """Logits 0 except ``margin`` on the label (correct) or on the next class (wrong)."""
    out = np.zeros((labels.size, classes), dtype=np.float32)
    target = labels if correct else (labels + 1) % classes
    out[np.arange(labels.size), target] = margin
    return out


def _labels(n: int = 12) -> dict[str, np.ndarray]:
    return {s: np.arange(n) % 3 for s in api.SPLIT_NAMES}


def _ctx(
    outputs: ModelOutputs, labels: Mapping[str, np.ndarray], oracles: list[ModelOutputs] | None = None
) -> EvalContext:
    return EvalContext(
        outputs=outputs, replicates=[outputs], oracle_outputs=[outputs] if oracles is None else oracles,
        original_outputs=outputs, labels=dict(labels), num_classes=3, seed=0, unlearn_seconds=[1.0],
        oracle_seconds=[10.0],
    )  # fmt: skip


def _model(labels: Mapping[str, np.ndarray], **margins: float | tuple[float, bool]) -> ModelOutputs:
    """Outputs per split from ``split=margin`` (correct) or ``split=(margin, correct)``."""
    logits = {}
    for split in api.SPLIT_NAMES:
        spec = margins.get(split, 8.0)
        margin, correct = spec if isinstance(spec, tuple) else (spec, True)
        logits[split] = _margin_logits(labels[split], margin, correct)
    return ModelOutputs(logits)


def _retrained(labels: Mapping[str, np.ndarray]) -> ModelOutputs:
    """Fits retain tightly (margin 8), generalises to test and forget alike (margin 1)."""
    return _model(labels, retain=8.0, forget=1.0, test=1.0, val=1.0)


def _original(labels: Mapping[str, np.ndarray]) -> ModelOutputs:
    """Also fits forget tightly, like retain."""
    return _model(labels, retain=8.0, forget=8.0, test=1.0, val=1.0)


def _random_ctx(seed: int, n: int = 30) -> EvalContext:
    rng = np.random.default_rng(seed)
    labels = {s: rng.integers(0, 3, size=n) for s in api.SPLIT_NAMES}

    def outs() -> ModelOutputs:
        return ModelOutputs({s: (rng.normal(size=(n, 3)) * 3).astype(np.float32) for s in api.SPLIT_NAMES})

    return _ctx(outs(), labels, oracles=[outs(), outs()])


# --------------------------------------------------------------------------- features


def test_true_class_confidence_hand_values() -> None:
    logits = np.array([[0.0, math.log(3.0), 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(true_class_confidence(logits, np.array([1, 2])), [3 / 5, 1 / 3], rtol=1e-12)
    with pytest.raises(ValueError, match="labels must lie"):
        true_class_confidence(logits, np.array([0, 3]))


def test_prediction_entropy_hand_values_and_scipy() -> None:
    logits = np.array([[0.0, 0.0, 0.0], [0.0, LN3, -1e4], [800.0, 0.0, 0.0]])
    h = prediction_entropy(logits)
    # Uniform over 3 → ln 3; (1/4, 3/4, 0) → −(¼ ln ¼ + ¾ ln ¾); certain → 0, never NaN.
    np.testing.assert_allclose(h, [LN3, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), 0.0], atol=1e-12)
    random = np.random.default_rng(0).normal(size=(20, 5)) * 4
    np.testing.assert_allclose(prediction_entropy(random), scipy_entropy(softmax(random), axis=1), rtol=1e-10)


def test_shadow_sets_take_the_first_examples() -> None:
    a, b = np.arange(10.0), np.arange(4.0)
    sa, sb = shadow_sets(a, b)  # the reference's Subset(retain, range(len(test))) beside the whole test set
    np.testing.assert_array_equal(sa, a[:4])
    np.testing.assert_array_equal(sb, b)
    sb2, sa2 = shadow_sets(b, a)  # fewer members than non-members: the test side is cut instead
    np.testing.assert_array_equal(sb2, b)
    np.testing.assert_array_equal(sa2, a[:4])
    same = shadow_sets(a, a + 1)
    np.testing.assert_array_equal(same[0], a)


# --------------------------------------------------------------------------- mia_efficacy


def test_svc_mia_efficacy_separable_ends() -> None:
    members, non_members = np.full(10, 0.99), np.full(10, 0.3)
    assert svc_mia_efficacy(members, non_members, np.full(5, 0.3)) == 1.0  # forget looks unseen
    assert svc_mia_efficacy(members, non_members, np.full(5, 0.99)) == 0.0  # forget looks trained on
    # Three of four forget examples look unseen.
    assert svc_mia_efficacy(members, non_members, np.array([0.3, 0.31, 0.99, 0.29])) == 0.75


def test_svc_mia_efficacy_matches_independent_svc() -> None:
    rng = np.random.default_rng(4)
    members, non_members = rng.beta(8, 1, size=80), rng.beta(2, 2, size=30)
    target = rng.beta(4, 2, size=25)
    got = svc_mia_efficacy(members, non_members, target)
    kept = members[:30]
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(
        np.r_[kept, non_members].reshape(-1, 1), np.r_[np.ones(30), np.zeros(30)]
    )
    assert got == pytest.approx(1.0 - clf.predict(target.reshape(-1, 1)).mean(), abs=1e-15)
    assert 0.0 < got < 1.0


def test_mia_efficacy_plugin_retrained_and_original_ends() -> None:
    labels = _labels()
    assert MIAEfficacy().compute(_ctx(_retrained(labels), labels)) == 1.0
    assert MIAEfficacy().compute(_ctx(_original(labels), labels)) == 0.0


def test_mia_efficacy_is_memoised_on_the_confidences(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = mia_module.svc_mia_efficacy

    def counting(*args: Any, **kwargs: Any) -> float:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mia_module, "svc_mia_efficacy", counting)
    monkeypatch.setattr(mia_module, "_CACHE", {})
    labels = _labels()
    outputs = _model(labels, forget=2.5)
    first = mia_efficacy_of(outputs, labels)
    copy = ModelOutputs({s: v.copy() for s, v in outputs.logits.items()})
    assert mia_efficacy_of(copy, labels) == first and len(calls) == 1
    mia_efficacy_of(_model(labels, forget=2.6), labels)
    assert len(calls) == 2


def test_mia_efficacy_rejects_empty_forget() -> None:
    with pytest.raises(ValueError, match="target features are empty"):
        svc_mia_efficacy(np.ones(3), np.zeros(3), np.array([]))


# --------------------------------------------------------------------------- loss_mia_auc


def test_roc_auc_hand_value_with_tie() -> None:
    # Pairs (3,1) (3,2) (2,1) win, (2,2) ties: (3 + 0.5) / 4.
    assert roc_auc(np.array([3.0, 2.0]), np.array([1.0, 2.0])) == 0.875
    assert roc_auc(np.ones(4), np.ones(6)) == 0.5


def test_tpr_at_fpr_hand_values() -> None:
    neg = np.arange(100.0)  # FPR 1 % allows one negative (99), 0.1 % none
    pos = np.array([99.5, 98.5, 50.5, 200.0])
    assert tpr_at_fpr(pos, neg, 0.01) == 0.75  # threshold just above 98
    assert tpr_at_fpr(pos, neg, 0.001) == 0.5  # threshold just above 99
    assert tpr_at_fpr(pos, neg, 0.0) == 0.5
    assert tpr_at_fpr(pos, neg, 1.0) == 1.0
    # A positive tied with the first excluded negative is not counted: it cannot be taken alone.
    assert tpr_at_fpr(np.array([98.0, 100.0]), neg, 0.01) == 0.5
    with pytest.raises(ValueError, match="max_fpr"):
        tpr_at_fpr(pos, neg, 1.5)


@pytest.mark.parametrize("seed", range(4))
def test_roc_functions_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos = np.round(rng.normal(0.7, 1.0, size=rng.integers(5, 300)), 1)  # rounded: many ties
    neg = np.round(rng.normal(0.0, 1.0, size=rng.integers(5, 1500)), 1)
    y, s = np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg]
    assert roc_auc(pos, neg) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    got_fpr, got_tpr = roc_points(pos, neg)
    np.testing.assert_allclose(got_fpr, fpr, atol=1e-15)
    np.testing.assert_allclose(got_tpr, tpr, atol=1e-15)
    for rate in (0.0, 0.001, 0.01, 0.05, 0.2, 1.0 / neg.size):
        assert tpr_at_fpr(pos, neg, rate) == pytest.approx(float(tpr[fpr <= rate].max()), abs=1e-15)


def test_loss_attack_uses_low_loss_as_member() -> None:
    values = loss_attack(np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0]), suffix="_x")
    assert values == {"auc_x": 1.0, "tpr@1%_x": 1.0, "tpr@0.1%_x": 1.0}
    assert loss_attack(np.array([5.0, 6.0]), np.array([1.0, 2.0]))["auc"] == 0.0


def test_loss_mia_auc_plugin_ends_and_retain_ceiling() -> None:
    labels = _labels()
    original = LossMIAAUC().compute(_ctx(_original(labels), labels))
    assert list(original) == list(LossMIAAUC.columns)
    assert original["auc"] == original["auc_retain"] == 1.0  # forget as visible as retain
    assert original["tpr@1%"] == original["tpr@0.1%"] == 1.0
    retrained = LossMIAAUC().compute(_ctx(_retrained(labels), labels))
    assert retrained["auc"] == 0.5 and retrained["tpr@1%"] == 0.0  # forget losses equal test losses
    assert retrained["auc_retain"] == 1.0


def test_loss_mia_auc_plugin_matches_sklearn_on_losses() -> None:
    ctx = _random_ctx(5)
    values = LossMIAAUC().compute(ctx)
    forget = cross_entropy(ctx.outputs["forget"], ctx.labels["forget"])
    test = cross_entropy(ctx.outputs["test"], ctx.labels["test"])
    y = np.r_[np.ones(forget.size), np.zeros(test.size)]
    assert values["auc"] == pytest.approx(roc_auc_score(y, -np.r_[forget, test]), abs=1e-12)


# --------------------------------------------------------------------------- entropy_mia


def test_entropy_attack_ends() -> None:
    members, non_members = np.full(20, 0.01), np.full(8, 1.0)
    assert entropy_attack(members, non_members, np.full(5, 0.01)) == 1.0
    assert entropy_attack(members, non_members, np.full(5, 1.0)) == 0.0
    assert entropy_attack(members, non_members, np.array([0.0, 0.02, 0.9, 1.1])) == 0.5


def test_entropy_attack_is_the_two_class_multinomial_model() -> None:
    # The reference code fits scikit-learn's multinomial logistic regression (C = 1) on two classes.
    # Minimise that objective directly and compare with the binary model at C = 2.
    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(0.3, 0.3, 60), rng.normal(0.9, 0.4, 25)]
    y = np.r_[np.ones(60), np.zeros(25)].astype(int)
    weight = np.where(y == 1, x.size / (2 * 60), x.size / (2 * 25))  # class_weight="balanced"

    def objective(theta: np.ndarray) -> float:
        w, b = theta[:2], theta[2:]
        logits = np.outer(x, w) + b  # columns: class 0, class 1
        log_p = logits - np.logaddexp(logits[:, 0], logits[:, 1])[:, None]
        return float(-np.sum(weight * log_p[np.arange(x.size), y]) + 0.5 * np.sum(w**2))

    theta = optimize.minimize(objective, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    binary = LogisticRegression(C=EQUIVALENT_C, class_weight="balanced", tol=1e-10, max_iter=1000)
    binary.fit(x.reshape(-1, 1), y)
    assert binary.coef_[0, 0] == pytest.approx(theta[1] - theta[0], rel=1e-4)
    assert binary.intercept_[0] == pytest.approx(theta[3] - theta[2], rel=1e-4)
    unit = LogisticRegression(C=1.0, class_weight="balanced", tol=1e-10, max_iter=1000)
    unit.fit(x.reshape(-1, 1), y)
    assert abs(unit.coef_[0, 0] - (theta[1] - theta[0])) > 1e-2  # C = 1 binary is a different model


def test_entropy_mia_plugin_ends() -> None:
    labels = _labels()
    # Original: forget as confident (low entropy) as retain → all called members.
    assert EntropyMIA().compute(_ctx(_original(labels), labels)) == 1.0
    assert EntropyMIA().compute(_ctx(_retrained(labels), labels)) == 0.0


# --------------------------------------------------------------------------- js_to_oracle


def test_js_divergence_hand_values() -> None:
    p, q, m = np.array([0.5, 0.5]), np.array([0.25, 0.75]), np.array([0.375, 0.625])
    expected = 0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m))
    got = js_divergence(np.log(p)[None], np.log(q)[None])
    np.testing.assert_allclose(got, [expected], rtol=1e-12)
    # Disjoint certain predictions → ln 2 (probabilities underflow, no NaN); equal → 0.
    opposite = js_divergence(np.array([[800.0, 0.0]]), np.array([[0.0, 800.0]]))
    np.testing.assert_allclose(opposite, [LN2], rtol=1e-12)
    row = np.array([[1.0, 2.0, 3.0]])
    assert js_divergence(row, row.copy())[0] == pytest.approx(0.0, abs=1e-15)


def test_js_divergence_matches_scipy_squared() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(40, 6)) * 3, rng.normal(size=(40, 6)) * 3
    ref = jensenshannon(softmax(a), softmax(b), axis=1) ** 2  # scipy returns the square root
    np.testing.assert_allclose(js_divergence(a, b), ref, rtol=1e-9, atol=1e-15)
    assert np.all(js_divergence(a, b) <= LN2)


def test_js_to_oracle_plugin_perfect_and_far() -> None:
    labels = _labels()
    oracle = _retrained(labels)
    same = JSToOracle().compute(_ctx(oracle, labels, oracles=[oracle]))
    assert list(same) == ["js_forget", "js_test"] and same["js_forget"] == pytest.approx(0.0, abs=1e-15)
    # The opposite certain prediction on every forget example, against two identical oracles → ln 2 (to
    # within the 1e-3 of probability the margin leaves).
    far = _model(labels, retain=8.0, forget=(30.0, False), test=1.0, val=1.0)
    sharp = _model(labels, retain=8.0, forget=30.0, test=1.0, val=1.0)
    value = JSToOracle().compute(_ctx(far, labels, oracles=[sharp, sharp]))
    assert value["js_forget"] == pytest.approx(LN2, abs=1e-9)
    assert value["js_test"] == pytest.approx(0.0, abs=1e-15)


def test_js_to_oracle_averages_over_oracles() -> None:
    ctx = _random_ctx(2)
    first, second = ctx.oracle_outputs
    per = [float(np.mean(js_divergence(ctx.outputs["forget"], o["forget"]))) for o in (first, second)]
    got = mean_js_to_oracles(ctx.outputs, [first, second], "forget")
    assert got == pytest.approx(np.mean(per), abs=1e-15)


# --------------------------------------------------------------------------- activation_distance


def test_activation_distance_hand_values_and_scipy() -> None:
    p, q = np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([[0.25, 0.75], [0.25, 0.75]])
    got = activation_distance(np.log(p), np.log(q))
    np.testing.assert_allclose(got, [math.sqrt(2 * 0.25**2), 0.0], atol=1e-12)
    opposite = activation_distance(np.array([[800.0, 0.0]]), np.array([[0.0, 800.0]]))
    np.testing.assert_allclose(opposite, [math.sqrt(2.0)], rtol=1e-12)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(10, 4)), rng.normal(size=(10, 4))
    ref = [euclidean(p, q) for p, q in zip(softmax(a), softmax(b), strict=True)]
    np.testing.assert_allclose(activation_distance(a, b), ref, rtol=1e-12)


def test_activation_distance_plugin_perfect_far_and_oracle_mean() -> None:
    labels = _labels()
    sharp = _model(labels, forget=40.0)
    far = _model(labels, forget=(40.0, False))
    assert ActivationDistance().compute(_ctx(sharp, labels, oracles=[sharp])) == 0.0
    assert ActivationDistance().compute(_ctx(far, labels, oracles=[sharp])) == pytest.approx(math.sqrt(2))
    # One identical and one opposite oracle: (0 + √2) / 2.
    value = mean_activation_distance(far, [far, sharp])
    assert value == pytest.approx(math.sqrt(2) / 2)


# --------------------------------------------------------------------------- avg_gap


def test_average_gap_hand_value() -> None:
    values = {"UA": 0.1, "RA": 0.9, "TA": 0.8, "MIA": 0.3}
    reference = {"UA": 0.2, "RA": 1.0, "TA": 0.7, "MIA": 0.5}
    assert average_gap(values, reference) == pytest.approx((0.1 + 0.1 + 0.1 + 0.2) / 4)
    with pytest.raises(ValueError, match="missing MIA"):
        average_gap({"UA": 0, "RA": 0, "TA": 0}, reference)


def test_avg_gap_plugin_hand_built_models() -> None:
    labels = _labels()
    oracle = _retrained(labels)  # UA 0, RA 1, TA 1, MIA 1
    assert AvgGap().compute(_ctx(oracle, labels, oracles=[oracle])) == 0.0
    # Original-like with a quarter of the test set wrong: UA 0, RA 1, TA 0.75, MIA 0.
    test_logits = _margin_logits(labels["test"], 1.0)
    test_logits[:3] = _margin_logits(labels["test"][:3], 1.0, correct=False)
    model = ModelOutputs({**_original(labels).logits, "test": test_logits})
    ctx = _ctx(model, labels, oracles=[oracle])
    assert gap_profile(ctx) == {"UA": 0.0, "RA": 1.0, "TA": 0.75, "MIA": 0.0}
    assert AvgGap().compute(ctx) == pytest.approx((0 + 0 + 0.25 + 1.0) / 4)


def test_avg_gap_reference_is_the_oracle_mean() -> None:
    labels = _labels()
    good = _retrained(labels)
    # Half of retain wrong (RA 0.5) and the forget set wrong (UA 1): an oracle that differs on RA and UA.
    retain = _margin_logits(labels["retain"], 8.0)
    retain[:6] = _margin_logits(labels["retain"][:6], 8.0, correct=False)
    wrong_forget = _margin_logits(labels["forget"], 1.0, correct=False)
    odd = ModelOutputs({**good.logits, "retain": retain, "forget": wrong_forget})
    ctx = _ctx(good, labels, oracles=[good, odd])
    ref = oracle_profile(ctx, [good, odd])
    assert ref["RA"] == 0.75 and ref["UA"] == 0.5
    expected = average_gap(gap_profile(ctx), ref)
    assert AvgGap().compute(ctx) == pytest.approx(expected)
    assert expected > 0


@pytest.mark.parametrize("metric", [JSToOracle(), ActivationDistance(), AvgGap()])
def test_oracle_metrics_without_oracles_are_not_applicable(metric: Any) -> None:
    labels = _labels()
    with pytest.raises(MetricNotApplicable, match="retrained model"):
        metric.compute(_ctx(_retrained(labels), labels, oracles=[]))


# --------------------------------------------------------------------------- contract over all six


def _registered(module_name: str) -> list[type]:
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    pm.register(importlib.import_module(f"unlearnbench.metrics.{module_name}"))
    return [cls for classes in pm.hook.unlearnbench_add_metrics() for cls in classes]


@pytest.mark.parametrize("module_name", ZOO)
def test_metric_contract(module_name: str) -> None:
    registered = _registered(module_name)
    assert len(registered) == 1
    cls: Any = registered[0]
    metric = cls()
    assert cls.name == module_name
    assert isinstance(metric, api.Metric)
    assert cls.description and "\n" not in cls.description
    assert api.metric_needs(metric) <= api.NEED_KINDS
    assert api.metric_scope(metric) == ("population" if module_name == "avg_gap" else "model")

    def run() -> dict[str, float]:
        value = metric.compute(_random_ctx(11))
        return dict(value) if isinstance(value, Mapping) else {module_name: float(value)}

    first, second = run(), run()
    assert first == second  # identical inputs → identical values
    assert all(math.isfinite(v) for v in first.values())
    hib = cls.higher_is_better
    if hasattr(cls, "columns"):
        assert tuple(first) == cls.columns
        assert isinstance(hib, Mapping) and set(hib) == set(cls.columns)
    else:
        assert hib is None or isinstance(hib, bool)
    for column in first:
        assert api.higher_is_better(metric, column) in (True, False, None)
