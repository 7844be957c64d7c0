"""The per-run resources and the per-item protocol: setup → unlearn → outputs → metrics → result.

:class:`Bench` owns what every item shares, each cached by content key: the splits, the original model,
the R retrained oracles and every model's per-example outputs. :func:`run_item` runs one item over the
S replicate seeds and returns its frozen :class:`~unlearnbench.results.ItemResult`; a method or metric
that raises or yields NaN becomes an error outcome or cell, never a crash.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import inspect
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnbench.api import (
    SPLIT_NAMES,
    EvalContext,
    ModelOutputs,
    ProgressCallback,
    RawDataset,
    Splits,
    UnlearnContext,
    metric_needs,
    metric_scope,
)
from unlearnbench.batched import can_batch, resolve_batching, train_batched
from unlearnbench.cache import Cache, content_key
from unlearnbench.data.pipeline import TensorData
from unlearnbench.data.splits import fingerprint, split_tensors, splits_fingerprint
from unlearnbench.errors import MetricNotApplicable, UsageError
from unlearnbench.evaluation import compute_outputs, copy_model, freeze, state_dict_cpu
from unlearnbench.guards import (
    ItemGuardError,
    ItemTimeout,
    check_original_untouched,
    is_out_of_memory,
    out_of_memory_message,
    release_memory,
    time_limit,
)
from unlearnbench.metricrun import (
    MetricSpec,
    MetricValueError,
    cached_bootstrap,
    cached_compute,
    columns_for,
    summaries,
)
from unlearnbench.registry import Entry
from unlearnbench.resources import PeakMemory, item_phase
from unlearnbench.results import ItemResult, Outcome, SeedResult
from unlearnbench.shadows import ShadowArtifacts, shadow_artifacts, shadow_count, shadow_keys
from unlearnbench.training import METHOD_LOOP_VERSION, Recipe, TrainStats, train

__all__ = [
    "RANDOM_MODEL_SEED", "UNLEARNED_ROLE", "Bench", "MetricSpec", "MetricValueError", "Replicate", "TrainedModel",
    "columns_for", "run_item", "source_hash", "unlearned_replicate",
]  # fmt: skip

#: Cache role of unlearned replicates' weights (keyed by :meth:`Bench.unlearned_key`, like their outputs).
UNLEARNED_ROLE = "unlearned"
#: Seed of the randomly initialised reference model (ZRF's incompetent teacher). Oracles use seeds 0 … R+S−1,
#: the original ``base_seed``, methods' fresh models seed + 7919: this one is far from all of them.
RANDOM_MODEL_SEED = 2_000_003_011


def source_hash(cls: type) -> str:
    """sha256 of the code of the module defining ``cls``: cached results follow code changes.

    The code is the module's syntax tree without its docstrings and without the class-level ``fidelity``
    records (:mod:`unlearnbench.fidelity`): documentation edits, comments and citations leave cached
    models and values valid, while any change to what runs gives new keys.
    """
    module = sys.modules.get(cls.__module__)
    try:
        text = inspect.getsource(module) if module is not None else inspect.getsource(cls)
    except (OSError, TypeError):
        text = f"{cls.__module__}.{cls.__qualname__}:{getattr(cls, 'version', '')}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]
    return hashlib.sha256(code_fingerprint(text).encode()).hexdigest()[:16]


def code_fingerprint(source: str) -> str:
    """``ast.dump`` of ``source`` without docstrings and class-level ``fidelity = ...`` records."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        kept = [statement for statement in body if not _is_documentation(statement)]
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            node.body = kept or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def _is_documentation(statement: ast.stmt) -> bool:
    """A bare string expression (a docstring) or an assignment to ``fidelity``."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return isinstance(statement.value.value, str)
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id == "fidelity"
    if isinstance(statement, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == "fidelity" for target in statement.targets)
    return False


@dataclass
class TrainedModel:
    """A trained model's weights (CPU), its training time and its per-example outputs."""

    state: dict[str, torch.Tensor]
    seconds: float
    outputs: ModelOutputs
    cached: bool


