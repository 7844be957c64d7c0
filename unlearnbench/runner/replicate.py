"""One unlearned replicate: the method run once on a copy of the original, validated, cached.

:func:`unlearn_once` is the single place where a method's ``unlearn`` is called (timed, under the
``--timeout`` limit, the original checked untouched, the returned model's shape checked); the item protocol
and the shadow models of :mod:`unlearnbench.runner.shadows` both go through it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnbench.api import Method, ModelOutputs, metric_needs, metric_scope
from unlearnbench.evaluation import copy_model, freeze, state_dict_cpu
from unlearnbench.registry import MetricSpec
from unlearnbench.runner.access import TrackedContext, access_record, counted_steps
from unlearnbench.runner.bench import Bench
from unlearnbench.runner.guards import check_original_untouched, time_limit
from unlearnbench.runner.metricrun import MetricValueError
from unlearnbench.training import LOOP

__all__ = ["UNLEARNED_ROLE", "Replicate", "unlearn_once", "unlearned_replicate", "weights_needed"]

#: Cache role of unlearned replicates' weights (keyed by :meth:`Bench.unlearned_key`, like their outputs).
UNLEARNED_ROLE = "unlearned"

#: Offset of the seed of a method's freshly initialised model (``ctx.new_model``) from the replicate seed.
NEW_MODEL_SEED_OFFSET = 7919


@dataclass
class Replicate:
    """One unlearned replicate: its outputs, unlearning seconds and (when a metric needs them) weights."""

    outputs: ModelOutputs
    seconds: float
    cached: bool
    state: dict[str, torch.Tensor] | None = None
    #: What the method touched (:func:`unlearnbench.runner.access.access_record`); None where not recorded.
    access: dict[str, Any] | None = None


def unlearned_replicate(
    bench: Bench, method: Method, merged: Mapping[str, Any], seed: int, key: str, item_id: str, weights: bool
) -> Replicate:
    """The replicate under ``key`` from the cache, else unlearned now and cached (weights and outputs).

    With ``weights`` the cached weights are required too (a metric needs the model); only when they are
    missing does the method run again. Raises whatever the method raises.
    """
    hit = bench.cache.load_outputs(key)
    state_hit = bench.cache.load_state(UNLEARNED_ROLE, key) if weights else None
    if hit is not None and (not weights or state_hit is not None):
        state = state_hit[0] if state_hit else None
        return Replicate(hit[0], float(hit[1]["seconds"]), True, state, hit[1].get("access"))
    meta: dict[str, Any] = {"item": item_id, "seed": seed}
    if state_hit is not None:  # weights kept, outputs lost: evaluating is enough
        state, state_meta = state_hit
        outputs = bench.outputs_of(bench.model_from_state(state))
        kept = {**meta, "seconds": float(state_meta["seconds"]), "access": state_meta.get("access")}
        bench.cache.save_outputs(key, outputs, kept)
        return Replicate(outputs, float(state_meta["seconds"]), True, state, state_meta.get("access"))
    model, seconds, access = unlearn_recorded(bench, method, merged, seed)
    outputs = bench.outputs_of(model)
    if not outputs_finite(outputs):
        raise MetricValueError("the unlearned model produces non-finite logits (NaN or inf weights?)")
    state = state_dict_cpu(model)
    bench.cache.save_state(UNLEARNED_ROLE, key, state, {**meta, "seconds": seconds, "access": access})
    bench.cache.save_outputs(key, outputs, {**meta, "seconds": seconds, "access": access})
    return Replicate(outputs, seconds, False, state, access)


def outputs_finite(outputs: ModelOutputs) -> bool:
    """Whether every logit of every split is finite."""
    return all(bool(np.isfinite(v).all()) for v in outputs.logits.values())


def weights_needed(bench: Bench, metrics: Sequence[MetricSpec], key: str, oracle_count: int) -> bool:
    """Whether a per-model metric that needs the weights has no cached value for replicate ``key`` yet."""
    return any(
        metric_scope(m.instance) == "model"
        and metric_needs(m.instance) & {"model", "states"}
        and bench.cache.load_values(bench.metric_key(m, [key], oracle_count)) is None
        for m in metrics
    )


def unlearn_once(
    bench: Bench,
    method: Method,
    merged: Mapping[str, Any],
    seed: int,
    start_state: Mapping[str, torch.Tensor] | None = None,
) -> tuple[nn.Module, float]:
    """Copy the original (or ``start_state``, e.g. a shadow original), run ``unlearn`` (timed), validate.

    Returns the unlearned model (eval mode) and its seconds: the wall time, or what the method charged.
    """
    model, seconds, _ = unlearn_recorded(bench, method, merged, seed, start_state)
    return model, seconds


def unlearn_recorded(
    bench: Bench,
    method: Method,
    merged: Mapping[str, Any],
    seed: int,
    start_state: Mapping[str, torch.Tensor] | None = None,
) -> tuple[nn.Module, float, dict[str, Any]]:
    """:func:`unlearn_once`, plus what the method touched (:mod:`unlearnbench.runner.access`)."""
    original_state = bench.original().state if start_state is None else start_state
    model = bench.model_from_state(original_state)
    model.train()
    frozen = freeze(copy_model(model))
    ctx = unlearn_context(bench, merged, seed, frozen)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with time_limit(bench.timeout), counted_steps() as steps:
        result = method.unlearn(model, ctx)
    seconds = time.perf_counter() - start
    check_original_untouched(frozen, original_state)
    check_result(bench, result)
    result.eval()
    charged = ctx.charged_seconds if ctx.charged_seconds is not None else seconds
    return result, charged, access_record(ctx, steps[0])


def unlearn_context(bench: Bench, merged: Mapping[str, Any], seed: int, original: nn.Module) -> TrackedContext:
    """The context a method gets for replicate ``seed``: the splits, the frozen original, the run's loop."""

    def oracle_model() -> nn.Module:
        trained = bench.independent_oracle(seed)
        ctx.charged_seconds = trained.seconds
        return bench.model_from_state(trained.state)

    ctx = TrackedContext(
        params=dict(merged), seed=seed, device=bench.device, retain=bench.data["retain"],
        forget=bench.data["forget"], val=bench.data["val"], original=original,
        num_classes=bench.raw.num_classes, recipe=bench.recipe,
        new_model=lambda: bench.new_model(seed + NEW_MODEL_SEED_OFFSET), oracle_model=oracle_model,
        progress=bench.progress, time_budget=bench.time_budget, forget_classes=bench.forget_classes(),
        trainer=LOOP,
    )  # fmt: skip
    return ctx


def check_result(bench: Bench, result: object) -> None:
    """``unlearn`` must return a module with the original's parameter names and shapes."""
    if not isinstance(result, nn.Module):
        raise TypeError(f"unlearn returned {type(result).__name__}, expected a torch.nn.Module")
    reference = bench.build_model().state_dict()
    got = result.state_dict()
    if set(got) != set(reference) or any(got[k].shape != reference[k].shape for k in reference):
        raise TypeError("unlearn returned a model whose parameters differ in names or shapes from the original")
