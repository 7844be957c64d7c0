"""The contracts between unlearnbench and its plugins.

Everything a plugin author touches lives here: the :class:`Method`, :class:`Metric`, :class:`Dataset`
and :class:`ModelFactory` protocols, the data containers (:class:`RawDataset`, :class:`Splits`,
:class:`ModelOutputs`) and the two context objects handed to plugins (:class:`UnlearnContext`,
:class:`EvalContext`). A context is one object per call, never a long argument list, so the contract
can grow without breaking plugins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from unlearnbench.functional import cross_entropy
from unlearnbench.recipe import ProgressCallback, recipe_fields

if TYPE_CHECKING:
    import torch
    from torch import nn

    from unlearnbench.recipe import Phase, Recipe, TrainingLoop, TrainStats
    from unlearnbench.tensordata import TensorData

#: The split names every model is evaluated on, in this order.
SPLIT_NAMES: tuple[str, ...] = ("forget", "retain", "test", "val")

#: What a metric may declare in ``needs``. ``"states"`` hands it the weights of the evaluated model, the
#: oracles and the original (``EvalContext.state`` / ``oracle_states`` / ``original_state``);
#: ``"random_outputs"`` the outputs of a randomly initialised model (``EvalContext.random_outputs``).
#: ``"shadows"`` (population metrics) K shadow originals unlearned by the method under test and S held-out
#: retrained models (``EvalContext.shadow_outputs`` / ``target_retrained_outputs``; see unlearnbench/runner/shadows.py).
#: The runner computes each artifact once per model and shares it between metrics.
NEED_KINDS: frozenset[str] = frozenset(
    {"outputs", "oracle_outputs", "original_outputs", "model", "data", "states", "random_outputs", "shadows"}
)



@dataclass(frozen=True)
class RawDataset:
    """A whole dataset as uint8 images (N, C, H, W) and int64 labels, before any split.

    ``x_heldout``/``y_heldout`` is the official test set; the bench splits it into test and validation
    halves. ``mean``/``std`` are the per-channel normalisation constants in [0, 1] units.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_heldout: torch.Tensor
    y_heldout: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: Augmentation used while training base and oracle models: padding of the random crop
    #: (0 disables it) and whether a horizontal flip is label-preserving for this data.
    crop_padding: int = 4
    hflip: bool = True
    #: Where the data came from (file path, "sklearn.datasets.load_digits", ...), for the report.
    source: str = ""
    #: A protocol's fixed held-out partition: the first ``test_count`` held-out examples are the test split
    #: and the rest the validation split (None: the bench draws random halves).
    test_count: int | None = None
    #: A protocol's own forget set (positions in the training set), used by the forget spec ``reference``.
    reference_forget: tuple[int, ...] = ()

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])


@dataclass(frozen=True)
class Splits:
    """Index tensors of one experiment's splits; stored as indices so they are cheap and hashable.

    ``forget`` and ``retain`` index into the training set, ``test`` and ``val`` into the held-out set.
    """

    forget: np.ndarray
    retain: np.ndarray
    test: np.ndarray
    val: np.ndarray
    #: The forget specification that produced this split, e.g. ``"0.1"`` or ``"class:3"``.
    forget_spec: str = "0.1"
    seed: int = 42


@dataclass(frozen=True)
class ModelOutputs:
    """Per-example logits of one model on every split (float32 arrays of shape [n, classes])."""

    logits: Mapping[str, np.ndarray]

    def __getitem__(self, split: str) -> np.ndarray:
        return self.logits[split]


