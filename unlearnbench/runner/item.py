"""The per-item protocol: replicates → per-model metrics → population metrics → summary → diagnostics.

:func:`run_item` runs one item over the S replicate seeds and returns its frozen
:class:`~unlearnbench.results.ItemResult`; it never raises for a method's or a metric's error. That promise
lives in one function, :func:`call_and_capture` (the role ``CallInfo.from_call`` plays in pytest): every
call into plugin code goes through it and comes back as a :class:`Captured` outcome. Only a
:class:`~unlearnbench.errors.UsageError` (a cache the run cannot write) and Ctrl-C pass through, so that the
session stops and keeps what is done.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from unlearnbench.api import EvalContext, Method, metric_needs, metric_scope
from unlearnbench.errors import MetricNotApplicable, UsageError
from unlearnbench.registry import Entry, MetricSpec
from unlearnbench.resources import item_phase
from unlearnbench.results import ItemResult, Outcome, SeedResult
from unlearnbench.runner.access import ACCESS_NOTE, access_summary, declared_access
from unlearnbench.runner.bench import Bench, TrainedModel
from unlearnbench.runner.diagnostics import item_diagnostics
from unlearnbench.runner.guards import (
    ItemGuardError,
    ItemTimeout,
    is_out_of_memory,
    out_of_memory_message,
    release_memory,
)
from unlearnbench.runner.metricrun import cached_bootstrap, cached_compute, summaries
from unlearnbench.runner.replicate import Replicate, unlearned_replicate, weights_needed
from unlearnbench.runner.shadows import ShadowArtifacts, shadow_artifacts, shadow_count, shadow_keys

__all__ = ["Captured", "call_and_capture", "failure_text", "run_item"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Captured(Generic[_T]):
    """The outcome of one call into plugin code: its value, or why there is none."""

    value: _T | None = None
    #: The error text (one line for a timeout, a guard or out-of-memory, else a short traceback).
    error: str | None = None
    #: The reason a metric gave for not applying (:class:`~unlearnbench.errors.MetricNotApplicable`).
    not_applicable: str | None = None
    exception: BaseException | None = None

    @property
    def reason(self) -> str:
        """Why there is no value: the error text, else the not-applicable reason."""
        return self.error or self.not_applicable or ""


def call_and_capture(call: Callable[[], _T], where: str, bench: Bench) -> Captured[_T]:
    """Run ``call``; the one place where a method's or metric's exception becomes an outcome.

    A timeout (:class:`~unlearnbench.runner.guards.ItemTimeout`, a ``BaseException`` so that plugin code
    cannot swallow it) is captured too; a :class:`~unlearnbench.errors.UsageError` and ``KeyboardInterrupt``
    propagate. Out-of-memory releases the device's cached memory before the next call.
    """
    try:
        return Captured(value=call())
    except UsageError:
        raise
    except MetricNotApplicable as exc:
        return Captured(not_applicable=str(exc), exception=exc)
    except (Exception, ItemTimeout) as exc:
        return Captured(error=failure_text(exc, where, bench), exception=exc)


def failure_text(exc: BaseException, where: str, bench: Bench) -> str:
    """The error text of a failed call: one line for a timeout, a guard or out-of-memory, else a traceback."""
    if isinstance(exc, (ItemTimeout, ItemGuardError)):
        return str(exc)
    if is_out_of_memory(exc):
        release_memory(bench.device)
        return out_of_memory_message(exc, where)
    return short_traceback(exc)


def short_traceback(exc: BaseException) -> str:
    """The last six frames of ``exc``'s traceback and its message."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6)).rstrip()


def run_item(
    bench: Bench,
    entry: Entry,
    params: Mapping[str, Any],
    merged: Mapping[str, Any],
    item_id: str,
    seeds: Sequence[int],
    metrics: Sequence[MetricSpec],
    oracle_count: int,
) -> ItemResult:
    """Run one item over ``seeds`` and compute every metric; never raises for method/metric errors."""
    start = time.perf_counter()

    def result(**fields: Any) -> ItemResult:
        return ItemResult(
            item_id=item_id, method=entry.name, params=dict(params), description=entry.description, **fields
        )

    if getattr(entry.cls, "requires_class_forget", False) and bench.forget_classes() is None:
        reason = f"{entry.name} needs class-wise forgetting (--forget class:N)"
        return result(outcome="skipped", skip_reason=reason)
    constructed = call_and_capture(entry.cls, "unlearn", bench)
    if constructed.exception is not None or constructed.value is None:  # the plugin's bug: a failed item
        text = short_traceback(constructed.exception) if constructed.exception else "returned None"
        return result(outcome="failed", errors={"unlearn": f"{entry.name}() raised: {text}"})
    run = ItemRun(bench, entry, constructed.value, merged, item_id, metrics, oracle_count)
    for seed in seeds:
        if not run.replicate_and_score(seed):
            break
    population, intervals = run.population_metrics(seeds[0]) if run.unlearned else ({}, {})
    outcome: Outcome = "failed" if "unlearn" in run.errors else ("error" if run.errors else "passed")
    run.record_access()
    return result(
        outcome=outcome, seeds=tuple(run.seed_results), population=population,
        summary=summaries(run.seed_results, population, len(seeds), intervals), errors=run.errors,
        duration=time.perf_counter() - start, notes=run.notes,
        diagnostics=run.diagnostics() if run.unlearned else {},
    )  # fmt: skip


