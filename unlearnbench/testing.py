"""Helpers for testing methods, metrics and whole plugins on tiny data, in process.

For unlearnbench's own tests and for plugin authors (the fixtures of :mod:`unlearnbench.pytest_plugin`
build on these):

- :func:`tiny_bench` builds the shared resources of a run on the synthetic ``fake`` dataset (a small CNN
  trained in about a second), memoised per process; :func:`fresh_original`, :func:`unlearn_context` and
  :func:`run_method` run a method the way the bench does; :func:`eval_context` builds an
  :class:`~unlearnbench.api.EvalContext` from plain arrays for checking a metric by hand.
- :func:`check_method` and :func:`check_metric` assert the plugin contract and basic behaviour, raising
  ``AssertionError`` with a message naming the class and the problem.
- :func:`load_plugin` registers one plugin (file, module or module name) next to the built-ins and
  returns what it provides; :func:`run_bench` runs ``unlearnbench run`` in process and returns its results.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from unlearnbench._runbench import TINY_ORACLES, TINY_SEEDS, LoadedPlugin, bench_argv, load_plugin, run_bench
from unlearnbench.api import (
    SPLIT_NAMES,
    EvalContext,
    Metric,
    ModelOutputs,
    UnlearnContext,
    metric_needs,
    metric_scope,
)
from unlearnbench.cache import Cache
from unlearnbench.data.fake import Fake
from unlearnbench.data.splits import make_splits
from unlearnbench.errors import MetricNotApplicable, PluginError
from unlearnbench.evaluation import copy_model, freeze
from unlearnbench.models.small_cnn import SmallCNN
from unlearnbench.registry import merge_params, validate_class
from unlearnbench.runner import Bench, TrainedModel
from unlearnbench.runner.shadows import held_out_retrained, shadow_original
from unlearnbench.testing_store import TESTING_CACHE_ENV, store_dir
from unlearnbench.training import LOOP, Recipe

__all__ = [
    "TINY_ORACLES", "TINY_SEEDS", "LoadedPlugin", "MethodRun", "bench_argv", "check_method", "check_metric",
    "eval_context", "fresh_original", "load_plugin", "run_bench", "run_method", "split_accuracy",
    "split_loss", "testing_cache_dir", "tiny_bench", "unlearn_context", "warm_up",
]  # fmt: skip


# --------------------------------------------------------------------------- the tiny bench


def testing_cache_dir() -> Path | None:
    """Where trained tiny models are kept between runs: ``$UNLEARNBENCH_TESTING_CACHE_DIR`` or, inside a
    pytest session with unlearnbench's plugin, pytest's cache folder; None (train in memory) otherwise."""
    from_env = bool(os.environ.get(TESTING_CACHE_ENV, "").strip())
    if not from_env and "unlearnbench.pytest_plugin" not in sys.modules:
        return None
    return store_dir()


def tiny_bench(
    forget: str = "0.1",
    seed: int = 0,
    n_train: int = 256,
    n_heldout: int = 128,
    num_classes: int = 4,
    epochs: int = 10,
    oracles: int = TINY_ORACLES,
    cache_dir: str | None = None,
) -> Bench:
    """Resources of a tiny run on ``fake`` data (CPU); memoised, so treat it as read-only.

    With the defaults it is exactly the bench of ``unlearnbench run --preset fake --oracles 2``, so its
    models are interchangeable with that run's through the cache. ``cache_dir`` (default:
    :func:`testing_cache_dir`) keeps trained models between processes.
    """
    if cache_dir is None:
        found = testing_cache_dir()
        cache_dir = str(found) if found is not None else ""
    return _tiny_bench(forget, seed, n_train, n_heldout, num_classes, epochs, oracles, cache_dir)


@functools.lru_cache(maxsize=16)
def _tiny_bench(
    forget: str, seed: int, n_train: int, n_heldout: int, classes: int, epochs: int, oracles: int, cache: str
) -> Bench:
    raw = Fake().load("", seed=seed, n_train=n_train, n_heldout=n_heldout, num_classes=classes)
    splits = make_splits(raw, forget, seed=42)
    factory = SmallCNN()

    def build() -> nn.Module:
        return factory.build(raw.num_classes, raw.in_channels, raw.image_size)

    bench = Bench(
        raw=raw, splits=splits, model_name="small_cnn", build_model=build, recipe=Recipe(epochs=epochs),
        device=torch.device("cpu"), cache=Cache(cache) if cache else Cache("unused", enabled=False),
        base_seed=0, oracle_count=oracles,
    )  # fmt: skip
    bench.original()
    return bench


def warm_up(cache_dir: str | os.PathLike[str], seeds: int = TINY_SEEDS, oracles: int = TINY_ORACLES) -> Path:
    """Train (or find) in ``cache_dir`` every model a tiny :func:`run_bench` needs: the original, the R
    reference oracles and the S oracles of the ``retrain`` row. Returns the folder."""
    bench = tiny_bench(oracles=oracles, cache_dir=str(cache_dir))
    bench.oracle_pool(oracles)
    for replicate in range(seeds):
        bench.independent_oracle(replicate)
    return Path(cache_dir)


def fresh_original(bench: Bench | None = None) -> nn.Module:
    """A fresh copy of the bench's original model, in train mode: what ``unlearn`` receives."""
    bench = bench if bench is not None else tiny_bench()
    model = bench.model_from_state(bench.original().state)
    model.train()
    return model