@dataclass
class UnlearnContext:
    """Everything a method's ``unlearn`` may use; one instance per (item, replicate seed).

    Data splits are :class:`~unlearnbench.data.pipeline.TensorData` (uint8 images on ``device``, batched
    normalisation and optional augmentation). ``original`` is a frozen copy of the original model that a
    method may distil from but must not modify.
    """

    params: dict[str, Any]
    seed: int
    device: torch.device
    retain: TensorData
    forget: TensorData
    val: TensorData
    original: nn.Module
    num_classes: int
    recipe: Recipe
    #: Builds a freshly initialised model of the run's architecture (for retraining from scratch).
    new_model: Callable[[], nn.Module]
    #: Returns the cached oracle (retrained) model for this replicate seed, training it if needed.
    oracle_model: Callable[[], nn.Module]
    #: Called with (description, completed, total) to report progress.
    progress: ProgressCallback | None = None
    #: Soft time budget in seconds (None: unlimited). Methods with an iteration loop should respect it.
    time_budget: float | None = None
    #: The forgotten classes under class-wise forgetting (``--forget class:N``), else None.
    forget_classes: tuple[int, ...] | None = None
    #: A method that reuses a cached artifact sets this to the real cost (seconds) it stands for,
    #: e.g. ``retrain`` charges the oracle's training time. ``None``: the measured wall time counts.
    charged_seconds: float | None = None
    #: The training loop behind :meth:`train` and :meth:`train_phases` (the runner hands in
    #: :data:`unlearnbench.training.LOOP`; a context built without one cannot train).
    trainer: TrainingLoop | None = None

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded from this replicate's seed (plus ``offset``)."""
        import torch

        g = torch.Generator()
        g.manual_seed(int(self.seed) * 1_000_003 + offset)
        return g

    def _method_recipe(self, recipe: Recipe | None, overrides: Mapping[str, Any]) -> Recipe:
        """``recipe`` (default: the run's) with ``overrides``; a method's passes keep their last partial batch
        (``drop_last=False``, as the ``DataLoader`` of every reference implementation) unless it says otherwise."""
        base = recipe if recipe is not None else self.recipe
        if recipe is None:  # the base models' pull, frozen statistics and epoch choice are not a method's
            base = dataclasses.replace(base, l2_to_start=0.0, freeze_batchnorm=False, select="last")
        return dataclasses.replace(base, **{"drop_last": False, **overrides})

    def recipe_from(self, params: Mapping[str, Any], **fixed: Any) -> Recipe:
        """The method's recipe: the run's, with every recipe field that ``params`` names, then ``fixed``.

        Each field found in ``params`` is cast to the field's type (``epochs`` and ``batch_size`` to int,
        ``lr`` to float, ``augment`` to bool, ...); ``fixed`` holds the settings a method does not expose
        (e.g. ``optimizer="adam", momentum=0.0``). Passes keep their last partial batch, as in :meth:`train`.
        ``ctx.train(model, ctx.retain, ctx.recipe_from(p, optimizer="sgd"))`` trains with the method's own
        settings and none inherited from the run.
        """
        return self._method_recipe(None, {**recipe_fields(params), **fixed})

    def train(
        self,
        model: nn.Module,
        data: TensorData,
        recipe: Recipe | None = None,
        *,
        loss_fn: Callable[..., torch.Tensor] | None = None,
        aux: TensorData | None = None,
        after_step: Callable[[nn.Module], None] | None = None,
        description: str = "unlearn",
        **overrides: Any,
    ) -> TrainStats:
        """Train ``model`` in place with the bench's one training loop (see :func:`unlearnbench.training.train`).

        ``overrides`` replace fields of ``recipe`` (default: the run's recipe), e.g.
        ``ctx.train(model, ctx.retain, epochs=5, lr=0.01, augment=False)``. ``loss_fn``, ``aux`` and
        ``after_step`` are passed through; the context's ``time_budget`` is respected. Every pass keeps its
        last partial batch unless ``drop_last=True`` is given (the base models' loop drops it).
        """
        final = self._method_recipe(recipe, overrides)
        return self._loop().train(
            model, data, final, seed=self.seed, device=self.device, progress=self.progress, loss_fn=loss_fn,
            description=description, aux=aux, time_budget=self.time_budget, after_step=after_step,
        )


    def train_phases(
        self,
        model: nn.Module,
        phases: Sequence[Phase],
        recipe: Recipe | None = None,
        *,
        after_step: Callable[[nn.Module], None] | None = None,
        description: str = "unlearn",
        **overrides: Any,
    ) -> TrainStats:
        """Train ``model`` in place, every epoch one pass per phase in order, with one optimiser.

        For reference loops that, each epoch, make a pass over one set and then over another (see
        :func:`unlearnbench.training.train_phases`); ``overrides`` as in :meth:`train`.
        """
        final = self._method_recipe(recipe, overrides)
        return self._loop().train_phases(
            model, phases, final, seed=self.seed, device=self.device, progress=self.progress,
            description=description, time_budget=self.time_budget, after_step=after_step,
        )

    def _loop(self) -> TrainingLoop:
        if self.trainer is None:
            raise TypeError(
                "this UnlearnContext has no training loop: build it with unlearnbench.testing.unlearn_context, "
                "or pass trainer=unlearnbench.training.LOOP"
            )
        return self.trainer