@dataclass
class ItemRun:
    """One item's run in progress: the shared references, the replicates so far, errors and notes."""

    bench: Bench
    entry: Entry
    method: Method
    merged: Mapping[str, Any]
    item_id: str
    metrics: Sequence[MetricSpec]
    oracle_count: int
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    seed_results: list[SeedResult] = field(default_factory=list)
    replicates: list[Replicate] = field(default_factory=list)
    replicate_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.original: TrainedModel = self.bench.original()
        self.oracles: list[TrainedModel] = self.bench.oracle_pool(self.oracle_count)
        needs: frozenset[str] = frozenset().union(*(metric_needs(m.instance) for m in self.metrics))
        self.random_outputs = self.bench.random_reference().outputs if "random_outputs" in needs else None
        self.shared: dict[str, Any] = dict(
            oracle_outputs=[o.outputs for o in self.oracles], original_outputs=self.original.outputs,
            labels=self.bench.labels, num_classes=self.bench.raw.num_classes,
            oracle_seconds=[o.seconds for o in self.oracles], params=dict(self.merged),
        )  # fmt: skip
        self.shadows: ShadowArtifacts | None = None

    @property
    def unlearned(self) -> bool:
        """Whether every replicate so far was unlearned (and there is at least one)."""
        return "unlearn" not in self.errors and bool(self.replicates)

    # ----------------------------------------------------------------- replicates and per-model metrics

    def replicate_and_score(self, seed: int) -> bool:
        """Unlearn replicate ``seed`` (or take it from the cache) and compute the per-model metrics on it.

        Returns False when the method failed: the item stops there.
        """
        bench = self.bench
        key = bench.unlearned_key(self.entry, self.merged, seed)
        weights = weights_needed(bench, self.metrics, key, self.oracle_count)
        with bench.phase(item_phase(self.item_id, "unlearn")):
            captured = call_and_capture(
                lambda: unlearned_replicate(bench, self.method, self.merged, seed, key, self.item_id, weights),
                "unlearn", bench,
            )  # fmt: skip
        if captured.value is None:
            self.errors["unlearn"] = f"seed {seed}: {captured.reason}"
            return False
        replicate = captured.value
        self.replicates.append(replicate)
        self.replicate_keys.append(key)
        values = self._model_metrics(seed, replicate, key)
        self.seed_results.append(
            SeedResult(seed=seed, values=values, unlearn_seconds=replicate.seconds, cached=replicate.cached)
        )
        return True

    def _model_metrics(self, seed: int, replicate: Replicate, key: str) -> dict[str, float]:
        values: dict[str, float] = {}
        self.bench.phase_start(item_phase(self.item_id, "metrics"))
        for spec in self.metrics:
            if metric_scope(spec.instance) != "model":
                continue
            metric_key = self.bench.metric_key(spec, [key], self.oracle_count)

            def compute(spec: MetricSpec = spec, metric_key: str = metric_key) -> dict[str, float]:
                ctx = EvalContext(
                    outputs=replicate.outputs, replicates=[replicate.outputs], seed=seed,
                    unlearn_seconds=[replicate.seconds], **self.shared, **self.extras(spec, replicate),
                )  # fmt: skip
                return cached_compute(self.bench.cache, spec, ctx, metric_key)

            captured = call_and_capture(compute, spec.name, self.bench)
            if captured.value is not None:
                values.update(captured.value)
            elif captured.not_applicable is not None:
                self.notes.setdefault(spec.name, captured.not_applicable)
            else:
                self.errors.setdefault(spec.name, f"seed {seed}: {captured.reason}")
        self.bench.phase_stop()
        return values

    def extras(self, spec: MetricSpec, replicate: Replicate | None) -> dict[str, Any]:
        """The optional artifacts ``spec`` declares in ``needs``, shared between metrics (weights on CPU)."""
        wants = metric_needs(spec.instance)
        out: dict[str, Any] = {}
        if "data" in wants:
            out["data"] = self.bench.data
        if "random_outputs" in wants:
            out["random_outputs"] = self.random_outputs
        if "states" in wants:
            out.update(oracle_states=[o.state for o in self.oracles], original_state=self.original.state)
        if replicate is not None and replicate.state is not None:
            if "states" in wants:
                out["state"] = replicate.state
            if "model" in wants:  # a fresh model per metric: one metric cannot disturb another's input
                out["model"] = self.bench.model_from_state(replicate.state)
        return out

    # ----------------------------------------------------------------- population metrics

    def population_metrics(self, first_seed: int) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
        """Every population metric over all replicates, with its bootstrap interval where it declares one."""
        population: dict[str, float] = {}
        intervals: dict[str, tuple[float, float]] = {}
        self.bench.phase_start(item_phase(self.item_id, "metrics"))
        for spec in self.metrics:
            if metric_scope(spec.instance) == "population":
                self._population_metric(spec, first_seed, population, intervals)
        self.bench.phase_stop()
        return population, intervals

    def _population_metric(
        self,
        spec: MetricSpec,
        first_seed: int,
        population: dict[str, float],
        intervals: dict[str, tuple[float, float]],
    ) -> None:
        extra = self.extras(spec, None)
        metric_key = self.bench.metric_key(spec, self.replicate_keys, self.oracle_count)
        if "shadows" in metric_needs(spec.instance):
            metric_key, shadow_extra = self._with_shadows(spec)
            if shadow_extra is None:
                return
            extra.update(shadow_extra)
        outputs = [r.outputs for r in self.replicates]
        ctx = EvalContext(
            outputs=outputs[0], replicates=outputs, seed=first_seed,
            unlearn_seconds=[r.seconds for r in self.replicates], **self.shared, **extra,
        )  # fmt: skip
        cache = self.bench.cache
        captured = call_and_capture(lambda: cached_compute(cache, spec, ctx, metric_key), spec.name, self.bench)
        if captured.value is None:
            if captured.not_applicable is not None:
                self.notes[spec.name] = captured.not_applicable
            else:
                self.errors[spec.name] = captured.reason
            return
        population.update(captured.value)
        bounds = call_and_capture(lambda: cached_bootstrap(cache, spec, ctx, metric_key), spec.name, self.bench)
        if bounds.value is not None:
            intervals.update(bounds.value)
        elif bounds.exception is not None:  # the interval is an extra: the value stands without it
            exc = bounds.exception
            self.notes[spec.name] = f"no bootstrap interval: {type(exc).__name__}: {exc}"

    def _with_shadows(self, spec: MetricSpec) -> tuple[str, dict[str, Any] | None]:
        """The metric's key over the replicates and the shadows, and the shadow artifacts when it must compute.

        The shadows are built only when the value is not cached, once per item; ``None`` artifacts mean
        building them failed (recorded as the metric's error).
        """
        bench = self.bench
        count = shadow_count(m.instance for m in self.metrics)
        keys = shadow_keys(bench, self.entry, self.merged, count, len(self.replicates))
        metric_key = bench.metric_key(spec, self.replicate_keys + keys, self.oracle_count)
        if bench.cache.load_values(metric_key) is not None:
            return metric_key, {}
        if self.shadows is None:
            captured = call_and_capture(
                lambda: shadow_artifacts(bench, self.entry, self.method, self.merged, count, len(self.replicates)),
                spec.name, bench,
            )  # fmt: skip
            if captured.value is None:
                self.errors[spec.name] = f"shadows: {captured.reason}"
                return metric_key, None
            self.shadows = captured.value
        extra = {
            "shadow_outputs": self.shadows.shadow_outputs,
            "target_retrained_outputs": self.shadows.target_retrained_outputs,
        }
        return metric_key, extra

    def record_access(self) -> None:
        """The item's data-access line (:mod:`unlearnbench.runner.access`) into its notes, where recorded."""
        records = [r.access for r in self.replicates if r.access is not None]
        if records:
            summary = access_summary(records, declared_access(self.entry.cls))
            self.notes[ACCESS_NOTE] = summary["line"]

    # ----------------------------------------------------------------- diagnostics

    def diagnostics(self) -> dict[str, Any]:
        """The report's diagnostics of the item (cached); their failure never fails the item."""
        captured = call_and_capture(self._diagnostics, "diagnostics", self.bench)
        if captured.value is not None:
            return captured.value
        exc = captured.exception
        return {"error": f"{type(exc).__name__}: {exc}"}

    def _diagnostics(self) -> dict[str, Any]:
        bench = self.bench
        key = bench.diagnostics_key(self.replicate_keys, self.oracle_count, self.merged)
        cached = bench.cache.load_json("diagnostics", key)
        if cached:
            return dict(cached)
        found = item_diagnostics(
            [r.outputs for r in self.replicates], self.shared["oracle_outputs"], self.original.outputs,
            bench.labels, bench.raw.num_classes, params=self.merged,
        )  # fmt: skip
        with contextlib.suppress(TypeError, ValueError):  # not JSON-able: shown, just not cached
            bench.cache.save_json("diagnostics", key, found, {"item": self.item_id})
        return found