@dataclass
class MethodRun:
    """What :func:`run_method` returns."""

    before: nn.Module
    after: nn.Module
    ctx: UnlearnContext
    bench: Bench


def unlearn_context(
    bench: Bench, params: Mapping[str, Any] | None = None, seed: int = 0, time_budget: float | None = None
) -> tuple[nn.Module, UnlearnContext]:
    """A fresh copy of the original model (train mode) and the context the runner would pass with it."""
    model = fresh_original(bench)
    frozen = freeze(copy_model(model))

    def oracle_model() -> nn.Module:
        return bench.model_from_state(bench.independent_oracle(seed).state)

    ctx = UnlearnContext(
        params=dict(params or {}), seed=seed, device=bench.device, retain=bench.data["retain"],
        forget=bench.data["forget"], val=bench.data["val"], original=frozen,
        num_classes=bench.raw.num_classes, recipe=bench.recipe, oracle_model=oracle_model,
        new_model=lambda: bench.new_model(seed + 7919), time_budget=time_budget,
        forget_classes=bench.forget_classes(), trainer=LOOP,
    )  # fmt: skip
    return model, ctx


def _unlearn(
    cls: type, params: Mapping[str, Any] | None, bench: Bench, seed: int
) -> tuple[nn.Module, object, UnlearnContext]:
    """(copy of the original taken before, what ``unlearn`` returned, the context), seeded like the runner."""
    merged = merge_params(cls, bench.raw.name, dict(params or {}))
    model, ctx = unlearn_context(bench, merged, seed)
    before = copy_model(ctx.original)
    torch.manual_seed(seed)
    return before, cls().unlearn(model, ctx), ctx


def run_method(
    cls: type, params: Mapping[str, Any] | None = None, bench: Bench | None = None, seed: int = 0
) -> MethodRun:
    """Run ``cls().unlearn`` like the bench does: defaults overlaid with ``params``, seeded."""
    bench = bench if bench is not None else tiny_bench()
    before, after, ctx = _unlearn(cls, params, bench, seed)
    if not isinstance(after, nn.Module):
        raise TypeError(f"{cls.__name__}.unlearn returned {type(after).__name__}, expected a torch.nn.Module")
    after.eval()
    return MethodRun(before=before, after=after, ctx=ctx, bench=bench)


@torch.inference_mode()
def split_loss(model: nn.Module, bench: Bench, split: str) -> float:
    """Mean cross-entropy of ``model`` on one split of ``bench``."""
    model.eval()
    data = bench.data[split]
    total = 0.0
    for x, y in data.batches(512):
        total += float(nn.functional.cross_entropy(model(x), y, reduction="sum"))
    return total / max(len(data), 1)


