"""The data behind the report's pictures, checked against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unlearnbench.api import ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.forgetting_quality import (
    epsilon_points,
    forgetting_quality,
    logit_scaled_confidence,
)
from unlearnbench.runner.diagnostics import (
    HISTOGRAM_BINS,
    ROC_POINTS,
    epsilon_histogram,
    fixed_histogram,
    item_diagnostics,
    jsonable,
    per_class_accuracy,
    roc_curve,
    roc_summary,
    tpr_at_fpr,
)


def test_fixed_histogram_by_hand() -> None:
    values = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.9, 4.0, 5.0, -1.0])
    # Bins [0,1) [1,2) [2,3) [3,4]; -1 is clipped into the first, 5 into the last.
    assert fixed_histogram(values, 0.0, 4.0, 4) == [3, 2, 1, 3]
    assert fixed_histogram(np.array([]), 0.0, 1.0, 3) == [0, 0, 0]
    with pytest.raises(ValueError):
        fixed_histogram(values, 1.0, 1.0, 4)


def test_roc_curve_by_hand() -> None:
    members = np.array([0.9, 0.8, 0.4])
    others = np.array([0.7, 0.3, 0.2, 0.1])
    fpr, tpr = roc_curve(members, others)
    assert fpr.tolist() == pytest.approx([0, 0, 0, 0.25, 0.25, 0.5, 0.75, 1.0])
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    assert tpr_at_fpr(fpr, tpr, 0.0) == pytest.approx(2 / 3)
    assert tpr_at_fpr(fpr, tpr, 0.2) == pytest.approx(2 / 3)
    assert tpr_at_fpr(fpr, tpr, 0.25) == 1.0
    # 11 of the 12 member/non-member pairs are ordered correctly.
    assert roc_summary(members, others)["auc"] == pytest.approx(11 / 12)


def test_roc_ties_count_half() -> None:
    summary = roc_summary(np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    assert summary["auc"] == pytest.approx(0.75)
    with pytest.raises(ValueError):
        roc_curve(np.array([]), np.array([1.0]))


def test_tpr_at_low_fpr_by_hand() -> None:
    # 1000 non-members at 0.000 ... 0.999; 30 members far above, 20 at 0.995 (5 non-members tie or beat
    # them: FPR 0.5 %), 50 at 0.5 (FPR 50 %).
    others = np.arange(1000) / 1000
    members = np.array([2.0] * 30 + [0.995] * 20 + [0.5] * 50)
    summary = roc_summary(members, others)
    assert summary["tpr_at"] == {"0.01": pytest.approx(0.5), "0.001": pytest.approx(0.3)}
    assert summary["auc"] == pytest.approx((30 * 1000 + 20 * 995.5 + 50 * 500.5) / 100_000)
    assert summary["n_members"] == 100 and summary["n_nonmembers"] == 1000
    fpr, tpr = summary["fpr"], summary["tpr"]
    assert len(fpr) <= ROC_POINTS and fpr == sorted(fpr) and fpr[-1] == 1.0 and fpr[0] == pytest.approx(0.001)
    assert tpr == sorted(tpr) and tpr[-1] == 1.0
    assert tpr[fpr.index(0.01)] == pytest.approx(0.5) and tpr[fpr.index(0.001)] == pytest.approx(0.3)
    # A small test set: the grid starts at one false positive, still containing 0.1 %.
    assert roc_summary(members, others[:50])["fpr"][0] == pytest.approx(0.001)


def test_per_class_accuracy_by_hand() -> None:
    logits = np.eye(4)[[0, 1, 1, 0]]  # predicts 0, 1, 1, 0
    assert per_class_accuracy(logits, np.array([0, 0, 1, 2]), 4) == [0.5, 1.0, 0.0, None]


def test_epsilon_histogram_by_hand() -> None:
    eps = np.array([0.0, 0.2, 0.5, 0.7, 1.0, 1.6, 50.0])
    hist = epsilon_histogram(eps, 3, 6)  # max_ε = ceil(ln(6 · 2 / 3)) = 2: four buckets and "≥ 2"
    assert hist["max_epsilon"] == 2
    assert hist["lows"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert hist["counts"] == [2, 2, 1, 1, 1]
    assert hist["points"] == [1.0, 0.5, 0.25, 0.125, 0.0]
    f_value = sum(c * p for c, p in zip(hist["counts"], hist["points"])) / hist["n"]
    assert f_value == pytest.approx(3.375 / 7) == pytest.approx(np.mean(epsilon_points(eps, 3, 6)))
    with pytest.raises(MetricNotApplicable):
        epsilon_histogram(eps, 2, 2)


def _outputs(rng: np.random.Generator, labels: dict[str, np.ndarray], scale: float) -> ModelOutputs:
    return ModelOutputs(
        {
            s: (rng.normal(size=(len(y), 3)) + scale * np.eye(3)[y]).astype(np.float32)
            for s, y in labels.items()
        }
    )


@pytest.fixture
def labels() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        s: rng.integers(0, 3, size=n) for s, n in (("forget", 30), ("retain", 120), ("test", 60), ("val", 60))
    }


def test_item_diagnostics(labels: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    replicates = [_outputs(rng, labels, 4.0) for _ in range(3)]
    oracles = [_outputs(rng, labels, 1.0) for _ in range(6)]
    original = _outputs(rng, labels, 8.0)
    data = item_diagnostics(
        replicates, oracles, original, labels, 3, params={"lr": np.float64(0.1), "k": (1, 2)}
    )
    text = json.dumps(data, allow_nan=False)
    assert len(text) < 20_000
    assert data["version"] == 1 and data["replicates"] == 3
    loss = data["distributions"]["loss"]
    assert loss["scale"] == "log10" and loss["bins"] == HISTOGRAM_BINS
    # Whole decades around the losses: log10 of both ends are integers.
    assert 0 < loss["lo"] < loss["hi"]
    assert all(float(np.log10(v)).is_integer() for v in (loss["lo"], loss["hi"]))
    confidence = data["distributions"]["confidence"]
    assert confidence["scale"] == "linear" and confidence["lo"] < 0 < confidence["hi"]
    for split in ("forget", "test", "retain"):
        assert sum(loss["counts"][split]) == len(labels[split]) == loss["n"][split]
        assert sum(data["distributions"]["confidence"]["counts"][split]) == len(labels[split])
    assert set(data["roc"]) == {"forget_vs_test", "retain_vs_test"}
    per_class = data["per_class"]
    y = labels["forget"]
    expected = [
        np.mean([np.mean(np.argmax(r["forget"][y == c], 1) == c) for r in replicates]) for c in range(3)
    ]
    assert per_class["forget_accuracy"] == pytest.approx(expected)
    assert per_class["counts"] == [int((y == c).sum()) for c in range(3)]
    # F of the histogram is F of the metric.
    u = np.stack([logit_scaled_confidence(r["forget"], y) for r in replicates])
    o = np.stack([logit_scaled_confidence(r["forget"], y) for r in oracles])
    assert data["epsilon"]["F"] == pytest.approx(forgetting_quality(u, o)[0], abs=1e-6)
    assert sum(data["epsilon"]["counts"]) == 30
    assert data["parameters"] == {"lr": 0.1, "k": [1, 2]}


def test_item_diagnostics_without_f(labels: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(2)
    two = [_outputs(rng, labels, 3.0) for _ in range(2)]
    data = item_diagnostics(two, two, two[0], labels, 3)
    assert "epsilon" not in data and "parameters" not in data  # 2 vs 2 models: no ε bucket, no F
    assert item_diagnostics(two[:1], [], two[0], labels, 3)["per_class"]["retrain"] == [None] * 3
    with pytest.raises(ValueError):
        item_diagnostics([], two, two[0], labels, 3)


def test_jsonable() -> None:
    assert jsonable({"a": np.int64(3), "b": float("nan"), "c": [np.float32(0.5)], 1: object}) == {
        "a": 3,
        "b": None,
        "c": [0.5],
        "1": repr(object),
    }