@dataclass
class EvalContext:
    """Everything a metric's ``compute`` may use.

    For a per-model metric (``scope = "model"``) ``outputs`` is the evaluated model's outputs and
    ``replicates`` is ``[outputs]``. For a population metric (``scope = "population"``) ``replicates``
    holds the outputs of all S replicates of the item and ``outputs`` is the first of them.
    ``oracle_outputs`` always holds the R retrained models' outputs, ``original_outputs`` the original's.
    """

    outputs: ModelOutputs
    replicates: Sequence[ModelOutputs]
    oracle_outputs: Sequence[ModelOutputs]
    original_outputs: ModelOutputs
    labels: Mapping[str, np.ndarray]
    num_classes: int
    seed: int
    #: Wall seconds of the unlearning call (or the charged cost), per replicate.
    unlearn_seconds: Sequence[float]
    #: Wall seconds of training each oracle from scratch.
    oracle_seconds: Sequence[float]
    #: The evaluated model, only when the metric declares ``"model"`` in ``needs``.
    model: nn.Module | None = None
    #: The run's data splits, only when the metric declares ``"data"`` in ``needs``.
    data: Mapping[str, TensorData] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: The evaluated model's weights (CPU tensors), only with ``"states"`` in ``needs`` (model scope).
    state: Mapping[str, torch.Tensor] | None = None
    #: The R oracles' weights, only with ``"states"`` in ``needs``.
    oracle_states: Sequence[Mapping[str, torch.Tensor]] | None = None
    #: The original model's weights, only with ``"states"`` in ``needs``.
    original_state: Mapping[str, torch.Tensor] | None = None
    #: Outputs of a randomly initialised, untrained model of the run's architecture (a fixed seed),
    #: only with ``"random_outputs"`` in ``needs``.
    random_outputs: ModelOutputs | None = None
    #: Outputs of K shadow originals each unlearned by the item's method, only with ``"shadows"`` in ``needs``.
    shadow_outputs: Sequence[ModelOutputs] | None = None
    #: Outputs of S retrained models used by nothing else (targets labelled "retrained"), with ``"shadows"``.
    target_retrained_outputs: Sequence[ModelOutputs] | None = None

    def losses(self, split: str, outputs: ModelOutputs | None = None) -> np.ndarray:
        """Per-example cross-entropy (natural log) of ``outputs`` (default: this model) on ``split``."""
        chosen = self.outputs if outputs is None else outputs
        return cross_entropy(chosen[split], self.labels[split])


MetricValue = float | Mapping[str, float]


@runtime_checkable
class Method(Protocol):
    """An unlearning method: a class with these attributes, instantiated with no arguments.

    ``defaults`` are the paper's hyperparameters; ``grid`` is either a mapping of parameter → values
    (the cartesian product is taken) or a sequence of explicit parameter dicts; each point becomes one
    item, ``name[key=value,...]``. ``unlearn`` receives a fresh copy of the original model and returns
    the unlearned model (it may modify and return the same object). A method that only makes sense for
    class-wise forgetting sets ``requires_class_forget = True``; the runner then skips it, with the
    reason, when the forget set is a random sample.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module: ...


@runtime_checkable
class Metric(Protocol):
    """A metric: ``compute`` returns one float, or a mapping of column name → float.

    ``higher_is_better`` is a bool (or a mapping per column; None where no direction applies).
    ``scope`` is ``"model"`` (computed per replicate seed, summarised as mean ± 95 % CI) or
    ``"population"`` (computed once from all replicates and all oracles). ``needs`` is a subset of
    :data:`NEED_KINDS`.

    Optional attributes: ``default_selected = False`` makes an expensive metric opt-in (it runs only when
    a ``--metric`` pattern names it); a population metric may define ``resampling(ctx) -> Resampling``
    so that the runner attaches a percentile bootstrap interval over examples to its columns.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def compute(self, ctx: EvalContext) -> MetricValue: ...


@runtime_checkable
class Dataset(Protocol):
    """A dataset source: ``load(cache_dir, **options) -> RawDataset``."""

    name: ClassVar[str]
    description: ClassVar[str]

    def load(self, cache_dir: str, **options: Any) -> RawDataset: ...


@runtime_checkable
class ModelFactory(Protocol):
    """An architecture: ``build(num_classes, in_channels, image_size) -> nn.Module``."""

    name: ClassVar[str]
    description: ClassVar[str]

    def build(self, num_classes: int, in_channels: int, image_size: int) -> nn.Module: ...


MetricScope = Literal["model", "population"]


def metric_scope(metric: object) -> MetricScope:
    """The declared scope of a metric (default ``"model"``)."""
    scope = getattr(metric, "scope", "model")
    return "population" if scope == "population" else "model"


def metric_needs(metric: object) -> frozenset[str]:
    """The declared needs of a metric (default: its own outputs)."""
    return frozenset(getattr(metric, "needs", ("outputs",)))


def metric_default_selected(metric: object) -> bool:
    """Whether a metric runs when no ``--metric`` is given (``default_selected``, default True)."""
    return bool(getattr(metric, "default_selected", True))


@dataclass(frozen=True)
class Resampling:
    """Per-example data behind a population metric's value, for a stratified percentile bootstrap.

    Each array of ``groups`` has one row per example (e.g. forget examples, test examples); a resample
    draws the rows of every group with replacement, independently per group, and ``statistic(*groups)``
    returns column → value on them (the same columns the metric returns, without the metric's prefix).
    """

    groups: tuple[np.ndarray, ...]
    statistic: Callable[..., Mapping[str, float]]


def higher_is_better(metric: object, column: str) -> bool | None:
    """Direction of one column of a metric (``None``: not ranked)."""
    hib = getattr(metric, "higher_is_better", None)
    if isinstance(hib, Mapping):
        value = hib.get(column)
        return None if value is None else bool(value)
    return None if hib is None else bool(hib)
