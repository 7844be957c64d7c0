"""Tests of unlearnbench.metrics.mia_efficacy: the true-class confidence, the shadow sets and the SVC attack,
against hand-computed values and an independent scikit-learn SVC; the plugin on hand-built outputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from metric_helpers import check_metric_contract, hand_ctx, margin_model, original_like, retrained_like, split_labels
from sklearn.svm import SVC

from unlearnbench.api import ModelOutputs
from unlearnbench.metrics import mia_efficacy as mia_module
from unlearnbench.metrics.mia_efficacy import (
    MIAEfficacy,
    mia_efficacy_of,
    shadow_sets,
    svc_mia_efficacy,
    true_class_confidence,
)


def test_true_class_confidence_hand_values() -> None:
    logits = np.array([[0.0, math.log(3.0), 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(true_class_confidence(logits, np.array([1, 2])), [3 / 5, 1 / 3], rtol=1e-12)
    with pytest.raises(ValueError, match="labels must lie"):
        true_class_confidence(logits, np.array([0, 3]))


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
    labels = split_labels()
    assert MIAEfficacy().compute(hand_ctx(retrained_like(labels), labels)) == 1.0
    assert MIAEfficacy().compute(hand_ctx(original_like(labels), labels)) == 0.0


def test_mia_efficacy_is_memoised_on_the_confidences(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = mia_module.svc_mia_efficacy

    def counting(*args: Any, **kwargs: Any) -> float:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mia_module, "svc_mia_efficacy", counting)
    monkeypatch.setattr(mia_module, "_CACHE", {})
    labels = split_labels()
    outputs = margin_model(labels, forget=2.5)
    first = mia_efficacy_of(outputs, labels)
    copy = ModelOutputs({s: v.copy() for s, v in outputs.logits.items()})
    assert mia_efficacy_of(copy, labels) == first and len(calls) == 1
    mia_efficacy_of(margin_model(labels, forget=2.6), labels)
    assert len(calls) == 2


def test_mia_efficacy_rejects_empty_forget() -> None:
    with pytest.raises(ValueError, match="target features are empty"):
        svc_mia_efficacy(np.ones(3), np.zeros(3), np.array([]))


def test_metric_contract() -> None:
    check_metric_contract("mia_efficacy")
