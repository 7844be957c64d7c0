"""The contract test: every registered built-in method and metric keeps the plugin contract."""

from __future__ import annotations

import pytest

from unlearnbench.docsgen import builtin_registry
from unlearnbench.testing import check_method, check_metric

REGISTRY = builtin_registry()


@pytest.mark.parametrize("name", sorted(REGISTRY.methods))
def test_method_contract(name: str) -> None:
    """Registered under its file stem; returns a same-shaped model with finite outputs; deterministic;
    leaves the frozen original untouched."""
    entry = REGISTRY.methods[name]
    assert entry.cls.__module__ == f"unlearnbench.methods.{name}"
    check_method(entry.cls)


@pytest.mark.parametrize("name", sorted(REGISTRY.metrics))
def test_metric_contract(name: str) -> None:
    """Registered under its file stem; finite values with a direction for every column; deterministic."""
    entry = REGISTRY.metrics[name]
    assert entry.cls.__module__ == f"unlearnbench.metrics.{name}"
    values = check_metric(entry.cls, replicates=3)
    assert values