@torch.inference_mode()
def split_accuracy(model: nn.Module, bench: Bench, split: str) -> float:
    """Accuracy of ``model`` on one split of ``bench``."""
    model.eval()
    data = bench.data[split]
    correct = 0
    for x, y in data.batches(512):
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(len(data), 1)


def _outputs(logits: Mapping[str, ArrayLike]) -> ModelOutputs:
    return ModelOutputs({split: np.asarray(value, dtype=np.float32) for split, value in logits.items()})


def eval_context(
    logits: Mapping[str, ArrayLike],
    labels: Mapping[str, ArrayLike],
    *,
    oracle_logits: Sequence[Mapping[str, ArrayLike]] = (),
    original_logits: Mapping[str, ArrayLike] | None = None,
    replicates: Sequence[Mapping[str, ArrayLike]] | None = None,
    num_classes: int | None = None,
    **fields: Any,
) -> EvalContext:
    """An :class:`EvalContext` from plain arrays (split → logits, split → labels), for checking a metric
    against hand-computed values. ``fields`` set the other attributes (``seed``, ``unlearn_seconds``...)."""
    outputs = _outputs(logits)
    classes = num_classes if num_classes is not None else int(next(iter(outputs.logits.values())).shape[1])
    values: dict[str, Any] = {
        "outputs": outputs,
        "replicates": [_outputs(r) for r in replicates] if replicates is not None else [outputs],
        "oracle_outputs": [_outputs(o) for o in oracle_logits],
        "original_outputs": _outputs(original_logits) if original_logits is not None else outputs,
        "labels": {split: np.asarray(y, dtype=np.int64) for split, y in labels.items()},
        "num_classes": classes,
        "seed": 0,
        "unlearn_seconds": [1.0],
        "oracle_seconds": [1.0] * len(oracle_logits),
        **fields,
    }
    return EvalContext(**values)


# --------------------------------------------------------------------------- contract checks


def _where(cls: object) -> str:
    return f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else repr(cls)


def _check_registration(cls: object, kind: str) -> Any:
    """The registry's own validation (as at registration), then an instance built with no arguments."""
    where = _where(cls)
    try:
        validate_class(cls, kind, where)
    except PluginError as exc:
        raise AssertionError(str(exc)) from None
    try:
        return cls()  # type: ignore[operator]
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise AssertionError(f"{where}: {kind} could not be instantiated: {problem}") from exc


def check_method(
    cls: type, params: Mapping[str, Any] | None = None, *, bench: Bench | None = None, seed: int = 0
) -> MethodRun:
    """Assert that ``cls`` keeps the method contract and behaves on the tiny bench; returns the first run.

    Checks: the attributes (``name``, ``description``, ``unlearn``, ``defaults``, ``grid``) as the
    registry does; ``unlearn`` returns an ``nn.Module`` with the original's parameter names and shapes
    and finite logits on every split; ``ctx.original`` is left untouched; two runs with the same seed
    give the same model. A method with ``requires_class_forget`` runs on a class-wise bench.
    """
    where = _where(cls)
    _check_registration(cls, "method")
    if bench is None:
        bench = tiny_bench("class:1") if getattr(cls, "requires_class_forget", False) else tiny_bench()
    outputs: list[ModelOutputs] = []
    first: MethodRun | None = None
    for attempt in range(2):
        try:
            before, after, ctx = _unlearn(cls, params, bench, seed)
        except Exception as exc:
            raise AssertionError(f"{where}: unlearn raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(after, nn.Module):
            raise AssertionError(f"{where}: unlearn returned {type(after).__name__}, not a torch.nn.Module")
        if attempt == 0:
            _check_shapes(where, bench, after)
            _check_original_untouched(where, before, ctx.original)
            first = MethodRun(before=before, after=after.eval(), ctx=ctx, bench=bench)
        outputs.append(bench.outputs_of(after.eval()))
        bad = [s for s in SPLIT_NAMES if not np.isfinite(outputs[-1][s]).all()]
        if bad:
            raise AssertionError(
                f"{where}: the unlearned model gives non-finite logits on {', '.join(bad)} "
                "(NaN or inf weights?)"
            )
    differ = [s for s in SPLIT_NAMES if not np.allclose(outputs[0][s], outputs[1][s], rtol=1e-5, atol=1e-6)]
    if differ:
        raise AssertionError(
            f"{where}: two runs with seed {seed} give different models (logits differ on "
            f"{', '.join(differ)}); draw randomness from ctx.generator() or torch's global generator, "
            "which the bench seeds"
        )
    assert first is not None
    return first


def _check_shapes(where: str, bench: Bench, model: nn.Module) -> None:
    reference = {k: tuple(v.shape) for k, v in bench.build_model().state_dict().items()}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"missing {k}" for k in reference if k not in got]
    problems += [f"unexpected {k}" for k in got if k not in reference]
    problems += [f"{k} has shape {got[k]}, not {s}" for k, s in reference.items() if k in got and got[k] != s]
    if problems:
        raise AssertionError(
            f"{where}: unlearn returned a model whose parameters differ from the original's: "
            + "; ".join(problems[:3])
        )


