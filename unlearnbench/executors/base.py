"""The executor contract, the wave driver shared by the built-in executors, and the session's one call.

An executor is a plugin class (hook ``unlearnbench_add_executors``) with ``name``, ``description`` and
``prefetch(self, plan, ctx) -> PrefetchReport``. It runs the jobs of a :class:`~.jobs.JobPlan` ahead of the
session's local pass, which then finds every artifact in the cache. :class:`WaveExecutor` implements
``prefetch`` on top of two methods a concrete executor provides: ``run_wave`` (run jobs concurrently,
report one :class:`~.jobs.JobOutcome` each) and optionally ``start`` / ``stop``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from unlearnbench.config import Config
from unlearnbench.errors import UsageError
from unlearnbench.executors.jobs import Job, JobOutcome, JobPlan, WorkSpec, plan_jobs, write_token
from unlearnbench.plugins import PluginSet
from unlearnbench.registry import Item, MetricSpec, Registry
from unlearnbench.results import ItemResult
from unlearnbench.runner import Bench
from unlearnbench.selection import did_you_mean
from unlearnbench.threads import ThreadChoice, decide_threads


@dataclass
class ExecutorContext:
    """The run-wide settings an executor needs."""

    spec: WorkSpec
    workers: int | None = None
    address: str | None = None
    threads: int | None = None
    retries: int = 2
    announce: Callable[[str], None] = lambda text: None


@dataclass
class PrefetchReport:
    """What a prefetch did: counts, and the error of every job that failed (by ``job_id``)."""

    submitted: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class WaveExecutor:
    """Runs a plan wave by wave; a failed training job stops the prefetch (the local pass recomputes)."""

    name = "wave"
    description = "Base class of executors that run jobs concurrently"

    def start(self, ctx: ExecutorContext) -> None:
        """Acquire workers (a pool, a cluster connection)."""

    def stop(self) -> None:
        """Release what :meth:`start` acquired; also called after Ctrl-C and errors."""

    def run_wave(self, jobs: Sequence[Job], ctx: ExecutorContext) -> list[JobOutcome]:
        """Run ``jobs`` (independent of each other) and return one outcome per job."""
        raise NotImplementedError

    def prefetch(self, plan: JobPlan, ctx: ExecutorContext) -> PrefetchReport:
        report = PrefetchReport(skipped=plan.skipped)
        if not plan.jobs:
            return report
        self.start(ctx)
        try:
            failed_items: set[str] = set()
            for planned in plan.waves:
                wave = [job for job in planned if job.item_id not in failed_items]  # skip dependants of failures
                if not wave:
                    continue
                report.submitted += len(wave)
                outcomes = self.run_wave(wave, ctx)
                fatal = next((o for o in outcomes if o.fatal), None)
                if fatal is not None:
                    raise UsageError(fatal.error)
                for outcome in outcomes:
                    if not outcome.ok:
                        report.failed[outcome.job_id] = outcome.error
                        failed_items.update(job.item_id for job in wave if job.job_id == outcome.job_id)
                        ctx.announce(f"job {outcome.job_id} failed: {outcome.error}")
                trained = {job.job_id for job in wave if job.kind == "train"}
                if trained & set(report.failed):
                    ctx.announce("a training job failed: the remaining work runs in this process")
                    break
        finally:
            self.stop()
        return report


@contextlib.contextmanager
def pinned_threads(config: Config, sample_seconds: float | None = None) -> Iterator[ThreadChoice]:
    """Set torch's intra-op threads for the block and yield the choice (see :mod:`unlearnbench.threads`).

    ``config.threads`` (``--threads``) pins the count; unset, the thread policy chooses it from the cores
    this process can really use. The previous count comes back on exit, so a session run in-process (a
    test, a notebook) leaves the caller's threads as they were: the count changes a CPU run's last bits.
    """
    previous = torch.get_num_threads()
    choice = decide_threads(config.threads, previous, sample_seconds)
    torch.set_num_threads(choice.threads)
    try:
        yield choice
    finally:
        torch.set_num_threads(previous)


def work_spec(config: Config, plugins: PluginSet, precision: str, token: str, cache_root: Path) -> WorkSpec:
    """A picklable description of the run's Bench: config, plugins (incl. blocked ones), paths.

    ``precision`` is the driver's resolved precision, not ``auto``: a worker on other hardware must train
    the same way.
    """
    infos = plugins.infos.values()
    modules = [info.location for info in infos if info.origin == "-p"]
    blocked = [f"no:{name}" for name, plugin in plugins.manager.list_name_plugin() if plugin is None]
    local = [Path(info.location).resolve().parent for info in infos if info.origin == "local file"]
    return WorkSpec(
        config=dataclasses.replace(config, precision=precision), plugin_args=tuple(blocked + modules),
        plugins_dir=str(local[0]) if local else None, cwd=os.getcwd(), cache_root=str(cache_root.resolve()),
        token=token, threads=config.threads,
    )  # fmt: skip


@dataclass(frozen=True)
class RunPlan:
    """What the session hands an executor: the run's config, plugins and registry, its items and its Bench."""

    config: Config
    plugins: PluginSet
    registry: Registry
    items: Sequence[Item]
    bench: Bench
    specs: Sequence[MetricSpec]
    #: Where an executor says what it does (the session's console line).
    announce: Callable[[str], None] = lambda text: None


