"""Tests of unlearnbench.results: the paired comparison to a reference item, against scipy."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from unlearnbench.results import ItemResult, SeedResult, paired_to_reference, summarise


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