@dataclass
class Bench:
    """The resources of one run, shared by every item."""

    raw: RawDataset
    splits: Splits
    model_name: str
    build_model: Callable[[], nn.Module]
    recipe: Recipe
    device: torch.device
    cache: Cache
    base_seed: int
    eval_batch_size: int = 1024
    #: R: oracles 0..R-1 form the reference pool; the ``retrain`` row's replicates use seeds R, R+1, ...
    oracle_count: int = 1
    progress: ProgressCallback | None = None
    time_budget: float | None = None
    #: Hard limit in seconds on each replicate's ``unlearn`` call (``--timeout``); None: unlimited.
    timeout: float | None = None
    #: How missing oracles of a pool are trained: "auto" (the rule of :mod:`unlearnbench.batched`),
    #: "sequential" or "vmap". Any mode but sequential is part of the oracles' cache keys.
    train_batching: str = "auto"
    #: torch.compile the model for training the original and sequentially trained oracles (cache key part).
    compile_model: bool = False
    #: Peak memory per phase (None: not measured).
    resources: PeakMemory | None = None
    data: dict[str, TensorData] = field(init=False)
    _original: TrainedModel | None = field(default=None, init=False)
    _oracles: dict[int, TrainedModel] = field(default_factory=dict, init=False)
    _random: TrainedModel | None = field(default=None, init=False)
    _key_memo: dict[tuple[str, int], str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.data = split_tensors(self.raw, self.splits, self.device)
        self.labels: dict[str, np.ndarray] = {s: self.data[s].y.cpu().numpy() for s in SPLIT_NAMES}
        self.dataset_key = fingerprint(self.raw)
        self.splits_key = splits_fingerprint(self.splits)
        mode = resolve_batching(self.train_batching, self.device, self.model_name)
        #: The resolved oracle training mode, "sequential" or "vmap" (never from a timing: reproducible).
        self.oracle_batching = "vmap" if mode == "vmap" and can_batch(self.build_model()) else "sequential"

    def phase(self, name: str) -> contextlib.AbstractContextManager[object]:
        """Measure the enclosed code's peak memory under ``name`` (a no-op without ``resources``)."""
        return self.resources.phase(name) if self.resources is not None else contextlib.nullcontext()

    def phase_start(self, name: str) -> None:
        """Open phase ``name`` (see :meth:`PeakMemory.start`); a no-op without ``resources``."""
        if self.resources is not None:
            self.resources.start(name)

    def phase_stop(self) -> None:
        """Close the innermost open phase."""
        if self.resources is not None:
            self.resources.stop()

    # ----------------------------------------------------------------- keys

    def _model_parts(self, role: str, seed: int) -> dict[str, Any]:
        parts: dict[str, Any] = {
            "role": role,
            "dataset": self.dataset_key,
            "model": self.model_name,
            "num_classes": self.raw.num_classes,
            "recipe": self.recipe.key(),
            "seed": seed,
        }
        if role == "oracle":
            parts["splits"] = self.splits_key  # the original sees all training data: split-independent
        # Only non-default training modes enter the key, so caches of the plain sequential loop stay valid.
        if role == "oracle" and self.oracle_batching != "sequential":
            parts["training"] = self.oracle_batching
        elif self.compile_model:
            parts["compile"] = True
        return parts

    def model_key(self, role: str, seed: int) -> str:
        """Content key of a trained model (memoised: metric keys ask for every oracle's, per metric)."""
        if (role, seed) not in self._key_memo:
            self._key_memo[(role, seed)] = content_key(self._model_parts(role, seed))
        return self._key_memo[(role, seed)]

    # ----------------------------------------------------------------- models

    def new_model(self, seed: int) -> nn.Module:
        """A freshly initialised model, deterministic under ``seed``."""
        torch.manual_seed(seed)
        return self.build_model().to(self.device)

    def model_from_state(self, state: Mapping[str, torch.Tensor]) -> nn.Module:
        model = self.build_model()
        model.load_state_dict(state)
        return model.to(self.device).eval()

    def outputs_of(self, model: nn.Module) -> ModelOutputs:
        return compute_outputs(model, {s: self.data[s] for s in SPLIT_NAMES}, self.eval_batch_size)

    def _trained(self, role: str, seed: int, data: TensorData, label: str) -> TrainedModel:
        key = self.model_key(role, seed)
        hit = self._cached_model(role, seed, key)
        if hit is not None:
            return hit
        model = self.new_model(seed)
        if role == "oracle" and self.oracle_batching == "vmap":
            stats = train_batched([model], data, self.recipe, [seed], self.device, self.progress, label)[0]
        else:
            stats = train(model, data, self.recipe, seed=seed, device=self.device, progress=self.progress,
                          description=label, compile_model=self.compile_model)  # fmt: skip
        return self._store(role, seed, key, model, stats)

    def _cached_model(self, role: str, seed: int, key: str) -> TrainedModel | None:
        hit = self.cache.load_state(role, key)
        if hit is None:
            return None
        state, meta = hit
        out_key = content_key({"outputs_of": key, "splits": self.splits_key})
        outputs_hit = self.cache.load_outputs(out_key)
        if outputs_hit is not None:
            outputs = outputs_hit[0]
        else:
            outputs = self.outputs_of(self.model_from_state(state))
            self.cache.save_outputs(out_key, outputs, {"role": role, "seed": seed})
        return TrainedModel(state, float(meta.get("seconds", float("nan"))), outputs, cached=True)

    def _store(self, role: str, seed: int, key: str, model: nn.Module, stats: TrainStats) -> TrainedModel:
        state = state_dict_cpu(model)
        self.cache.save_state(role, key, state, {"seconds": stats.seconds, "final_loss": stats.final_loss})
        outputs = self.outputs_of(model)
        self.cache.save_outputs(content_key({"outputs_of": key, "splits": self.splits_key}), outputs,
                                {"role": role, "seed": seed})  # fmt: skip
        return TrainedModel(state, stats.seconds, outputs, cached=False)

    def model_parts(self, role: str, seed: int) -> dict[str, Any]:
        """The fields of a trained model's content key (role ``original`` or ``oracle``)."""
        return self._model_parts(role, seed)

    def trained_original(self, seed: int, label: str) -> TrainedModel:
        """A model trained like the original (all training data) under another seed, e.g. a shadow."""
        return self._trained("original", seed, self.data["train"], label)

    def original(self) -> TrainedModel:
        """The original model: trained on all training data (retain ∪ forget)."""
        if self._original is None:
            self._original = self._trained("original", self.base_seed, self.data["train"], "original")
        return self._original

    def oracle(self, seed: int) -> TrainedModel:
        """Retrained model ``seed``: trained from scratch on the retain set only."""
        if seed not in self._oracles:
            self._oracles[seed] = self._trained("oracle", seed, self.data["retain"], f"oracle {seed}")
        return self._oracles[seed]

    def random_reference(self) -> TrainedModel:
        """A randomly initialised, untrained model (seed :data:`RANDOM_MODEL_SEED`) and its outputs, cached.

        Its weights depend only on the architecture and the seed; its outputs are cached per split like an
        oracle's, so metrics comparing to "a model that knows nothing" (ZRF) evaluate it once.
        """
        if self._random is None:
            parts = self._model_parts("random", RANDOM_MODEL_SEED)
            del parts["recipe"]  # untrained: the recipe does not matter
            key = content_key(parts)
            hit = self.cache.load_state("random", key)
            state = hit[0] if hit is not None else state_dict_cpu(self.new_model(RANDOM_MODEL_SEED))
            if hit is None:
                self.cache.save_state("random", key, state, {"seconds": 0.0})
            out_key = content_key({"outputs_of": key, "splits": self.splits_key})
            outputs_hit = self.cache.load_outputs(out_key)
            if outputs_hit is not None:
                outputs = outputs_hit[0]
            else:
                outputs = self.outputs_of(self.model_from_state(state))
                self.cache.save_outputs(out_key, outputs, {"role": "random", "seed": RANDOM_MODEL_SEED})
            self._random = TrainedModel(state, 0.0, outputs, cached=hit is not None)
        return self._random

    def oracle_pool(self, count: int) -> list[TrainedModel]:
        """Oracles 0..count-1; under the ``vmap`` mode the uncached ones are trained together."""
        if self.oracle_batching == "vmap":
            self._train_together([seed for seed in range(count) if seed not in self._oracles])
        return [self.oracle(seed) for seed in range(count)]

    def _train_together(self, seeds: Sequence[int]) -> None:
        missing: list[tuple[int, str]] = []
        for seed in seeds:
            key = self.model_key("oracle", seed)
            hit = self._cached_model("oracle", seed, key)
            if hit is not None:
                self._oracles[seed] = hit
            else:
                missing.append((seed, key))
        if not missing:
            return
        models = [self.new_model(seed) for seed, _ in missing]
        label = f"oracles {missing[0][0]}-{missing[-1][0]}" if len(missing) > 1 else f"oracle {missing[0][0]}"
        all_stats = train_batched(models, self.data["retain"], self.recipe, [seed for seed, _ in missing],
                                  self.device, self.progress, label)  # fmt: skip
        for (seed, key), model, stats in zip(missing, models, all_stats):
            self._oracles[seed] = self._store("oracle", seed, key, model, stats)

    def metric_key(self, spec: MetricSpec, output_keys: Sequence[str], oracle_count: int) -> str:
        """Content key of one metric's values: the metric's code, the evaluated outputs and the references."""
        return content_key(
            {
                "role": "metric",
                "metric": spec.name,
                "code": source_hash(spec.entry.cls),
                "outputs": list(output_keys),
                "original": self.model_key("original", self.base_seed),
                "oracles": [self.model_key("oracle", seed) for seed in range(oracle_count)],
                "splits": self.splits_key,
            }
        )

    def diagnostics_key(self, output_keys: Sequence[str], oracle_count: int, params: Mapping[str, Any]) -> str:
        """Content key of an item's report diagnostics: their code, the outputs they summarise, the parameters."""
        import unlearnbench.diagnostics as diagnostics
        import unlearnbench.metrics.forgetting_quality as fq

        code = [hashlib.sha256(inspect.getsource(m).encode()).hexdigest()[:16] for m in (diagnostics, fq)]
        return content_key(
            {
                "role": "diagnostics",
                "code": code,
                "outputs": list(output_keys),
                "original": self.model_key("original", self.base_seed),
                "oracles": [self.model_key("oracle", seed) for seed in range(oracle_count)],
                "splits": self.splits_key,
                "params": {k: repr(v) for k, v in params.items()},
            }
        )

    def forget_classes(self) -> tuple[int, ...] | None:
        """The forgotten classes for a ``class:N[,M]`` forget spec, else None."""
        spec = self.splits.forget_spec
        if not spec.startswith("class:"):
            return None
        return tuple(sorted({int(c) for c in spec[len("class:") :].split(",") if c.strip()}))

    def independent_oracle(self, replicate_seed: int) -> TrainedModel:
        """A retrained model disjoint from the reference pool, for the ``retrain`` row's replicate.

        Reusing pool members would compare the oracle pool partly with itself and inflate population
        metrics such as F; seeds R + s keep the ``retrain`` row an honest "perfect unlearner".
        """
        return self.oracle(self.oracle_count + replicate_seed)

    def unlearned_key(self, entry: Entry, params: Mapping[str, Any], seed: int) -> str:
        return content_key(
            {
                "role": "unlearned",
                "original": self.model_key("original", self.base_seed),
                "splits": self.splits_key,
                "method": entry.name,
                "params": dict(params),
                "code": source_hash(entry.cls),
                "method_loop": METHOD_LOOP_VERSION,
                "seed": seed,
                "time_budget": self.time_budget,
            }
        )


# --------------------------------------------------------------------------- items


def _short_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6)).rstrip()


