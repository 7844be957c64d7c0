"""Running metrics for one item: value checks, caching, bootstrap intervals, summaries and table columns.

:mod:`unlearnbench.runner.bench` owns the models; this module owns what happens to a metric's numbers once
the artifacts it needs are at hand. It reads and writes the :class:`~unlearnbench.cache.Cache` it is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from unlearnbench.api import EvalContext, Resampling, higher_is_better, metric_scope
from unlearnbench.cache import Cache, content_key
from unlearnbench.registry import MetricSpec
from unlearnbench.results import INTERVAL_BOOTSTRAP, Column, SeedResult, Summary, summarise
from unlearnbench.stats import stratified_bootstrap

__all__ = [
    "BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "MetricSpec", "MetricValueError", "as_values", "cached_bootstrap",
    "cached_compute", "columns_for", "summaries",
]  # fmt: skip

#: Resamples and seed of the percentile bootstrap over examples of population metrics (fixed, so that
#: the same outputs always give the same interval).
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


class MetricValueError(ValueError):
    """A metric returned something that is not a finite number."""


def as_values(metric_name: str, value: Any) -> dict[str, float]:
    """A metric's return value as column → float, refusing NaN and inf (they become error cells)."""
    if isinstance(value, Mapping):
        out = {f"{metric_name}.{k}": float(v) for k, v in value.items()}
    else:
        out = {metric_name: float(value)}
    bad = [k for k, v in out.items() if not math.isfinite(v)]
    if bad:
        raise MetricValueError(f"non-finite value for {', '.join(bad)}")
    return out


def cached_compute(cache: Cache, spec: MetricSpec, ctx: EvalContext, key: str) -> dict[str, float]:
    """A metric's values from the cache, else computed, checked finite and stored (errors are not cached)."""
    hit = cache.load_values(key)
    if hit is not None:
        return hit
    values = as_values(spec.name, spec.instance.compute(ctx))
    cache.save_values(key, values, {"metric": spec.name})
    return values


def cached_bootstrap(cache: Cache, spec: MetricSpec, ctx: EvalContext, key: str) -> dict[str, tuple[float, float]]:
    """Column → (low, high) of the 95 % percentile bootstrap over examples, for metrics with ``resampling``.

    Cached like the values (``<key>`` of the bootstrap entry is the values' key plus the resampling
    settings); a metric without ``resampling`` gets ``{}``.
    """
    method = getattr(spec.instance, "resampling", None)
    if method is None:
        return {}
    boot_key = content_key({"bootstrap_of": key, "resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED})
    hit = cache.load_values(boot_key)
    if hit is None:
        resampling = method(ctx)
        if not isinstance(resampling, Resampling):
            raise TypeError(f"{spec.name}.resampling returned {type(resampling).__name__}, not a Resampling")
        intervals = stratified_bootstrap(
            resampling.statistic, resampling.groups, BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED
        )
        hit = {}
        for column, interval in intervals.items():
            name = spec.name if column == "" else f"{spec.name}.{column}"
            if interval.low is not None and interval.high is not None:
                hit[f"{name}@low"], hit[f"{name}@high"] = interval.low, interval.high
        cache.save_values(boot_key, hit, {"metric": spec.name, "bootstrap": BOOTSTRAP_RESAMPLES})
    out: dict[str, tuple[float, float]] = {}
    for name in {k.rpartition("@")[0] for k in hit}:
        out[name] = (hit[f"{name}@low"], hit[f"{name}@high"])
    return out


def summaries(
    seeds: Sequence[SeedResult],
    population: Mapping[str, float],
    n_seeds: int,
    population_intervals: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Summary]:
    """Per column: mean ± 95 % t-interval over seeds, or the population value with its bootstrap interval."""
    summary: dict[str, Summary] = {}
    keys: list[str] = []
    for s in seeds:
        keys.extend(k for k in s.values if k not in keys)
    for key in keys:
        values = [s.values[key] for s in seeds if key in s.values]
        if len(values) == len(seeds) and values:
            summary[key] = summarise(values)
    intervals = population_intervals or {}
    for key, value in population.items():
        if key in intervals:
            low, high = intervals[key]
            summary[key] = Summary(mean=value, ci_low=low, ci_high=high, n=n_seeds, interval=INTERVAL_BOOTSTRAP)
        else:
            summary[key] = Summary(mean=value, ci_low=None, ci_high=None, n=n_seeds)
    return summary


def columns_for(metrics: Sequence[MetricSpec]) -> list[Column]:
    """Table columns declared by the metrics (``columns`` attribute; else one column per metric)."""
    columns: list[Column] = []
    for spec in metrics:
        declared = getattr(spec.instance, "columns", None)
        scope = metric_scope(spec.instance)
        if declared:
            for sub in declared:
                columns.append(
                    Column(
                        f"{spec.name}.{sub}",
                        str(sub),
                        spec.name,
                        higher_is_better(spec.instance, sub),
                        scope,
                        spec.entry.description,
                    )
                )
        else:
            label = str(getattr(spec.instance, "label", spec.name))
            columns.append(
                Column(
                    spec.name,
                    label,
                    spec.name,
                    higher_is_better(spec.instance, spec.name),
                    scope,
                    spec.entry.description,
                )
            )
    return columns
