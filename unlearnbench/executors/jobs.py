"""Jobs: the units of work an executor runs ahead of the local pass, and how a worker runs one.

Every expensive artifact of a run is cached by content key (see :mod:`unlearnbench.runner`), so running
a job means *warming the cache*: a worker rebuilds the run's :class:`~unlearnbench.runner.Bench` from a
picklable :class:`WorkSpec` (with :func:`~unlearnbench.runner.build_bench`, as the session does),
computes one artifact and stores it in the shared cache dir. The session's
unchanged local pass then finds everything in the cache and only assembles results.

Jobs come in dependency waves (:func:`plan_jobs`):

1. ``train``: the original model, oracles ``0..R-1`` and, when the ``retrain`` row is collected, the
   independent oracles ``R..R+S-1`` of its replicates (state and outputs);
2. ``unlearn``: one item at one replicate seed (the replicate's outputs and its per-model metric values),
   which needs the original model;
3. ``population``: one item's population metrics, which need every replicate of the item.

A job whose artifacts are all cached already is left out of the plan (``skipped``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unlearnbench.api import metric_scope
from unlearnbench.cache import OUTPUTS_KIND, VALUES_KIND, content_key
from unlearnbench.config import Config
from unlearnbench.errors import UsageError
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import Item, MetricSpec, Registry, build_registry
from unlearnbench.runner import Bench, build_bench, run_item

#: The file a driver writes into the cache dir so that workers can prove they see the same folder.
TOKEN_PREFIX = ".executor-token-"


@dataclass(frozen=True)
class Job:
    """One unit of work; ``job_id`` is unique within a run and readable ("oracle 3", "finetune seed 1")."""

    kind: str  # "train", "unlearn" or "population"
    job_id: str
    role: str = ""  # train: "original" or "oracle"
    seed: int = 0
    item_id: str = ""
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    merged: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    metrics: tuple[str, ...] = ()
    #: Content key of the job's completion record: metrics that do not apply ("n/a") cache no value, so
    #: without the record a finished job would be planned again on every re-run.
    done_key: str = ""


@dataclass
class JobPlan:
    """The jobs of a run in dependency order: every job of a wave may need the jobs of earlier waves."""

    waves: list[list[Job]] = field(default_factory=list)
    skipped: int = 0

    @property
    def jobs(self) -> list[Job]:
        return [job for wave in self.waves for job in wave]


@dataclass(frozen=True)
class WorkSpec:
    """Everything a worker needs to rebuild the run's Bench: picklable, paths absolute."""

    config: Config
    plugin_args: tuple[str, ...]  # -p module names and no:NAME blocks, as build_plugin_manager takes them
    plugins_dir: str | None
    cwd: str
    cache_root: str
    token: str
    threads: int | None = None


@dataclass(frozen=True)
class JobOutcome:
    """What a worker reports for one job; ``fatal`` errors end the whole run (e.g. an invisible cache dir)."""

    job_id: str
    ok: bool
    error: str = ""
    fatal: bool = False


class CacheNotVisible(Exception):
    """A worker cannot see the cache dir the driver writes to."""


# --------------------------------------------------------------------------- planning


def _cached(bench: Bench, kind: str, key: str) -> bool:
    return bench.cache.sidecar_path(kind, key).exists()


def _trained_cached(bench: Bench, role: str, seed: int) -> bool:
    key = content_key(bench.model_parts(role, seed))
    out_key = content_key({"outputs_of": key, "splits": bench.splits_key})
    return _cached(bench, role, key) and _cached(bench, OUTPUTS_KIND, out_key)


def plan_jobs(
    bench: Bench, items: Sequence[Item], specs: Sequence[MetricSpec], oracle_count: int, seeds: Sequence[int]
) -> JobPlan:
    """The jobs that warm every artifact of ``items`` which the cache does not hold yet."""
    plan = JobPlan(waves=[[], [], []])
    train, unlearn, population = plan.waves
    wanted: list[tuple[str, int]] = [("original", bench.base_seed)]
    wanted += [("oracle", s) for s in range(oracle_count)]
    if any(item.method == "retrain" for item in items):
        wanted += [("oracle", oracle_count + s) for s in seeds]
    for role, seed in wanted:
        if _trained_cached(bench, role, seed):
            plan.skipped += 1
        else:
            train.append(Job("train", role if role == "original" else f"oracle {seed}", role=role, seed=seed))
    model_specs = [s for s in specs if metric_scope(s.instance) == "model"]
    population_specs = [s for s in specs if metric_scope(s.instance) == "population"]
    for item in items:
        if getattr(item.entry.cls, "requires_class_forget", False) and bench.forget_classes() is None:
            continue  # the local pass records it as skipped
        merged = item.merged_params
        keys = [bench.unlearned_key(item.entry, merged, seed) for seed in seeds]
        common: dict[str, Any] = {
            "item_id": item.item_id, "method": item.method, "params": dict(item.params), "merged": merged,
        }  # fmt: skip
        for seed, key in zip(seeds, keys):
            metric_keys = [bench.metric_key(s, [key], oracle_count) for s in model_specs]
            done_key = content_key({"role": "job", "kind": "unlearn", "outputs": key, "metrics": metric_keys})
            done = _cached(bench, OUTPUTS_KIND, key) and (
                all(_cached(bench, VALUES_KIND, k) for k in metric_keys) or _cached(bench, VALUES_KIND, done_key)
            )
            if done:
                plan.skipped += 1
                continue
            unlearn.append(
                Job("unlearn", f"{item.item_id} seed {seed}", seed=seed,
                    metrics=tuple(s.name for s in model_specs), done_key=done_key, **common)
            )  # fmt: skip
        if population_specs:
            metric_keys = [bench.metric_key(s, keys, oracle_count) for s in population_specs]
            done_key = content_key({"role": "job", "kind": "population", "metrics": metric_keys})
            if all(_cached(bench, VALUES_KIND, k) for k in metric_keys) or _cached(bench, VALUES_KIND, done_key):
                plan.skipped += 1
                continue
            population.append(
                Job("population", f"{item.item_id} population", seeds=tuple(seeds),
                    metrics=tuple(s.name for s in population_specs), done_key=done_key, **common)
            )  # fmt: skip
    return plan