def _failure(exc: BaseException, where: str, bench: Bench) -> str:
    """The error text of a failed call: one line for a timeout, a guard or out-of-memory, else a traceback."""
    if isinstance(exc, (ItemTimeout, ItemGuardError)):
        return str(exc)
    if is_out_of_memory(exc):
        release_memory(bench.device)
        return out_of_memory_message(exc, where)
    return _short_error(exc)


def _outputs_finite(outputs: ModelOutputs) -> bool:
    return all(bool(np.isfinite(v).all()) for v in outputs.logits.values())


@dataclass
class Replicate:
    """One unlearned replicate: its outputs, unlearning seconds and (when a metric needs them) weights."""

    outputs: ModelOutputs
    seconds: float
    cached: bool
    state: dict[str, torch.Tensor] | None = None


def unlearned_replicate(
    bench: Bench, method: Any, merged: Mapping[str, Any], seed: int, key: str, item_id: str, weights: bool
) -> Replicate:
    """The replicate under ``key`` from the cache, else unlearned now and cached (weights and outputs).

    With ``weights`` the cached weights are required too (a metric needs the model); only when they are
    missing does the method run again. Raises whatever the method raises.
    """
    hit = bench.cache.load_outputs(key)
    state_hit = bench.cache.load_state(UNLEARNED_ROLE, key) if weights else None
    if hit is not None and (not weights or state_hit is not None):
        return Replicate(hit[0], float(hit[1]["seconds"]), True, state_hit[0] if state_hit else None)
    meta: dict[str, Any] = {"item": item_id, "seed": seed}
    if state_hit is not None:  # weights kept, outputs lost: evaluating is enough
        state, state_meta = state_hit
        outputs = bench.outputs_of(bench.model_from_state(state))
        bench.cache.save_outputs(key, outputs, {**meta, "seconds": float(state_meta["seconds"])})
        return Replicate(outputs, float(state_meta["seconds"]), True, state)
    model, seconds = _unlearn_once(bench, method, merged, seed)
    outputs = bench.outputs_of(model)
    if not _outputs_finite(outputs):
        raise MetricValueError("the unlearned model produces non-finite logits (NaN or inf weights?)")
    state = state_dict_cpu(model)
    bench.cache.save_state(UNLEARNED_ROLE, key, state, {**meta, "seconds": seconds})
    bench.cache.save_outputs(key, outputs, {**meta, "seconds": seconds})
    return Replicate(outputs, seconds, False, state)


