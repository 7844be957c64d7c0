"""Hand-built outputs and contexts shared by the tests of the per-example-output metrics (test_metrics_*.py).

The models put a margin on the true class (or on the next, wrong class) of every example: built to look like the
retrained model (the "perfect" value) or like the original model (the other end).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pluggy

from unlearnbench import api, hookspec
from unlearnbench.api import EvalContext, ModelOutputs


def margin_logits(labels: np.ndarray, margin: float, correct: bool = True, classes: int = 3) -> np.ndarray:
    """Logits 0 except ``margin`` on the label (correct) or on the next class (wrong)."""
    out = np.zeros((labels.size, classes), dtype=np.float32)
    target = labels if correct else (labels + 1) % classes
    out[np.arange(labels.size), target] = margin
    return out


def split_labels(n: int = 12) -> dict[str, np.ndarray]:
    return {s: np.arange(n) % 3 for s in api.SPLIT_NAMES}


def hand_ctx(
    outputs: ModelOutputs, labels: Mapping[str, np.ndarray], oracles: list[ModelOutputs] | None = None
) -> EvalContext:
    return EvalContext(
        outputs=outputs, replicates=[outputs], oracle_outputs=[outputs] if oracles is None else oracles,
        original_outputs=outputs, labels=dict(labels), num_classes=3, seed=0, unlearn_seconds=[1.0],
        oracle_seconds=[10.0],
    )  # fmt: skip


def margin_model(labels: Mapping[str, np.ndarray], **margins: float | tuple[float, bool]) -> ModelOutputs:
    """Outputs per split from ``split=margin`` (correct) or ``split=(margin, correct)``."""
    logits = {}
    for split in api.SPLIT_NAMES:
        spec = margins.get(split, 8.0)
        margin, correct = spec if isinstance(spec, tuple) else (spec, True)
        logits[split] = margin_logits(labels[split], margin, correct)
    return ModelOutputs(logits)


def retrained_like(labels: Mapping[str, np.ndarray]) -> ModelOutputs:
    """Fits retain tightly (margin 8), generalises to test and forget alike (margin 1)."""
    return margin_model(labels, retain=8.0, forget=1.0, test=1.0, val=1.0)


def original_like(labels: Mapping[str, np.ndarray]) -> ModelOutputs:
    """Also fits forget tightly, like retain."""
    return margin_model(labels, retain=8.0, forget=8.0, test=1.0, val=1.0)


def random_ctx(seed: int, n: int = 30) -> EvalContext:
    rng = np.random.default_rng(seed)
    labels = {s: rng.integers(0, 3, size=n) for s in api.SPLIT_NAMES}

    def outs() -> ModelOutputs:
        return ModelOutputs({s: (rng.normal(size=(n, 3)) * 3).astype(np.float32) for s in api.SPLIT_NAMES})

    return hand_ctx(outs(), labels, oracles=[outs(), outs()])


def registered_metrics(module_name: str) -> list[type]:
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    pm.register(importlib.import_module(f"unlearnbench.metrics.{module_name}"))
    return [cls for classes in pm.hook.unlearnbench_add_metrics() for cls in classes]


def check_metric_contract(module_name: str) -> None:
    """The checks every metric module passes: one registered class, its attributes, deterministic finite values."""
    registered = registered_metrics(module_name)
    assert len(registered) == 1
    cls: Any = registered[0]
    metric = cls()
    assert cls.name == module_name
    assert isinstance(metric, api.Metric)
    assert cls.description and "\n" not in cls.description
    assert api.metric_needs(metric) <= api.NEED_KINDS
    assert api.metric_scope(metric) == ("population" if module_name == "avg_gap" else "model")

    def run() -> dict[str, float]:
        value = metric.compute(random_ctx(11))
        return dict(value) if isinstance(value, Mapping) else {module_name: float(value)}

    first, second = run(), run()
    assert first == second  # identical inputs → identical values
    assert all(math.isfinite(v) for v in first.values())
    hib = cls.higher_is_better
    if hasattr(cls, "columns"):
        assert tuple(first) == cls.columns
        assert isinstance(hib, Mapping) and set(hib) == set(cls.columns)
    else:
        assert hib is None or isinstance(hib, bool)
    for column in first:
        assert api.higher_is_better(metric, column) in (True, False, None)
