"""Tests of unlearnbench.metrics.avg_gap: the average gap to the oracles' profile, by hand and on hand-built
outputs."""

from __future__ import annotations

import pytest
from metric_helpers import (
    check_metric_contract,
    hand_ctx,
    margin_logits,
    original_like,
    retrained_like,
    split_labels,
)

from unlearnbench.api import ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.avg_gap import AvgGap, average_gap, gap_profile, oracle_profile


def test_average_gap_hand_value() -> None:
    values = {"UA": 0.1, "RA": 0.9, "TA": 0.8, "MIA": 0.3}
    reference = {"UA": 0.2, "RA": 1.0, "TA": 0.7, "MIA": 0.5}
    assert average_gap(values, reference) == pytest.approx((0.1 + 0.1 + 0.1 + 0.2) / 4)
    with pytest.raises(ValueError, match="missing MIA"):
        average_gap({"UA": 0, "RA": 0, "TA": 0}, reference)


def test_avg_gap_plugin_hand_built_models() -> None:
    labels = split_labels()
    oracle = retrained_like(labels)  # UA 0, RA 1, TA 1, MIA 1
    assert AvgGap().compute(hand_ctx(oracle, labels, oracles=[oracle])) == 0.0
    # Original-like with a quarter of the test set wrong: UA 0, RA 1, TA 0.75, MIA 0.
    test_logits = margin_logits(labels["test"], 1.0)
    test_logits[:3] = margin_logits(labels["test"][:3], 1.0, correct=False)
    model = ModelOutputs({**original_like(labels).logits, "test": test_logits})
    ctx = hand_ctx(model, labels, oracles=[oracle])
    assert gap_profile(ctx) == {"UA": 0.0, "RA": 1.0, "TA": 0.75, "MIA": 0.0}
    assert AvgGap().compute(ctx) == pytest.approx((0 + 0 + 0.25 + 1.0) / 4)


def test_avg_gap_reference_is_the_oracle_mean() -> None:
    labels = split_labels()
    good = retrained_like(labels)
    # Half of retain wrong (RA 0.5) and the forget set wrong (UA 1): an oracle that differs on RA and UA.
    retain = margin_logits(labels["retain"], 8.0)
    retain[:6] = margin_logits(labels["retain"][:6], 8.0, correct=False)
    wrong_forget = margin_logits(labels["forget"], 1.0, correct=False)
    odd = ModelOutputs({**good.logits, "retain": retain, "forget": wrong_forget})
    ctx = hand_ctx(good, labels, oracles=[good, odd])
    ref = oracle_profile(ctx, [good, odd])
    assert ref["RA"] == 0.75 and ref["UA"] == 0.5
    expected = average_gap(gap_profile(ctx), ref)
    assert AvgGap().compute(ctx) == pytest.approx(expected)
    assert expected > 0


def test_without_oracles_is_not_applicable() -> None:
    labels = split_labels()
    with pytest.raises(MetricNotApplicable, match="retrained model"):
        AvgGap().compute(hand_ctx(retrained_like(labels), labels, oracles=[]))


def test_metric_contract() -> None:
    check_metric_contract("avg_gap")
