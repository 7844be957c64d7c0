"""The resources of one run, shared by every item, and the one way to set them up.

:class:`Bench` owns the splits, the original model, the R retrained oracles, the random reference and every
model's per-example outputs, each cached by content key. :func:`build_bench` turns a run's
:class:`~unlearnbench.config.Config` and :class:`~unlearnbench.registry.Registry` into a Bench: the session
and every executor worker call it, so that both build the same run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import unlearnbench.metrics.forgetting_quality as fq
from unlearnbench.api import SPLIT_NAMES, ModelOutputs, ProgressCallback, RawDataset, Splits
from unlearnbench.batched import can_batch, resolve_batching, train_batched
from unlearnbench.cache import Cache, content_key, default_cache_dir, source_hash
from unlearnbench.config import Config
from unlearnbench.data.splits import fingerprint, make_splits, split_tensors, splits_fingerprint
from unlearnbench.errors import UsageError
from unlearnbench.evaluation import compute_outputs, state_dict_cpu
from unlearnbench.models import named_blocks
from unlearnbench.recipe import METHOD_LOOP_VERSION, Recipe, TrainStats, recipe_fields
from unlearnbench.registry import Entry, MetricSpec, Registry
from unlearnbench.resources import PeakMemory
from unlearnbench.runner import diagnostics
from unlearnbench.selection import did_you_mean
from unlearnbench.shipped import ShippedWeights, backbone_match_key, find_backbone, load_weights
from unlearnbench.snapshots import CacheSnapshots
from unlearnbench.tensordata import TensorData
from unlearnbench.training import resolve_precision, train

__all__ = ["RANDOM_MODEL_SEED", "Bench", "TrainedModel", "build_bench", "resolve_device"]

#: Seed of the randomly initialised reference model (ZRF's incompetent teacher). Oracles use seeds 0 … R+S−1,
#: the original ``base_seed``, methods' fresh models seed + 7919: this one is far from all of them.
RANDOM_MODEL_SEED = 2_000_003_011


@dataclass
class TrainedModel:
    """A trained model's weights (CPU), its training time and its per-example outputs."""

    state: dict[str, torch.Tensor]
    seconds: float
    outputs: ModelOutputs
    cached: bool


@dataclass
class Backbone:
    """A network to start every fresh model from: its data, its recipe, a builder for its class count."""

    raw: RawDataset
    recipe: Recipe
    build: Callable[[int], nn.Module]
    state: dict[str, torch.Tensor] | None = None
    key: str | None = None
    #: Load the package's shipped weights when one stands for this backbone (``backbone.shipped`` in the config).
    use_shipped: bool = True
    #: The shipped weights this backbone is, once :meth:`Bench.backbone_key` has looked (None: trained).
    shipped: ShippedWeights | None = None


