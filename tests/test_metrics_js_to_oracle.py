"""Tests of unlearnbench.metrics.js_to_oracle: the Jensen-Shannon divergence against hand-computed values and
scipy; the plugin on hand-built outputs and oracles."""

from __future__ import annotations

import numpy as np
import pytest
from metric_helpers import check_metric_contract, hand_ctx, margin_model, random_ctx, retrained_like, split_labels
from scipy.spatial.distance import jensenshannon

from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics._functional import softmax
from unlearnbench.metrics.js_to_oracle import LN2, JSToOracle, js_divergence, mean_js_to_oracles


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
    labels = split_labels()
    oracle = retrained_like(labels)
    same = JSToOracle().compute(hand_ctx(oracle, labels, oracles=[oracle]))
    assert list(same) == ["js_forget", "js_test"] and same["js_forget"] == pytest.approx(0.0, abs=1e-15)
    # The opposite certain prediction on every forget example, against two identical oracles → ln 2 (to
    # within the 1e-3 of probability the margin leaves).
    far = margin_model(labels, retain=8.0, forget=(30.0, False), test=1.0, val=1.0)
    sharp = margin_model(labels, retain=8.0, forget=30.0, test=1.0, val=1.0)
    value = JSToOracle().compute(hand_ctx(far, labels, oracles=[sharp, sharp]))
    assert value["js_forget"] == pytest.approx(LN2, abs=1e-9)
    assert value["js_test"] == pytest.approx(0.0, abs=1e-15)


def test_js_to_oracle_averages_over_oracles() -> None:
    ctx = random_ctx(2)
    first, second = ctx.oracle_outputs
    per = [float(np.mean(js_divergence(ctx.outputs["forget"], o["forget"]))) for o in (first, second)]
    got = mean_js_to_oracles(ctx.outputs, [first, second], "forget")
    assert got == pytest.approx(np.mean(per), abs=1e-15)


def test_without_oracles_is_not_applicable() -> None:
    labels = split_labels()
    with pytest.raises(MetricNotApplicable, match="retrained model"):
        JSToOracle().compute(hand_ctx(retrained_like(labels), labels, oracles=[]))


def test_metric_contract() -> None:
    check_metric_contract("js_to_oracle")