# --------------------------------------------------------------------------- the cache dir token


def write_token(cache_root: Path, token: str) -> Path:
    """Write the run's token into the cache dir (the driver does this before submitting any job)."""
    cache_root.mkdir(parents=True, exist_ok=True)
    path = cache_root / f"{TOKEN_PREFIX}{token}"
    path.write_text(token, encoding="ascii")
    return path


def check_cache_visible(spec: WorkSpec) -> None:
    """Raise :class:`CacheNotVisible` unless this process reads the driver's token from the cache dir."""
    path = Path(spec.cache_root) / f"{TOKEN_PREFIX}{spec.token}"
    try:
        seen = path.read_text(encoding="ascii")
    except OSError:
        seen = ""
    if seen != spec.token:
        raise CacheNotVisible(
            f"cache dir {spec.cache_root} is not visible from worker {socket.gethostname()} (pid {os.getpid()}): "
            "use a shared filesystem"
        )


# --------------------------------------------------------------------------- the worker side

#: The Bench of the current run in this worker process: rebuilding it for every job would reload the data.
_BENCHES: dict[str, tuple[Bench, Registry]] = {}


def _bench_for(spec: WorkSpec) -> tuple[Bench, Registry]:
    if spec.token in _BENCHES:
        return _BENCHES[spec.token]
    import torch  # the driver's thread count, set before the Bench is built

    _BENCHES.clear()
    if os.path.isdir(spec.cwd):  # relative paths of the config (data files, plugins) mean the driver's
        os.chdir(spec.cwd)
    if spec.threads:
        torch.set_num_threads(spec.threads)
    plugins = build_plugin_manager(spec.plugin_args, Path(spec.plugins_dir) if spec.plugins_dir else None)
    registry = build_registry(plugins)
    config = replace(spec.config, cache_dir=spec.cache_root, no_cache=False)
    bench = build_bench(config, registry)
    _BENCHES[spec.token] = (bench, registry)
    return bench, registry


def _metric_specs(registry: Registry, names: Sequence[str]) -> list[MetricSpec]:
    return [MetricSpec(registry.metrics[name], registry.metrics[name].cls()) for name in names]


def execute(bench: Bench, registry: Registry, config: Config, job: Job) -> None:
    """Run one job against ``bench``: its artifacts land in the cache (item-level errors are not cached)."""
    if job.kind == "train":
        if job.role == "original":
            bench.original()
        else:
            bench.oracle(job.seed)
        return
    entry = registry.methods[job.method]
    seeds = [job.seed] if job.kind == "unlearn" else list(job.seeds)
    result = run_item(bench, entry, job.params, job.merged, job.item_id, seeds,
                      _metric_specs(registry, job.metrics), config.oracles)  # fmt: skip
    if result.outcome == "passed" and job.done_key:  # errors are never recorded: a re-run retries them
        bench.cache.save_values(job.done_key, {}, {"job": job.job_id})


def run_job(spec: WorkSpec, job: Job) -> JobOutcome:
    """The worker's entry point: check the cache dir, rebuild the Bench (once per process), run ``job``."""
    try:
        check_cache_visible(spec)
    except CacheNotVisible as exc:
        return JobOutcome(job.job_id, ok=False, error=str(exc), fatal=True)
    try:
        bench, registry = _bench_for(spec)
        execute(bench, registry, spec.config, job)
    except UsageError as exc:  # a plugin or data file this worker cannot load fails every job alike
        return JobOutcome(job.job_id, ok=False, error=f"worker {socket.gethostname()}: {exc}", fatal=True)
    except Exception as exc:  # reported per job; the driver turns it into the item's error outcome
        return JobOutcome(job.job_id, ok=False, error=f"{type(exc).__name__}: {exc}")
    return JobOutcome(job.job_id, ok=True)
