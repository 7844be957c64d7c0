"""Tests of unlearnbench.metrics.loss_mia_auc: ROC AUC and TPR at a fixed FPR against hand-computed values and
scikit-learn; the plugin on hand-built outputs."""

from __future__ import annotations

import numpy as np
import pytest
from metric_helpers import check_metric_contract, hand_ctx, original_like, random_ctx, retrained_like, split_labels
from sklearn.metrics import roc_auc_score, roc_curve

from unlearnbench.metrics._functional import cross_entropy
from unlearnbench.metrics.loss_mia_auc import LossMIAAUC, loss_attack, roc_auc, roc_points, tpr_at_fpr


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
    labels = split_labels()
    original = LossMIAAUC().compute(hand_ctx(original_like(labels), labels))
    assert list(original) == list(LossMIAAUC.columns)
    assert original["auc"] == original["auc_retain"] == 1.0  # forget as visible as retain
    assert original["tpr@1%"] == original["tpr@0.1%"] == 1.0
    retrained = LossMIAAUC().compute(hand_ctx(retrained_like(labels), labels))
    assert retrained["auc"] == 0.5 and retrained["tpr@1%"] == 0.0  # forget losses equal test losses
    assert retrained["auc_retain"] == 1.0


def test_loss_mia_auc_plugin_matches_sklearn_on_losses() -> None:
    ctx = random_ctx(5)
    values = LossMIAAUC().compute(ctx)
    forget = cross_entropy(ctx.outputs["forget"], ctx.labels["forget"])
    test = cross_entropy(ctx.outputs["test"], ctx.labels["test"])
    y = np.r_[np.ones(forget.size), np.zeros(test.size)]
    assert values["auc"] == pytest.approx(roc_auc_score(y, -np.r_[forget, test]), abs=1e-12)


def test_metric_contract() -> None:
    check_metric_contract("loss_mia_auc")
