"""What a training run is told and what it reports: the recipe, its phases, the statistics, the loop's interface.

Torch-free at import, so that the contract (:mod:`unlearnbench.api`) can name these types and the command
line can read them without loading torch. The loop itself is :mod:`unlearnbench.training`; it is handed
to each :class:`~unlearnbench.api.UnlearnContext` as a :class:`TrainingLoop`, so that the contract never
imports the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from unlearnbench.tensordata import TensorData

__all__ = [
    "METHOD_LOOP_VERSION", "PRECISIONS", "RECIPE_VERSION", "SELECTIONS", "LossFn", "Phase", "ProgressCallback",
    "Recipe", "TrainStats", "TrainingLoop", "recipe_fields",
]  # fmt: skip

#: Bumped whenever the loop's numerics change, so cached checkpoints are invalidated.
RECIPE_VERSION = 1

#: Bumped whenever what a method's ``ctx.train`` / ``ctx.train_phases`` computes changes (it enters the cache
#: key of every unlearned replicate, next to the method's own code). 2: passes keep their last partial batch.
METHOD_LOOP_VERSION = 2

#: The values of ``precision`` (config and command line); ``auto`` is resolved per device.
PRECISIONS = ("auto", "fp32", "bf16")

ProgressCallback = Callable[[str, int, int], None]
"""``progress(description, completed, total)``; reporters turn it into progress bars."""

LossFn = Callable[..., "torch.Tensor"]
"""``loss_fn(model, x, y)``; with ``aux`` data, ``loss_fn(model, x, y, aux_x, aux_y)``."""


@dataclass(frozen=True)
class Recipe:
    """Hyperparameters of one training run (all part of the cache key)."""

    epochs: int = 30
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    #: "cosine" (per epoch, as the seed), "constant", or "multistep:E1,E2,..." (the rate × 0.1 after each of
    #: those epochs, torch's MultiStepLR with gamma 0.1, as SalUn's and other CIFAR training scripts).
    schedule: str = "cosine"
    augment: bool = True
    nesterov: bool = False
    optimizer: str = "sgd"  # "sgd" (the seed's) or "adam" (betas 0.9, 0.999; momentum ignored)
    precision: str = "fp32"  # "fp32" or "bf16" (autocast); see training.resolve_precision for the run's "auto"
    #: Drop each pass's last partial batch when the data hold more than one batch (the base models' loop);
    #: ``False`` keeps it, as a PyTorch ``DataLoader`` does by default.
    drop_last: bool = True
    #: λ of a pull ``λ/2 · Σ ‖w − w_start‖²`` of the trainable weights to where this training run started
    #: (the small-scale protocol's fine-tuning from a pre-trained backbone); 0: none.
    l2_to_start: float = 0.0
    #: Keep BatchNorm running statistics as they are while training (the layers' affine weights still train).
    freeze_batchnorm: bool = False
    #: Which weights the run returns: ``"last"`` (after the final epoch) or ``"best-val"`` (after the epoch
    #: with the highest accuracy on the validation split, the first such epoch on ties, as the checkpoint
    #: ``model_SA_best`` of SalUn's training script); the latter needs the validation data.
    select: str = "last"

    def __post_init__(self) -> None:
        parse_schedule(self.schedule)
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {self.select!r}")

    def key(self) -> dict[str, object]:
        """The recipe as a plain dict for cache keys and results.json.

        A field added after the first release enters only when it differs from its default (``precision``
        from ``fp32``, ``drop_last`` from ``True``, ``l2_to_start`` from 0, ``freeze_batchnorm`` from
        ``False``, ``select`` from ``last``), so checkpoints cached before the field existed keep their keys.
        """
        fields = asdict(self)
        for name, default in _LATER_DEFAULTS.items():
            if fields[name] == default:
                del fields[name]
        return {**fields, "version": RECIPE_VERSION}


#: Recipe fields added after the first release, with the defaults that leave them out of cache keys.
_LATER_DEFAULTS: dict[str, object] = {
    "precision": "fp32", "drop_last": True, "l2_to_start": 0.0, "freeze_batchnorm": False, "select": "last",
}  # fmt: skip

#: The values of :attr:`Recipe.select`.
SELECTIONS: tuple[str, ...] = ("last", "best-val")


def parse_schedule(schedule: str) -> tuple[str, tuple[int, ...]]:
    """``(kind, milestones)`` of a recipe's ``schedule``; ``ValueError`` (one line) for anything else."""
    kind, _, rest = str(schedule).partition(":")
    if kind in ("cosine", "constant") and not rest:
        return kind, ()
    if kind == "multistep":
        try:
            milestones = tuple(int(part) for part in rest.split(","))
        except ValueError:
            milestones = ()
        if milestones and all(m > 0 for m in milestones) and list(milestones) == sorted(set(milestones)):
            return kind, milestones
    raise ValueError(
        f"schedule must be cosine, constant or multistep:E1,E2,... (increasing epochs), got {schedule!r}"
    )


def recipe_fields(options: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Recipe` fields that ``options`` names, each cast to the field's type (others are ignored)."""
    casts: dict[str, Callable[[Any], Any]] = {f.name: type(f.default) for f in fields(Recipe)}
    return {name: cast(options[name]) for name, cast in casts.items() if name in options}


@dataclass(frozen=True)
class TrainStats:
    """What one training run reports."""

    seconds: float
    epochs: int
    steps: int
    final_loss: float
    images_per_second: float
    #: With ``select = "best-val"``: the 1-based epoch whose weights were kept and its validation accuracy.
    selected_epoch: int | None = None
    selected_accuracy: float | None = None


@dataclass(frozen=True)
class Phase:
    """One pass of an epoch: iterate ``data`` with ``loss_fn`` (and, with ``aux``, a paired stream).

    :func:`unlearnbench.training.train_phases` runs its phases one after the other in every epoch, with one
    optimiser and one schedule, as reference loops that make a pass over the forget set and then a pass over
    the retain set. ``loss_fn=None`` is the loop's cross-entropy.
    """

    data: TensorData
    loss_fn: LossFn | None = None
    aux: TensorData | None = None
    name: str = ""


@dataclass(frozen=True)
class TrainingLoop:
    """The training loop a context is handed: ``train`` (one data set) and ``train_phases`` (several per epoch).

    Both take ``(model, data_or_phases, recipe, **options)`` with the keyword options of
    :func:`unlearnbench.training.train`; :data:`unlearnbench.training.LOOP` is the bench's.
    """

    train: Callable[..., TrainStats]
    train_phases: Callable[..., TrainStats]
