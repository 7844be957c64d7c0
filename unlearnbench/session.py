"""A run: collect → run → finish. The single error boundary of the bench.

:class:`Session` expands every selected method's grid into :class:`Item` s, builds the shared
:class:`~unlearnbench.runner.Bench`, runs the items (reference rows ``original`` and ``retrain`` first),
broadcasts each finished item through ``unlearnbench_runreport``, journals it (``journal.jsonl``, fsync'ed
per item, see :mod:`unlearnbench.journal`), rewrites ``results.json`` atomically at most every
:data:`JOURNAL_INTERVAL_S` seconds and once at the end, then writes the HTML report, also after Ctrl-C.
An unfinished run directory (killed, interrupted) is continued from its journal when the same run is
started again in it, or by ``--resume RUN_DIR``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import pluggy

from unlearnbench.api import Metric, metric_default_selected
from unlearnbench.config import Config
from unlearnbench.errors import ExitCode, PluginError, UsageError
from unlearnbench.executors import RunPlan, pinned_threads, prefetch
from unlearnbench.journal import Journal, fingerprint_of, read_previous
from unlearnbench.plugins import PluginSet
from unlearnbench.provenance import describe_dataset, describe_device, git_commit, package_versions
from unlearnbench.recipe import ProgressCallback
from unlearnbench.registry import Entry, Item, MetricSpec, Registry, merge_params
from unlearnbench.reporting.html import write_html
from unlearnbench.reporting.index import write_index
from unlearnbench.resources import PeakMemory, item_phase
from unlearnbench.results import REFERENCE_METHODS, Column, ItemResult, RunResults, paired_to_reference, save
from unlearnbench.runner import Bench, build_bench, columns_for, resolve_device, run_item
from unlearnbench.selection import (
    KeywordExpression,
    canonical_params,
    did_you_mean,
    expand_grid,
    item_id,
    matches_pattern,
    parse_explicit_item,
)
from unlearnbench.threads import ThreadChoice

__all__ = [
    "JOURNAL_INTERVAL_S", "Item", "Reporter", "Session", "merge_params", "resolve_device", "with_paired_differences",
]  # fmt: skip


class Reporter(Protocol):
    """What the session needs of its console reporter (the terminal reporter, or a test's)."""

    def line(self, text: str, style: str = "") -> None:
        """Print one line."""

    @property
    def progress(self) -> ProgressCallback | None:
        """The training progress callback, or None for none."""


#: Minimum seconds between two writes of the partial results.json while items finish.
JOURNAL_INTERVAL_S = 5.0


class Session:
    """One bench run."""

    def __init__(
        self,
        config: Config,
        plugins: PluginSet,
        registry: Registry,
        reporter: Reporter | None = None,
        command: str = "",
        resume: bool = False,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.registry = registry
        self.reporter = reporter
        self.command = command or shlex.join(["unlearnbench", *sys.argv[1:]])
        self.items: list[Item] = []
        self.metric_entries: list[Entry] = []
        self.results_path: Path | None = None
        self.html_path: Path | None = None
        self.started = time.perf_counter()
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._dataset_info: dict[str, Any] = {}
        self._device_text = ""
        #: The training precision this session resolved ("fp32" or "bf16"), set with the bench.
        self.precision = "fp32"
        self._git = "unknown"
        #: Peak memory per phase, created with the bench.
        self.resources: PeakMemory | None = None
        #: How this session's torch thread count was chosen (unlearnbench.threads), set when it runs.
        self.thread_choice: ThreadChoice | None = None
        self.run_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + config.config_hash()[:6]
        #: ``--resume``: continue the output dir's run even if it finished.
        self.resume = resume
        #: Seconds the earlier sessions of a resumed run took (0 for a fresh run).
        self.prior_seconds = 0.0
        self._versions: dict[str, str] | None = None

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.plugins.manager.hook

    # ----------------------------------------------------------------- collection

    def collect(self) -> list[Item]:
        """Expand grids, apply ``--method`` / ``-k`` / ``--metric`` selection and the collection hook."""
        cfg = self.config
        methods = self.registry.methods
        self._check_method_options()
        explicit: list[Item] = []
        patterns: list[str] = []
        for pattern in cfg.methods:
            parsed = parse_explicit_item(pattern)
            if parsed is not None:
                name, params = parsed
                if name not in methods:
                    raise UsageError(f"unknown method {name!r}{did_you_mean(name, methods)}")
                explicit.append(Item(item_id(name, params), methods[name], params, cfg.dataset,
                                     self._config_defaults(name)))
            else:
                patterns.append(pattern)
        all_items = [item for entry in methods.values() for item in self._items_of(entry)]
        for pattern in patterns:
            if not any(matches_pattern(i.method, i.item_id, pattern) for i in all_items):
                raise UsageError(f"unknown method {pattern!r}{did_you_mean(pattern, methods)}")
        items: list[Item] = []
        for item in all_items:
            is_anchor = item.method in REFERENCE_METHODS and not item.params
            if (
                is_anchor
                or not cfg.methods
                or any(matches_pattern(item.method, item.item_id, p) for p in patterns)
            ):
                items.append(item)  # the anchors original and retrain are always evaluated
        items.extend(explicit)
        if cfg.keyword:
            expr = KeywordExpression(cfg.keyword)
            items = [
                i for i in items if i.method in REFERENCE_METHODS and not i.params or expr.matches(i.item_id)
            ]
        items = self._dedupe(items)
        items.sort(key=_reference_first)
        self.metric_entries = self._select_metrics()
        self.hook.unlearnbench_collection_modifyitems(session=self, config=cfg, items=items)
        self.items = items
        return items

    def _items_of(self, entry: Entry) -> list[Item]:
        options = self.config.method_options.get(entry.name, {})
        grid = options.get("grid", getattr(entry.cls, "grid", None))
        try:
            points = expand_grid(grid)
        except TypeError as exc:
            raise UsageError(f"method {entry.name!r}: bad grid: {exc}") from None
        dataset, overrides = self.config.dataset, self._config_defaults(entry.name)
        if not points:
            return [Item(entry.name, entry, {}, dataset, overrides)]
        return [Item(item_id(entry.name, p), entry, p, dataset, overrides) for p in points]

    def _config_defaults(self, method: str) -> dict[str, Any]:
        return dict(self.config.method_options.get(method, {}).get("defaults", {}))

    def _check_method_options(self) -> None:
        """Every ``method_options`` entry names a registered method and only ``grid`` / ``defaults``."""
        for name, options in self.config.method_options.items():
            if name not in self.registry.methods:
                raise UsageError(
                    f"method_options: unknown method {name!r}{did_you_mean(name, self.registry.methods)}"
                )
            if not isinstance(options, dict):
                raise UsageError(f"method_options.{name} must be a table with 'grid' and/or 'defaults'")
            for key in options:
                if key not in ("grid", "defaults"):
                    raise UsageError(f"method_options.{name}: unknown key {key!r}; use 'grid' or 'defaults'")
            if not isinstance(options.get("defaults", {}), dict):
                raise UsageError(f"method_options.{name}.defaults must be a table")

    @staticmethod
    def _dedupe(items: list[Item]) -> list[Item]:
        seen: set[tuple[str, str]] = set()
        out: list[Item] = []
        for item in items:
            key = (item.method, canonical_params(item.merged_params))
            if key not in seen:
                seen.add(key)
                out.append(item)
        return out

    def _select_metrics(self) -> list[Entry]:
        metrics = self.registry.metrics
        if not self.config.metrics:  # opt-in (expensive) metrics run only when a pattern names them
            return [e for e in metrics.values() if metric_default_selected(e.cls)]
        chosen: list[Entry] = []
        for pattern in self.config.metrics:
            found = [e for n, e in metrics.items() if matches_pattern(n, n, pattern)]
            if not found and not any(c in pattern for c in "*?["):  # a glob may match nothing
                raise UsageError(f"unknown metric {pattern!r}{did_you_mean(pattern, metrics)}")
            chosen.extend(e for e in found if e not in chosen)
        return chosen

    # ----------------------------------------------------------------- running

    def output_dir(self) -> Path:
        base = Path(self.config.output_dir) if self.config.output_dir else Path("reports") / self.run_id
        if base.exists() and not base.is_dir():
            raise UsageError(f"output dir {base} exists and is not a directory")
        return base

    def run(self) -> tuple[RunResults, ExitCode]:
        """Run every collected item; returns the results and the exit code.

        Items finished by an earlier, unfinished session of the same run directory (or by the run given
        to ``--resume``) are taken from its journal instead of being run again. A pinned ``--threads``
        holds for this session only: the calling process gets its own thread count back afterwards.
        """
        with pinned_threads(self.config) as choice:  # before the Bench: the device line shows the count
            self.thread_choice = choice
            return self._run()

    def _run(self) -> tuple[RunResults, ExitCode]:
        out_dir = self.output_dir()
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create output dir {out_dir}: {exc.strerror or exc}") from None
        self.results_path = out_dir / "results.json"
        self.html_path = out_dir / "report.html"
        bench = self._build_bench()
        specs = [MetricSpec(e, _instantiate(e)) for e in self.metric_entries]
        columns = columns_for(specs)
        self._dataset_info = describe_dataset(bench)
        config_hash = self.config.config_hash()
        previous = read_previous(out_dir, config_hash, explicit=self.resume)
        kept: dict[str, ItemResult] = {}
        if previous is not None:
            self.run_id, self.started_at, self.prior_seconds = previous.run_id, previous.started_at, previous.elapsed
            kept = previous.items
        journal = Journal(out_dir)
        journal.open(config_hash, self.run_id, {fp: (self.prior_seconds, item) for fp, item in kept.items()})
        finished: list[ItemResult] = []
        interrupted = False
        try:
            # A results.json from the start: a run killed while training the oracles can be resumed.
            self._write(self._with_kept([], kept, specs), columns, interrupted=False, exitstatus=None)
            if kept:
                self._announce(f"resuming {out_dir}: {len(kept)} finished items taken from its journal")
            self._announce("training the original model and the oracles")
            plan = RunPlan(self.config, self.plugins, self.registry, self.items, bench, specs, self._announce)
            executor_failed = prefetch(plan)  # runs jobs ahead unless local
            with bench.phase("original"):
                bench.original()
            with bench.phase("oracles"):
                bench.oracle_pool(self.config.oracles)
                if bench.oracle_batching == "vmap" and any(item.entry.name == "retrain" for item in self.items):
                    # The retrain row's replicates (seeds R ... R + S - 1) as one more batched ensemble.
                    bench.oracle_group(range(self.config.oracles, self.config.oracles + self.config.seeds))
            columns = self._run_items(bench, specs, columns, kept, finished, journal, executor_failed)
        except KeyboardInterrupt:
            interrupted = True
            finished = self._with_kept(finished, kept, specs)
        except UsageError:
            # E.g. a full or read-only cache: keep what was computed, then report the one-line error.
            finished = self._with_kept(finished, kept, specs)
            self._write(finished, columns, interrupted=True, exitstatus=ExitCode.USAGE_ERROR)
            raise
        finally:
            journal.close()
        exit_code = self._exit_code(finished, interrupted)
        results = self._write(finished, columns, interrupted, exit_code)
        self._finish(results, out_dir)
        self.hook.unlearnbench_sessionfinish(session=self, results=results, exitstatus=int(exit_code))
        return results, exit_code

    def _run_items(
        self, bench: Bench, specs: list[MetricSpec], columns: list[Column], kept: dict[str, ItemResult],
        finished: list[ItemResult], journal: Journal, executor_failed: dict[str, ItemResult],
    ) -> list[Column]:  # fmt: skip
        """Run (or take from the journal) every item in order, journaling each as it finishes."""
        failures = 0
        last_write = time.perf_counter()
        for item in self.items:
            fingerprint = self._fingerprint(item, specs)
            result = kept.get(fingerprint)
            if result is None:
                with bench.phase(item_phase(item.item_id)):
                    result = executor_failed.get(item.item_id) or run_item(
                        bench, item.entry, item.params, item.merged_params, item.item_id,
                        list(range(self.config.seeds)), specs, self.config.oracles,
                    )  # fmt: skip
                result = with_paired_differences(result, finished)
                journal.append(fingerprint, self.elapsed(), result)  # kept items are in the journal already
            finished.append(result)
            columns = self._extend_columns(columns, result)
            self.hook.unlearnbench_runreport(report=result)
            if time.perf_counter() - last_write >= JOURNAL_INTERVAL_S:
                # The full results.json is throttled (it serialises every item so far); the journal is not.
                self._write(finished, columns, interrupted=False, exitstatus=None)
                last_write = time.perf_counter()
            if result.outcome in ("failed", "error"):
                failures += 1
                if self.config.maxfail and failures >= self.config.maxfail:
                    self._announce(f"stopping after {failures} failures (--maxfail)")
                    break
        return columns

    def _with_kept(
        self, finished: list[ItemResult], kept: dict[str, ItemResult], specs: list[MetricSpec]
    ) -> list[ItemResult]:
        """``finished`` plus the journal's items not reached yet, in collection order (a stop loses none)."""
        done = {r.item_id for r in finished}
        rest = [kept[fp] for fp in (self._fingerprint(i, specs) for i in self.items) if fp in kept]
        return finished + [r for r in rest if r.item_id not in done]

    def _fingerprint(self, item: Item, specs: list[MetricSpec]) -> str:
        return fingerprint_of(self.config, item.entry, item.merged_params, specs, self.precision)

    def elapsed(self) -> float:
        """Seconds this run has been going, over every session of it (resumed runs add up)."""
        return self.prior_seconds + time.perf_counter() - self.started

    def _finish(self, results: RunResults, out_dir: Path) -> None:
        """The HTML report and the index of the parent folder; their failure never loses the JSON."""
        try:
            assert self.html_path is not None
            write_html(results, self.html_path)
        except Exception as exc:  # the JSON is the canonical artifact; a report bug must not lose it
            self._announce(f"could not write the HTML report: {exc}")
        try:
            write_index(out_dir.parent)
        except Exception as exc:
            self._announce(f"could not update the index of {out_dir.parent}: {exc}")

    def _announce(self, text: str) -> None:
        if self.reporter is not None and self.config.verbosity >= 0:
            self.reporter.line(text, style="dim")

    @staticmethod
    def _exit_code(finished: list[ItemResult], interrupted: bool) -> ExitCode:
        if interrupted:
            return ExitCode.INTERRUPTED
        if any(r.outcome in ("failed", "error") for r in finished):
            return ExitCode.ITEMS_FAILED
        return ExitCode.OK

    @staticmethod
    def _extend_columns(columns: list[Column], result: ItemResult) -> list[Column]:
        known = {c.key for c in columns}
        for key in result.summary:
            if key not in known:
                metric, _, sub = key.partition(".")
                columns.append(Column(key, sub or metric, metric, None))
                known.add(key)
        return columns

    def _write(
        self,
        finished: list[ItemResult],
        columns: list[Column],
        interrupted: bool,
        exitstatus: ExitCode | None,
    ) -> RunResults:
        results = RunResults(
            run_id=self.run_id,
            command=self.command,
            config=self.config.to_dict(),
            config_hash=self.config.config_hash(),
            seeds=tuple(range(self.config.seeds)),
            oracle_seeds=tuple(range(self.config.oracles)),
            versions=self._run_versions(),
            device=self._device_text,
            git_commit=self._git,
            started_at=self.started_at,
            duration=self.elapsed(),
            columns=tuple(columns),
            items=tuple(finished),
            dataset=self._dataset_info,
            exit_status=int(exitstatus) if exitstatus is not None else -1,
            interrupted=interrupted,
            resources=self.resources.to_dict() if self.resources is not None else {},
        )
        assert self.results_path is not None
        save(results, self.results_path)
        return results

    def _run_versions(self) -> dict[str, str]:
        if self._versions is None:  # computed once: results.json is written many times per run
            self._versions = {**package_versions(), **self._plugin_versions()}
        return self._versions

    def _plugin_versions(self) -> dict[str, str]:
        return {
            f"plugin {info.name}": info.version or info.origin
            for info in self.plugins.infos.values()
            if info.origin != "built-in"
        }

    def _build_bench(self) -> Bench:
        """The run's Bench (:func:`~unlearnbench.runner.build_bench`) and the provenance that describes it."""
        bench = build_bench(self.config, self.registry, getattr(self.reporter, "progress", None))
        self.resources = bench.resources
        self.precision = bench.recipe.precision
        self._device_text = describe_device(bench.device, self.thread_choice)
        if self.precision != "fp32":  # the run's numbers depend on it: say it where the device is named
            self._device_text += f"; {self.precision} training"
        self._git = git_commit()
        return bench


def _instantiate(entry: Entry) -> Metric:
    """An instance of a metric class; a raising constructor is a plugin error naming the plugin."""
    try:
        return entry.cls()
    except Exception as exc:
        raise PluginError(
            f"{entry.origin} {entry.location}: {entry.kind} {entry.name!r}: constructor raised "
            f"{type(exc).__name__}: {exc}"
        ) from None


def with_paired_differences(result: ItemResult, finished: list[ItemResult]) -> ItemResult:
    """``result`` with its paired differences to the finished ``retrain`` row (unchanged without one)."""
    reference = next((r for r in finished if r.method == "retrain" and not r.params), None)
    if reference is None:
        return result
    return dataclasses.replace(result, paired=paired_to_reference(result, reference))


def _reference_first(item: Item) -> tuple[int, int]:
    """Sort key: original, retrain, then every other item in collection order (stable sort)."""
    if item.method in REFERENCE_METHODS and not item.params:
        return (0, REFERENCE_METHODS.index(item.method))
    return (1, 0)
