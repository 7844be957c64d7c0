"""Tests of unlearnbench.metrics.activation_distance: the distance between probability vectors against
hand-computed values and scipy; the plugin on hand-built outputs and oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metric_helpers import check_metric_contract, hand_ctx, margin_model, retrained_like, split_labels
from scipy.spatial.distance import euclidean

from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics._functional import softmax
from unlearnbench.metrics.activation_distance import (
    ActivationDistance,
    activation_distance,
    mean_activation_distance,
)


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
    labels = split_labels()
    sharp = margin_model(labels, forget=40.0)
    far = margin_model(labels, forget=(40.0, False))
    assert ActivationDistance().compute(hand_ctx(sharp, labels, oracles=[sharp])) == 0.0
    assert ActivationDistance().compute(hand_ctx(far, labels, oracles=[sharp])) == pytest.approx(math.sqrt(2))
    # One identical and one opposite oracle: (0 + √2) / 2.
    value = mean_activation_distance(far, [far, sharp])
    assert value == pytest.approx(math.sqrt(2) / 2)


def test_without_oracles_is_not_applicable() -> None:
    labels = split_labels()
    with pytest.raises(MetricNotApplicable, match="retrained model"):
        ActivationDistance().compute(hand_ctx(retrained_like(labels), labels, oracles=[]))


def test_metric_contract() -> None:
    check_metric_contract("activation_distance")
