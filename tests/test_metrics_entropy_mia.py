"""Tests of unlearnbench.metrics.entropy_mia: the prediction entropy against hand-computed values and scipy, the
attack against the reference's two-class multinomial model; the plugin on hand-built outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metric_helpers import check_metric_contract, hand_ctx, original_like, retrained_like, split_labels
from scipy import optimize
from scipy.stats import entropy as scipy_entropy
from sklearn.linear_model import LogisticRegression

from unlearnbench.metrics._functional import softmax
from unlearnbench.metrics.entropy_mia import EQUIVALENT_C, EntropyMIA, entropy_attack, prediction_entropy

LN3 = math.log(3.0)


def test_prediction_entropy_hand_values_and_scipy() -> None:
    logits = np.array([[0.0, 0.0, 0.0], [0.0, LN3, -1e4], [800.0, 0.0, 0.0]])
    h = prediction_entropy(logits)
    # Uniform over 3 → ln 3; (1/4, 3/4, 0) → −(¼ ln ¼ + ¾ ln ¾); certain → 0, never NaN.
    np.testing.assert_allclose(h, [LN3, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), 0.0], atol=1e-12)
    random = np.random.default_rng(0).normal(size=(20, 5)) * 4
    np.testing.assert_allclose(prediction_entropy(random), scipy_entropy(softmax(random), axis=1), rtol=1e-10)


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
    labels = split_labels()
    # Original: forget as confident (low entropy) as retain → all called members.
    assert EntropyMIA().compute(hand_ctx(original_like(labels), labels)) == 1.0
    assert EntropyMIA().compute(hand_ctx(retrained_like(labels), labels)) == 0.0


def test_metric_contract() -> None:
    check_metric_contract("entropy_mia")