def _check_original_untouched(where: str, before: nn.Module, original: nn.Module) -> None:
    expected = before.state_dict()
    changed = [k for k, v in original.state_dict().items() if not torch.equal(v, expected[k])]
    if changed:
        raise AssertionError(
            f"{where}: unlearn modified ctx.original ({', '.join(changed[:3])}); it must stay untouched: "
            "train the model unlearn receives, and use ctx.original only in eval mode"
        )


def check_metric(cls: type, *, bench: Bench | None = None, replicates: int = TINY_SEEDS) -> dict[str, float]:
    """Assert that ``cls`` keeps the metric contract and behaves on tiny outputs; returns its values.

    Checks: the attributes (``name``, ``description``, ``compute``, ``higher_is_better``, ``scope``,
    ``needs``, ``columns``) as the registry does; on two inputs (the original model, and independently
    retrained models) ``compute`` returns finite numbers, only for declared columns (if any), a direction
    (``higher_is_better``, possibly None) for every column, the same values twice for identical inputs
    (also from a fresh instance), and leaves its inputs unmodified. Population metrics see
    ``replicates`` models. The values returned are those for the original model.
    """
    instance = _check_registration(cls, "metric")
    bench = bench if bench is not None else tiny_bench()
    original = bench.original()
    retrained = [bench.independent_oracle(s) for s in range(replicates)]
    found: dict[str, float] | None = None
    scenarios = (("on the original model", [original] * replicates), ("on retrained models", retrained))
    for what, models in scenarios:
        values = _check_metric_on(cls, instance, bench, models, what)
        found = values if found is None else found
    assert found is not None
    return found


def _metric_context(instance: Metric, bench: Bench, models: Sequence[TrainedModel]) -> EvalContext:
    """A context like the runner's, on copies of every array (a metric must not corrupt shared outputs)."""

    def copied(outputs: ModelOutputs) -> ModelOutputs:
        return ModelOutputs({k: np.array(v, copy=True) for k, v in outputs.logits.items()})

    population = metric_scope(instance) == "population"
    needs = metric_needs(instance)
    chosen = list(models) if population else list(models[:1])
    pool = bench.oracle_pool(bench.oracle_count)
    outputs = [copied(m.outputs) for m in chosen]
    shadows = "shadows" in needs and population
    return EvalContext(
        outputs=outputs[0], replicates=outputs, oracle_outputs=[copied(o.outputs) for o in pool],
        original_outputs=copied(bench.original().outputs),
        labels={k: np.array(v, copy=True) for k, v in bench.labels.items()},
        num_classes=bench.raw.num_classes, seed=0, unlearn_seconds=[0.5] * len(chosen),
        oracle_seconds=[1.0] * len(pool),
        model=bench.model_from_state(chosen[0].state) if "model" in needs and not population else None,
        data=bench.data if "data" in needs else None, params={},
        state=dict(chosen[0].state) if "states" in needs and not population else None,
        oracle_states=[o.state for o in pool] if "states" in needs else None,
        original_state=bench.original().state if "states" in needs else None,
        random_outputs=copied(bench.random_reference().outputs) if "random_outputs" in needs else None,
        # shadows as the method "original" would leave them: the shadow originals themselves
        shadow_outputs=[copied(shadow_original(bench, k).outputs) for k in range(2)] if shadows else None,
        target_retrained_outputs=[copied(m.outputs) for m in held_out_retrained(bench, len(chosen))]
        if shadows else None,
    )  # fmt: skip


