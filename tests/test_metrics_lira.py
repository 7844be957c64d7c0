"""Tests of unlearnbench.metrics.lira, against hand-computed values and scikit-learn, and on the tiny bench."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.forgetting_quality import logit_scaled_confidence
from unlearnbench.metrics.lira import LiRA, lira_scores, lira_summary
from unlearnbench.testing import eval_context, tiny_bench


def test_lira_scores_by_hand() -> None:
    oracle = np.array([[0.0, 1.0], [2.0, 3.0]])  # μ = (1, 2); variances 2 and 2 → σ = √2
    z = lira_scores(np.array([1.0 + math.sqrt(2), 2.0]), oracle)
    np.testing.assert_allclose(z, [1.0, 0.0])
    with pytest.raises(MetricNotApplicable):
        lira_scores(np.zeros(2), oracle[:1])


def test_lira_summary_against_sklearn() -> None:
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(1.0, 1.0, size=(30, 2)), rng.normal(0.0, 1.0, size=(200, 2))
    out = lira_summary(pos, neg)
    labels = np.r_[np.ones(60), np.zeros(400)]
    assert out["auc"] == pytest.approx(roc_auc_score(labels, np.r_[pos.ravel(), neg.ravel()]))
    assert out["gap"] == pytest.approx(abs(out["auc"] - 0.5))
    # 400 negatives: FPR 1 % allows 4 of them at or above the threshold.
    threshold = np.sort(neg.ravel())[::-1][4]
    assert out["tpr@1%"] == pytest.approx(np.mean(pos.ravel() > threshold))


def test_lira_plugin_separates_members_and_is_chance_for_oracles() -> None:
    bench = tiny_bench(oracles=4)
    oracles = bench.oracle_pool(4)
    labels = bench.labels

    def ctx_of(replicates: list[ModelOutputs]) -> EvalContext:
        return eval_context(
            replicates[0].logits, labels, oracle_logits=[o.outputs.logits for o in oracles],
            replicates=[r.logits for r in replicates],
        )  # fmt: skip

    # The tiny bench's original is about as over-confident on test as on forget (φ ≈ +4 over the oracles on
    # both), so it separates nothing; a retrained model made confident on the forget set alone does: +3 on
    # the true-class logit is +3 on φ, about 6 global σ.
    remembering = []
    for s in range(2):
        logits = dict(bench.independent_oracle(s).outputs.logits)
        boosted = np.array(logits["forget"], copy=True)
        boosted[np.arange(boosted.shape[0]), labels["forget"]] += 3.0
        remembering.append(ModelOutputs({**logits, "forget": boosted}))
    members = LiRA().compute(ctx_of(remembering))
    retrained = LiRA().compute(ctx_of([bench.independent_oracle(s).outputs for s in range(2)]))
    assert members["auc"] > 0.95 and members["tpr@1%"] > 0.5
    assert abs(retrained["auc"] - 0.5) < 0.15  # (26 forget examples: chance within sampling noise)
    phi = logit_scaled_confidence(bench.original().outputs["forget"], labels["forget"])
    assert np.all(np.isfinite(phi))
