"""Tests of the foundation metrics (accuracy, simple_mia, gold_standard, runtime) and their numpy helpers.

Every value is checked against numbers worked out by hand in the test, or against an independent
re-implementation of the published procedure.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pluggy
import pytest
from sklearn import linear_model, model_selection

from unlearnbench import api, hookspec
from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.metrics import _functional as F
from unlearnbench.metrics.accuracy import Accuracy
from unlearnbench.metrics.gold_standard import GoldStandard
from unlearnbench.metrics.runtime import Runtime, runtime_values
from unlearnbench.metrics.simple_mia import MIN_PER_SIDE, SimpleMIA, simple_mia

LN2, LN3 = math.log(2.0), math.log(3.0)
METRIC_MODULES = ("accuracy", "simple_mia", "gold_standard", "runtime")


# --------------------------------------------------------------------------- helpers


def _confident(labels: np.ndarray, num_classes: int, margin: float, correct: bool) -> np.ndarray:
    """Logits that put ``margin`` on the label (correct) or on the next class (wrong)."""
    out = np.zeros((labels.size, num_classes), dtype=np.float32)
    target = labels if correct else (labels + 1) % num_classes
    out[np.arange(labels.size), target] = margin
    return out


def _ctx(
    outputs: ModelOutputs,
    labels: Mapping[str, np.ndarray],
    oracles: list[ModelOutputs] | None = None,
    unlearn_seconds: tuple[float, ...] = (3.0,),
    oracle_seconds: tuple[float, ...] = (10.0, 20.0),
) -> EvalContext:
    """A per-model EvalContext built by hand."""
    oracle_list = [outputs] if oracles is None else oracles
    return EvalContext(
        outputs=outputs,
        replicates=[outputs],
        oracle_outputs=oracle_list,
        original_outputs=outputs,
        labels=dict(labels),
        num_classes=3,
        seed=0,
        unlearn_seconds=list(unlearn_seconds),
        oracle_seconds=list(oracle_seconds),
    )


def _random_ctx(seed: int) -> EvalContext:
    """A context with random logits on 20 examples per split and two random oracles."""
    rng = np.random.default_rng(seed)
    labels = {s: rng.integers(0, 3, size=20) for s in api.SPLIT_NAMES}

    def outs() -> ModelOutputs:
        return ModelOutputs({s: rng.normal(size=(20, 3)).astype(np.float32) for s in api.SPLIT_NAMES})

    return _ctx(outs(), labels, oracles=[outs(), outs()])


def _kit_reference(forget: np.ndarray, test: np.ndarray) -> float:
    """The starting kit's procedure for equal-sized sides, written out independently."""
    x = np.concatenate((test, forget)).reshape((-1, 1))
    y = [0] * len(test) + [1] * len(forget)
    cv = model_selection.StratifiedShuffleSplit(n_splits=10, random_state=0)
    return float(
        model_selection.cross_val_score(
            linear_model.LogisticRegression(), x, y, cv=cv, scoring="accuracy"
        ).mean()
    )


# --------------------------------------------------------------------------- _functional


def test_cross_entropy_hand_values() -> None:
    logits = np.array([[0.0, 0.0, 0.0], [LN2, 0.0, 0.0], [5.0, 0.0, 0.0], [1000.0, 1000.0, -1000.0]])
    labels = np.array([0, 0, 1, 1])
    ce = F.cross_entropy(logits.astype(np.float32), labels)
    # uniform → ln 3; p = 2/4 → ln 2; logsumexp(5,0,0) - 0; two tied huge logits → ln 2 without overflow.
    expected = [LN3, LN2, math.log(math.exp(5.0) + 2.0), LN2]
    assert ce.dtype == np.float64
    np.testing.assert_allclose(ce, expected, rtol=1e-6)


def test_cross_entropy_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    logits = (rng.normal(size=(50, 7)) * 10).astype(np.float32)
    labels = rng.integers(0, 7, size=50)
    ref = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits).double(), torch.from_numpy(labels), reduction="none"
    ).numpy()
    np.testing.assert_allclose(F.cross_entropy(logits, labels), ref, rtol=1e-12, atol=1e-12)