def _arrays(ctx: EvalContext) -> list[np.ndarray]:
    found = [*ctx.labels.values()]
    for outputs in (*ctx.replicates, *ctx.oracle_outputs, ctx.original_outputs):
        found.extend(outputs.logits.values())
    return found


def _check_metric_on(
    cls: type, instance: Metric, bench: Bench, models: Sequence[TrainedModel], what: str
) -> dict[str, float]:
    where = _where(cls)
    results: list[dict[str, float]] = []
    for metric in (instance, instance, cls()):  # the same instance twice, then a fresh one
        ctx = _metric_context(metric, bench, models)
        snapshot = [a.copy() for a in _arrays(ctx)]
        try:
            value = metric.compute(ctx)
        except MetricNotApplicable as exc:
            raise AssertionError(
                f"{where}: raised MetricNotApplicable on the tiny bench ({what}, {len(models)} replicates, "
                f"{bench.oracle_count} oracles): {exc}; pass a bench= or replicates= it applies to"
            ) from exc
        except Exception as exc:
            raise AssertionError(f"{where}: compute raised {type(exc).__name__}: {exc} {what}") from exc
        if not all(np.array_equal(a, b) for a, b in zip(_arrays(ctx), snapshot)):
            raise AssertionError(f"{where}: compute modified its inputs (ctx arrays); it must only read them")
        results.append(_metric_values(cls, value, what))
    if not results[0] == results[1] == results[2]:
        raise AssertionError(
            f"{where}: identical inputs gave different values ({results[0]} vs {results[1]} vs {results[2]}, "
            f"{what}); seed any randomness from ctx.seed"
        )
    return results[0]


def _metric_values(cls: type, value: Any, what: str) -> dict[str, float]:
    """Column → value as the table will show it, checked against ``columns`` and ``higher_is_better``."""
    where, name = _where(cls), str(cls.name)  # type: ignore[attr-defined]
    declared = getattr(cls, "columns", None)
    hib = getattr(cls, "higher_is_better", None)
    if isinstance(value, Mapping):
        if not value:
            raise AssertionError(f"{where}: compute returned an empty mapping {what}")
        raw = {str(k): v for k, v in value.items()}
        undeclared = [k for k in raw if k not in declared] if declared else []
        if undeclared:  # a declared column may stay empty (e.g. one that needs more models)
            raise AssertionError(
                f"{where}: compute returned column(s) {', '.join(undeclared)} that it does not declare "
                f"(columns = {list(declared or ())}) {what}"
            )
        if isinstance(hib, Mapping) and any(k not in hib for k in raw):
            missing = [k for k in raw if k not in hib]
            raise AssertionError(f"{where}: higher_is_better has no entry for column(s) {', '.join(missing)}")
        columns = {f"{name}.{k}": v for k, v in raw.items()}
    else:
        if declared:
            raise AssertionError(
                f"{where}: declares columns {list(declared)} but compute returned a single value {what}"
            )
        if isinstance(hib, Mapping):
            raise AssertionError(
                f"{where}: returns one value, so higher_is_better must be True, False or None, not a dict"
            )
        columns = {name: value}
    out: dict[str, float] = {}
    for column, v in columns.items():
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise AssertionError(f"{where}: compute returned {v!r} for {column}, not a number") from None
        if not math.isfinite(number):
            raise AssertionError(f"{where}: compute returned {number} for {column} {what}; it must be finite")
        out[column] = number
    return out