#: Seed of shadow original k (and of its unlearning call) is SHADOW_SEED_BASE + k (:mod:`.shadows`).
SHADOW_SEED_BASE = 1_000_003


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
    #: A backbone every fresh model starts from (its classifier re-initialised), e.g. the small-scale
    #: protocol's pre-trained network; None: fresh models are randomly initialised.
    backbone: Backbone | None = None
    #: The retrained models' recipe where it differs from the original's (e.g. SalUn's 160-epoch retrain
    #: against its 182-epoch original); None: the original's ``recipe``.
    oracle_recipe: Recipe | None = None
    #: Seconds between training snapshots of the original and sequentially trained oracles (a killed training
    #: resumes from the last one, :mod:`unlearnbench.snapshots`).
    snapshot_seconds: float = 120.0
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
        # The batched loop knows neither the pull to the start nor frozen BatchNorm statistics.
        # Nor the choice of an epoch on the validation split.
        retrain = self.retrain_recipe
        plain = retrain.l2_to_start == 0 and not retrain.freeze_batchnorm and retrain.select == "last"
        batchable = mode == "vmap" and can_batch(self.build_model())
        self.oracle_batching = "vmap" if batchable and plain else "sequential"
        #: The same for shadow originals (the original's recipe); the run's own original is always sequential.
        own = self.recipe
        plain_original = own.l2_to_start == 0 and not own.freeze_batchnorm and own.select == "last"
        self.shadow_batching = "vmap" if batchable and plain_original else "sequential"

    @property
    def retrain_recipe(self) -> Recipe:
        """The recipe of the retrained models (oracles and the ``retrain`` row)."""
        return self.oracle_recipe if self.oracle_recipe is not None else self.recipe

    def recipe_of(self, role: str) -> Recipe:
        """The recipe a model of ``role`` trains with."""
        return self.retrain_recipe if role == "oracle" else self.recipe

    def batched_training(self, role: str, seed: int) -> bool:
        """Whether the model of ``role`` and ``seed`` is trained by the batched loop (even alone): oracles under
        :attr:`oracle_batching`, shadow originals under :attr:`shadow_batching`, the run's original never."""
        if role == "oracle":
            return self.oracle_batching == "vmap"
        return role == "original" and seed >= SHADOW_SEED_BASE and self.shadow_batching == "vmap"

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

    def model_parts(self, role: str, seed: int) -> dict[str, Any]:
        """The fields of a trained model's content key (role ``original``, ``oracle`` or ``random``)."""
        parts: dict[str, Any] = {
            "role": role,
            "dataset": self.dataset_key,
            "model": self.model_name,
            "num_classes": self.raw.num_classes,
            "recipe": self.recipe_of(role).key(),
            "seed": seed,
        }
        if self.backbone is not None and role in ("original", "oracle"):
            parts["backbone"] = self.backbone_key()
        if role == "oracle":
            parts["splits"] = self.splits_key  # the original sees all training data: split-independent
        # Only non-default training modes enter the key, so caches of the plain sequential loop stay valid.
        if self.batched_training(role, seed):
            parts["training"] = "vmap"
        elif self.compile_model:
            parts["compile"] = True
        return parts

    def model_key(self, role: str, seed: int) -> str:
        """Content key of a trained model (memoised: metric keys ask for every oracle's, per metric)."""
        if (role, seed) not in self._key_memo:
            self._key_memo[(role, seed)] = content_key(self.model_parts(role, seed))
        return self._key_memo[(role, seed)]

    # ----------------------------------------------------------------- models

    def new_model(self, seed: int, from_backbone: bool = True) -> nn.Module:
        """A freshly initialised model, deterministic under ``seed``; with a backbone, its weights but the
        classifier's (a fresh head, as the reference drops the pre-trained ``linear.*`` keys)."""
        torch.manual_seed(seed)
        model = self.build_model()
        if from_backbone and self.backbone is not None:
            head = named_blocks(model)[-1][0]
            kept = {k: v for k, v in self.backbone_state().items() if not k.startswith(f"{head}.")}
            model.load_state_dict(kept, strict=False)
        return model.to(self.device)

    def backbone_key(self) -> str:
        """Content key of the backbone: its data's fingerprint, the architecture, its classes and recipe; or,
        when the package ships weights for that training (:mod:`unlearnbench.shipped`), the file's sha256.

        Memoised: every original and oracle key names it, and the fingerprint hashes the backbone's images.
        """
        backbone = self.backbone
        assert backbone is not None
        if backbone.key is not None:
            return backbone.key
        parts = self.backbone_parts()
        backbone.shipped = find_backbone(backbone_match_key(parts)) if backbone.use_shipped else None
        shipped = backbone.shipped
        backbone.key = content_key(parts if shipped is None else {"role": "backbone", "sha256": shipped.sha256})
        return backbone.key

    def backbone_parts(self) -> dict[str, Any]:
        """What the backbone's training depends on: its data's fingerprint, architecture, classes, recipe, seed."""
        assert self.backbone is not None
        raw = self.backbone.raw
        return {
            "role": "backbone", "dataset": fingerprint(raw), "model": self.model_name, "num_classes": raw.num_classes,
            "recipe": self.backbone.recipe.key(), "seed": self.base_seed,
        }  # fmt: skip

    def backbone_state(self) -> dict[str, torch.Tensor]:
        """The backbone's weights: the shipped file, else from the cache or trained now (once per run)."""
        assert self.backbone is not None
        if self.backbone.state is None:
            key = self.backbone_key()
            if self.backbone.shipped is not None:
                self.backbone.state = load_weights(self.backbone.shipped)
            else:
                hit = self.cache.load_state("backbone", key)
                self.backbone.state = hit[0] if hit is not None else self._train_backbone(key)
        return self.backbone.state

    def backbone_provenance(self) -> dict[str, Any] | None:
        """Where the backbone comes from, as results.json records it: shipped, cached or to be trained."""
        if self.backbone is None:
            return None
        key = self.backbone_key()
        if self.backbone.shipped is not None:
            return {**self.backbone.shipped.describe(), "key": key}
        cached = self.cache.enabled and self.cache.payload_path("backbone", key, "pt").exists()
        return {"source": "cache" if cached else "trained", "key": key}

    def _train_backbone(self, key: str) -> dict[str, torch.Tensor]:
        backbone = self.backbone
        assert backbone is not None
        raw = backbone.raw
        torch.manual_seed(self.base_seed)
        model = backbone.build(raw.num_classes).to(self.device)
        x, y = raw.x_train.to(self.device), raw.y_train.to(self.device)
        data = TensorData(x, y, raw.mean, raw.std, raw.crop_padding, raw.hflip)
        stats = train(
            model, data, backbone.recipe, seed=self.base_seed, device=self.device, progress=self.progress,
            description="backbone",
        )
        state = state_dict_cpu(model)
        self.cache.save_state("backbone", key, state, {"seconds": stats.seconds, "final_loss": stats.final_loss})
        return state

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
        recipe = self.recipe_of(role)
        if self.batched_training(role, seed):
            stats = train_batched([model], data, recipe, [seed], self.device, self.progress, label)[0]
        else:
            validation = self.data["val"] if recipe.select == "best-val" else None
            if validation is not None and len(validation) == 0:
                raise UsageError(f"recipe: select = 'best-val' needs a validation split, and the {label} has none")
            stats = train(
                model, data, recipe, seed=seed, device=self.device, progress=self.progress,
                description=label, compile_model=self.compile_model, validation=validation,
                snapshots=CacheSnapshots(self.cache, key, self.snapshot_seconds),
            )
        return self._store(role, seed, key, model, stats)

    def _cached_model(self, role: str, seed: int, key: str) -> TrainedModel | None:
        hit = self.cache.load_state(role, key)
        if hit is None:
            return None
        state, meta = hit
        outputs = self._outputs_of_state(key, state, {"role": role, "seed": seed})
        return TrainedModel(state, float(meta.get("seconds", float("nan"))), outputs, cached=True)

    def _outputs_of_state(self, key: str, state: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> ModelOutputs:
        """The cached outputs of the model under ``key``, else those of ``state`` evaluated now (and cached)."""
        out_key = content_key({"outputs_of": key, "splits": self.splits_key})
        hit = self.cache.load_outputs(out_key)
        if hit is not None:
            return hit[0]
        outputs = self.outputs_of(self.model_from_state(state))
        self.cache.save_outputs(out_key, outputs, meta)
        return outputs

    def _store(self, role: str, seed: int, key: str, model: nn.Module, stats: TrainStats) -> TrainedModel:
        state = state_dict_cpu(model)
        meta: dict[str, Any] = {"seconds": stats.seconds, "final_loss": stats.final_loss}
        if stats.selected_epoch is not None:
            meta.update(selected_epoch=stats.selected_epoch, selected_accuracy=stats.selected_accuracy)
        self.cache.save_state(role, key, state, meta)
        outputs = self.outputs_of(model)
        out_key = content_key({"outputs_of": key, "splits": self.splits_key})
        self.cache.save_outputs(out_key, outputs, {"role": role, "seed": seed})
        return TrainedModel(state, stats.seconds, outputs, cached=False)

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
            parts = self.model_parts("random", RANDOM_MODEL_SEED)
            del parts["recipe"]  # untrained: the recipe does not matter
            key = content_key(parts)
            hit = self.cache.load_state("random", key)
            if hit is not None:
                state = hit[0]
            else:
                state = state_dict_cpu(self.new_model(RANDOM_MODEL_SEED, from_backbone=False))
            if hit is None:
                self.cache.save_state("random", key, state, {"seconds": 0.0})
            outputs = self._outputs_of_state(key, state, {"role": "random", "seed": RANDOM_MODEL_SEED})
            self._random = TrainedModel(state, 0.0, outputs, cached=hit is not None)
        return self._random

    def oracle_pool(self, count: int) -> list[TrainedModel]:
        """Oracles 0..count-1; under the ``vmap`` mode the uncached ones are trained together."""
        return self.oracle_group(range(count))

    def oracle_group(self, seeds: Sequence[int]) -> list[TrainedModel]:
        """Retrained models of ``seeds`` (e.g. the ``retrain`` row's replicates, held-out targets); under the
        ``vmap`` mode the uncached ones are trained together as one batched ensemble."""
        if self.oracle_batching == "vmap":
            found = self._train_together("oracle", [seed for seed in seeds if seed not in self._oracles])
            self._oracles.update(found)
        return [self.oracle(seed) for seed in seeds]

    def shadow_originals(self, seeds: Sequence[int]) -> list[TrainedModel]:
        """Models trained like the original under ``seeds`` (≥ :data:`SHADOW_SEED_BASE`); under the ``vmap``
        mode the uncached ones are trained together (their keys say so), the run's own original never is."""
        if any(seed < SHADOW_SEED_BASE for seed in seeds):
            raise ValueError(f"shadow seeds start at {SHADOW_SEED_BASE}")
        if self.shadow_batching == "vmap":
            found = self._train_together("original", list(seeds))
            return [found[seed] for seed in seeds]
        return [self.trained_original(seed, f"shadow original {seed - SHADOW_SEED_BASE}") for seed in seeds]

    def _train_together(self, role: str, seeds: Sequence[int]) -> dict[int, TrainedModel]:
        """The models of ``role`` and ``seeds``: from the cache, the others trained as one batched ensemble
        and stored."""
        found: dict[int, TrainedModel] = {}
        missing: list[tuple[int, str]] = []
        for seed in seeds:
            key = self.model_key(role, seed)
            hit = self._cached_model(role, seed, key)
            if hit is not None:
                found[seed] = hit
            else:
                missing.append((seed, key))
        if not missing:
            return found
        models = [self.new_model(seed) for seed, _ in missing]
        name = "oracle" if role == "oracle" else "shadow original"
        label = f"{name}s {missing[0][0]}-{missing[-1][0]}" if len(missing) > 1 else f"{name} {missing[0][0]}"
        trained = [seed for seed, _ in missing]
        data = self.data["retain"] if role == "oracle" else self.data["train"]
        all_stats = train_batched(models, data, self.recipe_of(role), trained, self.device, self.progress, label)
        for (seed, key), model, stats in zip(missing, models, all_stats):
            found[seed] = self._store(role, seed, key, model, stats)
        return found

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


def resolve_device(requested: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; an explicit CUDA request without a GPU is a usage error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but no CUDA GPU is available; use --device cpu or auto")
    return torch.device(requested)


def build_bench(config: Config, registry: Registry, progress: ProgressCallback | None = None) -> Bench:
    """The run's Bench: its dataset loaded and split, its model factory, recipe, device, cache and meters.

    Raises :class:`~unlearnbench.errors.UsageError` with one line for an unknown dataset or model, a bad
    dataset option or precision, or a CUDA device requested where there is none.
    """
    dataset_cls, model_name = _dataset_and_model(config, registry)
    device = resolve_device(config.device)
    resources = PeakMemory(device)
    resources.start("data")  # stopped once the splits are resident on the device
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    raw = _load_dataset(dataset_cls, config, cache_dir)
    splits = make_splits(raw, config.forget, seed=config.split_seed)
    epochs = config.epochs if config.epochs is not None else int(getattr(dataset_cls, "default_epochs", 30))
    try:
        precision = resolve_precision(config.precision, device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    factory = registry.models[model_name].cls()

    def build_for(classes: int) -> nn.Module:
        module: nn.Module = factory.build(classes, raw.in_channels, raw.image_size)
        return module

    recipe = _recipe(config.recipe, epochs=epochs, precision=precision, augment=config.augment)
    oracle_recipe = None
    if config.oracle_recipe:
        oracle_recipe = _recipe(config.oracle_recipe, **dataclasses.asdict(recipe))
    bench = Bench(
        raw=raw, splits=splits, model_name=model_name, build_model=lambda: build_for(raw.num_classes),
        recipe=recipe, device=device, backbone=_backbone(config, registry, cache_dir, precision, build_for),
        cache=Cache(cache_dir, enabled=not config.no_cache), base_seed=config.base_seed,
        eval_batch_size=config.eval_batch_size, oracle_count=config.oracles, progress=progress,
        time_budget=config.time_budget, timeout=config.timeout, train_batching=config.train_batching,
        compile_model=config.compile, resources=resources, oracle_recipe=oracle_recipe,
    )  # fmt: skip
    resources.stop()
    return bench


_RECIPE_FIELDS = {f.name: f for f in dataclasses.fields(Recipe)}


def _recipe(options: Mapping[str, Any], others: frozenset[str] = frozenset(), **base: Any) -> Recipe:
    """A recipe from ``base`` and the config's recipe fields (each cast to its type); unknown ones (but the
    table's ``others``): one line."""
    unknown = sorted(set(options) - set(_RECIPE_FIELDS) - others)
    if unknown:
        raise UsageError(f"unknown recipe field {unknown[0]!r}; known: {', '.join(sorted(_RECIPE_FIELDS))}")
    try:
        return Recipe(**{**base, **recipe_fields(options)})
    except ValueError as exc:
        raise UsageError(f"recipe: {exc}") from None


def _backbone(
    config: Config, registry: Registry, cache_dir: Path, precision: str, build: Callable[[int], nn.Module]
) -> Backbone | None:
    """The config's backbone: its dataset loaded and its recipe (the run's precision), or None."""
    options = config.backbone
    if not options:
        return None
    name = str(options.get("dataset", ""))
    if name not in registry.datasets:
        raise UsageError(f"backbone: unknown dataset {name!r}{did_you_mean(name, registry.datasets)}")
    backbone_options = dict(options.get("dataset_options", {}))
    if "path" in config.dataset_options:  # the run's data file (--data-path) serves its backbone too
        backbone_options.setdefault("path", config.dataset_options["path"])
    shifted = dataclasses.replace(config, dataset=name, dataset_options=backbone_options)
    raw = _load_dataset(registry.datasets[name].cls, shifted, cache_dir)
    shipped = options.get("shipped", True)
    if not isinstance(shipped, bool):
        raise UsageError(f"backbone: shipped must be true or false, not {shipped!r}")
    recipe = _recipe(options, _BACKBONE_TABLE_KEYS, precision=precision)
    return Backbone(raw=raw, recipe=recipe, build=build, use_shipped=shipped)


#: The backbone table's keys that are not recipe fields.
_BACKBONE_TABLE_KEYS = frozenset({"dataset", "dataset_options", "shipped"})


def _dataset_and_model(config: Config, registry: Registry) -> tuple[type, str]:
    """The dataset class and the model name the config selects (the dataset's ``default_model`` if none)."""
    datasets, models = registry.datasets, registry.models
    if config.dataset not in datasets:
        raise UsageError(f"unknown dataset {config.dataset!r}{did_you_mean(config.dataset, datasets)}")
    dataset_cls = datasets[config.dataset].cls
    model_name = config.model or str(getattr(dataset_cls, "default_model", "resnet18"))
    if model_name not in models:
        raise UsageError(f"unknown model {model_name!r}{did_you_mean(model_name, models)}")
    return dataset_cls, model_name


def _load_dataset(dataset_cls: type, config: Config, cache_dir: Path) -> RawDataset:
    """The dataset plugin's ``load`` with the config's options; a bad option is a usage error."""
    try:
        raw: RawDataset = dataset_cls().load(str(cache_dir), **config.dataset_options)
    except UsageError:
        raise
    except TypeError as exc:
        raise UsageError(f"dataset {config.dataset!r}: bad dataset option: {exc}") from None
    return raw