def test_cross_entropy_empty_and_errors() -> None:
    assert F.cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)).shape == (0,)
    with pytest.raises(ValueError, match="labels must lie"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="shape"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="shape"):
        F.cross_entropy(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match="integers"):
        F.cross_entropy(np.zeros((1, 3)), np.array([0.5]))


def test_softmax_hand_values_and_stability() -> None:
    p = F.softmax(np.array([[0.0, LN2, LN3], [1000.0, 1000.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(p[0], [1 / 6, 2 / 6, 3 / 6], rtol=1e-6)
    np.testing.assert_allclose(p[1], [0.5, 0.5, 0.0], atol=1e-12)
    assert p.dtype == np.float64 and np.all(np.isfinite(p))
    z64 = np.array([[0.0, LN2, LN3]])
    np.testing.assert_allclose(np.exp(F.log_softmax(z64)), F.softmax(z64), rtol=1e-12)


def test_accuracy_hand_values() -> None:
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    assert F.accuracy(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    # A tie goes to the lowest class index, as torch.argmax does.
    assert F.accuracy(np.array([[1.0, 1.0]]), np.array([0])) == 1.0
    with pytest.raises(ValueError, match="empty"):
        F.accuracy(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))


# --------------------------------------------------------------------------- simple_mia (function)


def test_simple_mia_separable_is_one() -> None:
    test = np.linspace(2.0, 3.0, 20)
    forget = np.linspace(0.0, 0.1, 20)
    assert simple_mia(forget, test) == 1.0


def test_simple_mia_identical_constant_losses_is_half() -> None:
    # One feature value for everyone: every fold's model predicts one class, and every test fold of
    # StratifiedShuffleSplit holds 2 of each class (ceil(0.1 * 40) = 4), so each fold scores exactly 1/2.
    assert simple_mia(np.full(20, 0.7), np.full(20, 0.7)) == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simple_mia_matches_independent_kit_implementation(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    forget = rng.exponential(0.5, size=60)
    test = rng.exponential(0.8, size=60)
    assert simple_mia(forget, test) == pytest.approx(_kit_reference(forget, test), abs=1e-12)


def test_simple_mia_subsamples_the_larger_side(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    original: Callable[..., Any] = model_selection.cross_val_score

    def spy(estimator: Any, x: np.ndarray, y: Any, **kwargs: Any) -> Any:
        seen.append((np.asarray(x).copy(), np.asarray(y).copy()))
        return original(estimator, x, y, **kwargs)

    monkeypatch.setattr(model_selection, "cross_val_score", spy)
    rng = np.random.default_rng(5)
    forget, test = rng.normal(size=50), rng.normal(size=12) + 3.0

    value = simple_mia(forget, test, seed=7)
    x, y = seen[-1]
    assert x.shape == (24, 1)
    np.testing.assert_array_equal(y, [0] * 12 + [1] * 12)
    np.testing.assert_array_equal(x[:12, 0], test)  # the smaller side is kept whole, in order, first
    np.testing.assert_array_equal(x[12:, 0], np.random.default_rng(7).permutation(forget)[:12])
    assert len(set(x[12:, 0])) == 12 and set(x[12:, 0]) <= set(forget)
    assert value == pytest.approx(_kit_reference(x[12:, 0], test), abs=1e-12)

    simple_mia(test, forget, seed=7)  # now test is the larger side
    x, y = seen[-1]
    assert x.shape == (24, 1)
    np.testing.assert_array_equal(x[:12, 0], np.random.default_rng(7).permutation(forget)[:12])
    np.testing.assert_array_equal(x[12:, 0], test)


def test_simple_mia_is_deterministic() -> None:
    rng = np.random.default_rng(9)
    forget, test = rng.exponential(size=80), rng.exponential(1.3, size=30)
    values = {simple_mia(forget.copy(), test.copy()) for _ in range(3)}
    assert len(values) == 1
    assert 0.0 <= values.pop() <= 1.0


@pytest.mark.parametrize(
    ("forget", "test", "match"),
    [
        (np.array([]), np.ones(10), "forget losses are empty"),
        (np.ones(10), np.array([]), "test losses are empty"),
        (np.r_[np.ones(9), np.nan], np.ones(10), "forget losses contain 1 non-finite"),
        (np.ones(10), np.r_[np.ones(8), np.inf, -np.inf], "test losses contain 2 non-finite"),
        (np.ones((5, 2)), np.ones(10), "1-D"),
        (np.ones(MIN_PER_SIDE - 1), np.ones(40), "at least 6"),
    ],
)
def test_simple_mia_rejects_bad_input(forget: np.ndarray, test: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        simple_mia(forget, test)


def test_simple_mia_smallest_allowed_size_works() -> None:
    assert simple_mia(np.zeros(MIN_PER_SIDE), np.full(MIN_PER_SIDE, 5.0)) == 1.0


# --------------------------------------------------------------------------- metric plugins


def _hand_outputs() -> tuple[ModelOutputs, dict[str, np.ndarray]]:
    """Logits with known accuracies: retain 4/4, forget 2/3, test 2/4, val 1/4."""
    labels = {
        "forget": np.array([0, 1, 2]),
        "retain": np.array([0, 1, 2, 0]),
        "test": np.array([0, 1, 2, 0]),
        "val": np.array([0, 1, 2, 0]),
    }
    eye = np.eye(3, dtype=np.float32)
    logits = {
        "forget": eye[[0, 1, 0]],  # third is wrong
        "retain": eye[[0, 1, 2, 0]],
        "test": eye[[0, 1, 0, 1]],  # last two wrong
        "val": eye[[0, 2, 0, 1]],  # only the first right
    }
    return ModelOutputs(logits), labels


def test_accuracy_plugin_hand_values() -> None:
    outputs, labels = _hand_outputs()
    values = Accuracy().compute(_ctx(outputs, labels))
    assert list(values) == list(Accuracy.columns) == ["RA", "FA", "UA", "TA", "VA"]
    assert values["RA"] == 1.0
    assert values["FA"] == pytest.approx(2 / 3)
    assert values["UA"] == pytest.approx(1 / 3)
    assert values["TA"] == 0.5
    assert values["VA"] == 0.25
    assert api.higher_is_better(Accuracy(), "RA") is True
    assert api.higher_is_better(Accuracy(), "FA") is None
    assert api.higher_is_better(Accuracy(), "UA") is None


def _mia_outputs(n: int = 20) -> tuple[ModelOutputs, dict[str, np.ndarray]]:
    """Forget predicted right with margin 8 (loss ≈ 0), test predicted wrong (loss ≈ 8): separable."""
    labels = {s: np.arange(n) % 3 for s in api.SPLIT_NAMES}
    logits = {
        "forget": _confident(labels["forget"], 3, 8.0, correct=True),
        "retain": _confident(labels["retain"], 3, 8.0, correct=True),
        "test": _confident(labels["test"], 3, 8.0, correct=False),
        "val": _confident(labels["val"], 3, 8.0, correct=False),
    }
    return ModelOutputs(logits), labels


def test_simple_mia_plugin_separable_and_indistinguishable() -> None:
    outputs, labels = _mia_outputs()
    assert SimpleMIA().compute(_ctx(outputs, labels)) == 1.0
    # All-zero logits: every loss is ln 3, forget and test cannot be told apart.
    flat = ModelOutputs({s: np.zeros((20, 3), dtype=np.float32) for s in api.SPLIT_NAMES})
    assert SimpleMIA().compute(_ctx(flat, labels)) == 0.5


def test_simple_mia_plugin_uses_forget_and_test_losses() -> None:
    ctx = _random_ctx(3)
    expected = simple_mia(
        F.cross_entropy(ctx.outputs["forget"], ctx.labels["forget"]),
        F.cross_entropy(ctx.outputs["test"], ctx.labels["test"]),
        seed=0,
    )
    assert SimpleMIA().compute(ctx) == expected


def test_gold_standard_is_mean_over_oracles_and_ignores_the_model() -> None:
    separable, labels = _mia_outputs()
    flat = ModelOutputs({s: np.zeros((20, 3), dtype=np.float32) for s in api.SPLIT_NAMES})
    # Oracle scores 1.0 and 0.5 → mean 0.75, whatever the evaluated model is.
    assert GoldStandard().compute(_ctx(flat, labels, oracles=[separable, flat])) == 0.75
    assert GoldStandard().compute(_ctx(separable, labels, oracles=[separable, flat])) == 0.75
    assert GoldStandard().compute(_ctx(flat, labels, oracles=[separable])) == 1.0
    assert GoldStandard.scope == "population" and api.metric_scope(GoldStandard()) == "population"
    assert api.metric_needs(GoldStandard()) == {"oracle_outputs"}


def test_gold_standard_equals_simple_mia_of_the_oracle() -> None:
    ctx = _random_ctx(4)
    oracle_ctx = _ctx(ctx.oracle_outputs[1], ctx.labels)
    assert GoldStandard().compute(_ctx(ctx.outputs, ctx.labels, oracles=[ctx.oracle_outputs[1]])) == (
        SimpleMIA().compute(oracle_ctx)
    )


def test_gold_standard_without_oracles_raises() -> None:
    outputs, labels = _hand_outputs()
    with pytest.raises(ValueError, match="at least one retrained model"):
        GoldStandard().compute(_ctx(outputs, labels, oracles=[]))


def test_runtime_hand_values() -> None:
    outputs, labels = _hand_outputs()
    values = Runtime().compute(_ctx(outputs, labels, unlearn_seconds=(3.0,), oracle_seconds=(10.0, 20.0)))
    assert values == {"seconds": 3.0, "ratio": pytest.approx(0.2)}
    assert list(values) == list(Runtime.columns)
    assert api.higher_is_better(Runtime(), "seconds") is False
    assert api.higher_is_better(Runtime(), "ratio") is False


def test_runtime_picks_the_evaluated_replicate() -> None:
    outputs, labels = _hand_outputs()
    other = ModelOutputs(dict(outputs.logits))
    ctx = _ctx(outputs, labels, unlearn_seconds=(4.0, 8.0), oracle_seconds=(16.0,))
    ctx.replicates = [other, outputs]
    assert Runtime().compute(ctx) == {"seconds": 8.0, "ratio": 0.5}
    ctx.replicates = [other]
    with pytest.raises(ValueError, match="cannot tell"):
        Runtime().compute(ctx)


@pytest.mark.parametrize(
    ("seconds", "oracle", "match"),
    [(1.0, (), "none"), (1.0, (0.0,), "> 0"), (-1.0, (5.0,), ">= 0"), (math.nan, (5.0,), "finite")],
)
def test_runtime_rejects_bad_times(seconds: float, oracle: tuple[float, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        runtime_values(seconds, oracle)


# --------------------------------------------------------------------------- contract over all four


def _registered(module_name: str) -> list[type]:
    """Register one metric module with a fresh plugin manager and return what its hook gives."""
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    pm.register(importlib.import_module(f"unlearnbench.metrics.{module_name}"))
    return [cls for classes in pm.hook.unlearnbench_add_metrics() for cls in classes]


@pytest.mark.parametrize("module_name", METRIC_MODULES)
def test_metric_contract(module_name: str) -> None:
    registered = _registered(module_name)
    assert len(registered) == 1
    cls: Any = registered[0]
    metric = cls()
    assert cls.name == module_name
    assert isinstance(metric, api.Metric)
    assert cls.description and "\n" not in cls.description
    assert api.metric_needs(metric) <= api.NEED_KINDS
    assert hasattr(cls, "higher_is_better")

    def run() -> dict[str, float]:
        value = metric.compute(_random_ctx(11))
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


def test_every_metric_file_is_covered_here() -> None:
    folder = Path(importlib.import_module("unlearnbench.metrics").__file__ or "").parent
    foundation = {p.stem for p in folder.glob("*.py") if p.stem in METRIC_MODULES}
    assert foundation == set(METRIC_MODULES)