def prefetch(run: RunPlan) -> dict[str, ItemResult]:
    """The session's one call: run the configured executor ahead; returns failed items' results by id.

    The local executor runs nothing (the local pass does all the work, as without executors).
    """
    config, bench, announce = run.config, run.bench, run.announce
    executors = run.registry.executors
    if config.executor not in executors:
        raise UsageError(f"unknown executor {config.executor!r}{did_you_mean(config.executor, executors)}")
    executor: Any = executors[config.executor].cls()
    if getattr(executor, "in_process", False):
        return {}
    if config.no_cache or not bench.cache.enabled:
        announce(f"--no-cache: the {config.executor} executor has no cache to share; running in this process")
        return {}
    token = secrets.token_hex(16)
    token_path = write_token(bench.cache.root, token)
    # Unpinned, the workers use the driver's own thread count: the same numbers as the local executor.
    threads = config.threads or torch.get_num_threads()
    try:
        spec = work_spec(config, run.plugins, bench.recipe.precision, token, bench.cache.root)
        ctx = ExecutorContext(
            spec=dataclasses.replace(spec, threads=threads), workers=config.workers, address=config.address,
            threads=threads, retries=config.retries, announce=announce,
        )  # fmt: skip
        plan = plan_jobs(bench, run.items, run.specs, config.oracles, list(range(config.seeds)))
        announce(f"{config.executor} executor: {len(plan.jobs)} jobs to run, {plan.skipped} cached")
        report = executor.prefetch(plan, ctx)
    finally:
        token_path.unlink(missing_ok=True)
    return failed_items(report, plan, run.items)


def failed_items(report: PrefetchReport, plan: JobPlan, items: Sequence[Item]) -> dict[str, ItemResult]:
    """A failed outcome for each item one of whose jobs failed (the first failure named), by item id."""
    failed: dict[str, ItemResult] = {}
    by_id = {job.job_id: job for job in plan.jobs}
    by_item = {item.item_id: item for item in items}
    for job_id, error in report.failed.items():
        job = by_id.get(job_id)
        if job is None or not job.item_id or job.item_id in failed or job.item_id not in by_item:
            continue
        item = by_item[job.item_id]
        failed[job.item_id] = ItemResult(
            item_id=item.item_id, method=item.method, params=dict(item.params), description=item.entry.description,
            outcome="failed", errors={"executor": f"job {job_id}: {error}"},
        )  # fmt: skip
    return failed
