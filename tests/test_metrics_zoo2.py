"""Tests of weight_distance, zrf, relearn_time, lira and the stratified bootstrap, against hand-computed
values, scipy and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.forgetting_quality import logit_scaled_confidence
from unlearnbench.metrics.lira import LiRA, lira_scores, lira_summary
from unlearnbench.metrics.relearn_time import RelearnTime, forget_loss, relearn_epochs
from unlearnbench.metrics.weight_distance import WeightDistance, parameter_names, weight_distance
from unlearnbench.metrics.zrf import ZRF, oracle_zrf, zrf_score
from unlearnbench.results import ItemResult, SeedResult, paired_to_reference, summarise
from unlearnbench.stats import bootstrap_interval, stratified_bootstrap
from unlearnbench.testing import eval_context, fresh_original, tiny_bench

# --------------------------------------------------------------------------- weight_distance


def test_weight_distance_by_hand_and_buffers_ignored() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0]), "bn.running_mean": torch.tensor([5.0]),
         "bn.num_batches_tracked": torch.tensor(3)}  # fmt: skip
    b = {"w": torch.tensor([4.0, 6.0]), "b": torch.tensor([12.0]), "bn.running_mean": torch.tensor([-5.0]),
         "bn.num_batches_tracked": torch.tensor(9)}  # fmt: skip
    assert parameter_names(a) == ["b", "w"]
    assert weight_distance(a, b) == pytest.approx(13.0)  # sqrt(3² + 4² + 12²)
    assert weight_distance(a, a) == 0.0
    with pytest.raises(ValueError, match="different parameters"):
        weight_distance(a, {"w": torch.zeros(2)})


def test_weight_distance_plugin() -> None:
    state = {"w": torch.tensor([0.0, 0.0])}
    ctx = eval_context({"forget": np.zeros((1, 2))}, {"forget": np.zeros(1, dtype=np.int64)})
    ctx.state, ctx.original_state = state, {"w": torch.tensor([3.0, 4.0])}
    ctx.oracle_states = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([0.0, 3.0])}]
    # All-zero weights have no normalised distance: only the raw columns.
    assert WeightDistance().compute(ctx) == {"to_oracle": pytest.approx(2.0), "to_original": pytest.approx(5.0)}
    ctx.state = None
    with pytest.raises(MetricNotApplicable):
        WeightDistance().compute(ctx)


# --------------------------------------------------------------------------- zrf


def test_zrf_by_hand_and_against_scipy() -> None:
    same = np.array([[1.0, 2.0, 3.0]])
    assert zrf_score(same, same) == pytest.approx(1.0)
    # Certain predictions of different classes: JS = ln 2 nats, ZRF = 1 - ln 2 (its minimum).
    opposite = zrf_score(np.array([[100.0, 0.0]]), np.array([[0.0, 100.0]]))
    assert opposite == pytest.approx(1 - math.log(2), abs=1e-9)
    # p = (1, 0), q = (½, ½): m = (¾, ¼); JS = ½ ln(4/3) + ½ (½ ln(2/3) + ½ ln 2) nats.
    js = 0.5 * math.log(4 / 3) + 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    assert zrf_score(np.array([[60.0, 0.0]]), np.zeros((1, 2))) == pytest.approx(1 - js, abs=1e-9)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    pa = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    pb = np.exp(b) / np.exp(b).sum(1, keepdims=True)
    expected = 1 - np.mean(jensenshannon(pa, pb, axis=1) ** 2)  # natural logarithms
    assert zrf_score(a, b) == pytest.approx(expected, abs=1e-10)


def test_zrf_plugin_gap_to_oracles() -> None:
    labels = {"forget": np.array([0, 1])}
    random = ModelOutputs({"forget": np.zeros((2, 2))})
    oracle = ModelOutputs({"forget": np.array([[60.0, 0.0], [0.0, 60.0]])})
    ctx = eval_context({"forget": np.zeros((2, 2))}, labels, oracle_logits=[oracle.logits] * 2, random_outputs=random)
    values = ZRF().compute(ctx)
    assert values["zrf"] == pytest.approx(1.0)
    assert values["zrf_oracle"] == pytest.approx(oracle_zrf([oracle], random))
    assert values["gap"] == pytest.approx(1.0 - values["zrf_oracle"])


# --------------------------------------------------------------------------- relearn_time


def test_relearn_epochs_one_when_already_there_and_never_mutates() -> None:
    bench = tiny_bench()
    model = fresh_original(bench)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train, forget = bench.data["train"], bench.data["forget"]
    # Already at the threshold: no epoch trained, reported as the reference's retrain_time + 1 = 1.
    assert relearn_epochs(model, train, forget, forget_loss(model, forget), seed=0) == (1, False)
    steps, capped = relearn_epochs(model, train, forget, -1.0, seed=0, max_epochs=3)
    assert (steps, capped) == (3, True)  # an unreachable target runs to the cap
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_relearn_time_orders_original_below_random_model() -> None:
    bench = tiny_bench()
    ctx = eval_context(
        bench.original().outputs.logits, bench.labels, original_logits=bench.original().outputs.logits,
        data=bench.data, model=fresh_original(bench),
    )  # fmt: skip
    assert RelearnTime().compute(ctx) == {"steps": 1.0, "capped": 0.0}
    ctx.model = bench.model_from_state(bench.random_reference().state)
    first = RelearnTime().compute(ctx)
    assert first["steps"] > 1
    ctx.model = bench.model_from_state(bench.random_reference().state)
    assert RelearnTime().compute(ctx) == first  # deterministic under the seed


# --------------------------------------------------------------------------- lira


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


# --------------------------------------------------------------------------- statistics


def test_stratified_bootstrap_matches_scipy_for_one_group() -> None:
    x = np.random.default_rng(3).exponential(size=80)
    ours = stratified_bootstrap(lambda g: {"m": float(np.mean(g))}, [x], 2000, seed=5)["m"]
    same = bootstrap_interval(np.mean, x, 2000, seed=5)
    assert (ours.low, ours.high) == pytest.approx((same.low, same.high))
    ref = scipy_stats.bootstrap((x,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(5))
    assert (ours.low, ours.high) == pytest.approx(
        (ref.confidence_interval.low, ref.confidence_interval.high), rel=1e-12
    )


def test_stratified_bootstrap_resamples_groups_separately() -> None:
    a, b = np.zeros(10), np.ones(5)
    out = stratified_bootstrap(lambda x, y: {"n": float(x.size + 10 * y.size), "d": float(y.mean() - x.mean())},
                               [a, b], 50, seed=0)  # fmt: skip
    assert (out["n"].low, out["n"].high) == (60.0, 60.0)  # group sizes never change
    assert (out["d"].estimate, out["d"].low, out["d"].high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        stratified_bootstrap(lambda x: {"m": float("nan")}, [a], 10)


def _item(method: str, values: list[float]) -> ItemResult:
    seeds = tuple(SeedResult(seed=i, values={"c": v}, unlearn_seconds=1.0) for i, v in enumerate(values))
    return ItemResult(item_id=method, method=method, params={}, description="", outcome="passed", seeds=seeds)


def test_paired_to_reference_is_a_t_interval_of_differences() -> None:
    item, ref = _item("m", [1.0, 2.0, 4.0]), _item("retrain", [0.5, 1.0, 3.0])
    paired = paired_to_reference(item, ref)["c"]
    expected = summarise([0.5, 1.0, 1.0])
    assert paired.mean == pytest.approx(2.5 / 3)
    assert (paired.ci_low, paired.ci_high) == (expected.ci_low, expected.ci_high)
    result = scipy_stats.ttest_rel([1.0, 2.0, 4.0], [0.5, 1.0, 3.0]).confidence_interval(0.95)
    assert (paired.ci_low, paired.ci_high) == pytest.approx((result.low, result.high))
    assert paired_to_reference(ref, ref) == {}
    assert paired_to_reference(_item("m", [1.0]), ref)["c"].ci_low is None  # one pair: no interval