def _weights_needed(bench: Bench, metrics: Sequence[MetricSpec], key: str, oracle_count: int) -> bool:
    """Whether a per-model metric that needs the weights has no cached value for replicate ``key`` yet."""
    return any(
        metric_scope(m.instance) == "model"
        and metric_needs(m.instance) & {"model", "states"}
        and bench.cache.load_values(bench.metric_key(m, [key], oracle_count)) is None
        for m in metrics
    )


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
    if getattr(entry.cls, "requires_class_forget", False) and bench.forget_classes() is None:
        return ItemResult(
            item_id=item_id, method=entry.name, params=dict(params), description=entry.description,
            outcome="skipped", skip_reason=f"{entry.name} needs class-wise forgetting (--forget class:N)",
        )  # fmt: skip
    original = bench.original()
    oracles = bench.oracle_pool(oracle_count)
    oracle_outputs = [o.outputs for o in oracles]
    needs: frozenset[str] = frozenset().union(*(metric_needs(m.instance) for m in metrics))
    shared: dict[str, Any] = dict(
        oracle_outputs=oracle_outputs, original_outputs=original.outputs, labels=bench.labels,
        num_classes=bench.raw.num_classes, oracle_seconds=[o.seconds for o in oracles], params=dict(merged),
    )  # fmt: skip
    errors: dict[str, str] = {}
    notes: dict[str, str] = {}
    seed_results: list[SeedResult] = []
    replicates: list[Replicate] = []
    replicate_keys: list[str] = []
    random_outputs = bench.random_reference().outputs if "random_outputs" in needs else None
    try:
        instance = entry.cls()
    except Exception as exc:  # a plugin's constructor is the plugin's bug: a failed item, not a crash
        return ItemResult(
            item_id=item_id, method=entry.name, params=dict(params), description=entry.description,
            outcome="failed", errors={"unlearn": f"{entry.name}() raised: {_short_error(exc)}"},
        )  # fmt: skip

    def extras(spec: MetricSpec, replicate: Replicate | None) -> dict[str, Any]:
        """The optional artifacts ``spec`` declares in ``needs``, shared between metrics (weights on CPU)."""
        wants = metric_needs(spec.instance)
        out: dict[str, Any] = {}
        if "data" in wants:
            out["data"] = bench.data
        if "random_outputs" in wants:
            out["random_outputs"] = random_outputs
        if "states" in wants:
            out.update(oracle_states=[o.state for o in oracles], original_state=original.state)
        if replicate is not None and replicate.state is not None:
            if "states" in wants:
                out["state"] = replicate.state
            if "model" in wants:  # a fresh model per metric: one metric cannot disturb another's input
                out["model"] = bench.model_from_state(replicate.state)
        return out

    for seed in seeds:
        key = bench.unlearned_key(entry, merged, seed)
        try:
            with bench.phase(item_phase(item_id, "unlearn")):
                replicate = unlearned_replicate(
                    bench, instance, merged, seed, key, item_id,
                    weights=_weights_needed(bench, metrics, key, oracle_count),
                )
        except UsageError:
            raise  # a cache the run cannot write (full, read-only) stops the run, keeping what is done
        except (Exception, ItemTimeout) as exc:
            errors["unlearn"] = f"seed {seed}: {_failure(exc, 'unlearn', bench)}"
            break
        replicates.append(replicate)
        replicate_keys.append(key)
        values: dict[str, float] = {}
        bench.phase_start(item_phase(item_id, "metrics"))
        for spec in metrics:
            if metric_scope(spec.instance) != "model":
                continue
            ctx = EvalContext(
                outputs=replicate.outputs, replicates=[replicate.outputs], seed=seed,
                unlearn_seconds=[replicate.seconds], **shared, **extras(spec, replicate),
            )  # fmt: skip
            try:
                values.update(cached_compute(bench, spec, ctx, bench.metric_key(spec, [key], oracle_count)))
            except MetricNotApplicable as exc:
                notes.setdefault(spec.name, str(exc))
            except Exception as exc:
                errors.setdefault(spec.name, f"seed {seed}: {_failure(exc, spec.name, bench)}")
        bench.phase_stop()
        seed_results.append(
            SeedResult(seed=seed, values=values, unlearn_seconds=replicate.seconds, cached=replicate.cached)
        )

    population: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    shadows: ShadowArtifacts | None = None
    replicate_outputs = [r.outputs for r in replicates]
    if "unlearn" not in errors and replicates:
        bench.phase_start(item_phase(item_id, "metrics"))
        for spec in metrics:
            if metric_scope(spec.instance) != "population":
                continue
            extra = extras(spec, None)
            metric_key = bench.metric_key(spec, replicate_keys, oracle_count)
            if "shadows" in metric_needs(spec.instance):
                keys = shadow_keys(bench, entry, merged, shadow_count(m.instance for m in metrics), len(replicates))
                metric_key = bench.metric_key(spec, replicate_keys + keys, oracle_count)
                if bench.cache.load_values(metric_key) is None:  # build the shadows only when computing
                    try:
                        shadows = shadows or shadow_artifacts(
                            bench, entry, instance, merged, shadow_count(m.instance for m in metrics), len(replicates)
                        )
                    except UsageError:
                        raise
                    except (Exception, ItemTimeout) as exc:
                        errors[spec.name] = f"shadows: {_failure(exc, spec.name, bench)}"
                        continue
                    extra.update(shadow_outputs=shadows.shadow_outputs,
                                 target_retrained_outputs=shadows.target_retrained_outputs)  # fmt: skip
            ctx = EvalContext(
                outputs=replicate_outputs[0], replicates=replicate_outputs, seed=seeds[0],
                unlearn_seconds=[r.seconds for r in replicates], **shared, **extra,
            )  # fmt: skip
            try:
                population.update(cached_compute(bench, spec, ctx, metric_key))
            except MetricNotApplicable as exc:
                notes[spec.name] = str(exc)
                continue
            except Exception as exc:
                errors[spec.name] = _failure(exc, spec.name, bench)
                continue
            try:
                intervals.update(cached_bootstrap(bench, spec, ctx, metric_key))
            except Exception as exc:  # the interval is an extra: the value stands without it
                notes[spec.name] = f"no bootstrap interval: {type(exc).__name__}: {exc}"
        bench.phase_stop()

    summary = summaries(seed_results, population, len(seeds), intervals)
    outcome: Outcome = "failed" if "unlearn" in errors else ("error" if errors else "passed")
    diagnostics: dict[str, Any] = {}
    if "unlearn" not in errors and replicate_outputs:
        from unlearnbench.diagnostics import item_diagnostics

        try:
            diagnostics_key = bench.diagnostics_key(replicate_keys, oracle_count, merged)
            diagnostics = bench.cache.load_json("diagnostics", diagnostics_key) or {}
            if not diagnostics:
                diagnostics = item_diagnostics(
                    replicate_outputs, oracle_outputs, original.outputs, bench.labels, bench.raw.num_classes,
                    params=merged,
                )  # fmt: skip
                with contextlib.suppress(TypeError, ValueError):  # not JSON-able: shown, just not cached
                    bench.cache.save_json("diagnostics", diagnostics_key, diagnostics, {"item": item_id})
        except Exception as exc:  # the pictures are an extra: their failure must not fail the item
            diagnostics = {"error": f"{type(exc).__name__}: {exc}"}
    return ItemResult(
        item_id=item_id, method=entry.name, params=dict(params), description=entry.description,
        outcome=outcome, seeds=tuple(seed_results), population=population, summary=summary,
        errors=errors, duration=time.perf_counter() - start, notes=notes, diagnostics=diagnostics,
    )  # fmt: skip


def _unlearn_once(
    bench: Bench,
    method: Any,
    merged: Mapping[str, Any],
    seed: int,
    start_state: Mapping[str, torch.Tensor] | None = None,
) -> tuple[nn.Module, float]:
    """Copy the original (or ``start_state``, e.g. a shadow original), run ``unlearn`` (timed), validate."""
    original_state = bench.original().state if start_state is None else start_state
    model = bench.model_from_state(original_state)
    model.train()
    frozen = freeze(copy_model(model))

    def oracle_model() -> nn.Module:
        trained = bench.independent_oracle(seed)
        ctx.charged_seconds = trained.seconds
        return bench.model_from_state(trained.state)

    ctx = UnlearnContext(
        params=dict(merged), seed=seed, device=bench.device, retain=bench.data["retain"],
        forget=bench.data["forget"], val=bench.data["val"], original=frozen,
        num_classes=bench.raw.num_classes, recipe=bench.recipe, new_model=lambda: bench.new_model(seed + 7919),
        oracle_model=oracle_model, progress=bench.progress, time_budget=bench.time_budget,
        forget_classes=bench.forget_classes(),
    )  # fmt: skip
    torch.manual_seed(seed)
    start = time.perf_counter()
    with time_limit(bench.timeout):
        result = method.unlearn(model, ctx)
    seconds = time.perf_counter() - start
    check_original_untouched(frozen, original_state)
    if not isinstance(result, nn.Module):
        raise TypeError(f"unlearn returned {type(result).__name__}, expected a torch.nn.Module")
    reference = bench.build_model().state_dict()
    got = result.state_dict()
    if set(got) != set(reference) or any(got[k].shape != reference[k].shape for k in reference):
        raise TypeError(
            "unlearn returned a model whose parameters differ in names or shapes from the original"
        )
    result.eval()
    return result, ctx.charged_seconds if ctx.charged_seconds is not None else seconds
