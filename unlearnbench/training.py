"""The one training loop: base model, retrained oracles and every method that fine-tunes.

The recipe is the seed protocol's: SGD (lr 0.1, momentum 0.9, weight decay 5e-4), cosine annealing
stepped per epoch, batch 128, random-crop + flip augmentation. Datasets supply their own epoch count.
Deterministic under a seed on CPU: shuffling and augmentation draw from one seeded generator and the
global torch seed is set for any randomness inside the model (dropout).

The recipe's ``precision`` selects the arithmetic of the forward and backward passes
(:func:`training_autocast`, :func:`prepare_batch`): ``"fp32"`` is the plain loop; ``"bf16"`` runs them
under bf16 autocast with channels-last inputs (and, on CPU, a channels-last model while it trains), the
weights and the optimiser state staying float32. :func:`resolve_precision` turns the run's ``auto`` into
``bf16`` where the hardware computes bf16 natively (CUDA; CPUs with AVX512-BF16 or AMX), measured 1.46x
the float32 step of ResNet-18 on a 2-core AVX512-BF16 CPU (``benchmarks/train_throughput.py``).
``compile_model=True`` wraps the model in ``torch.compile`` for the training steps only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from unlearnbench.recipe import (
    METHOD_LOOP_VERSION,
    PRECISIONS,
    RECIPE_VERSION,
    LossFn,
    Phase,
    ProgressCallback,
    Recipe,
    TrainingLoop,
    TrainStats,
    parse_schedule,
)
from unlearnbench.tensordata import TensorData

__all__ = [
    "LOOP", "METHOD_LOOP_VERSION", "PRECISIONS", "RECIPE_VERSION", "LossFn", "Phase", "ProgressCallback", "Recipe",
    "TrainStats", "compiled", "cross_entropy_loss", "make_optimizer", "native_bf16", "optimizer_for", "prepare_batch",
    "lr_schedule", "resolve_precision", "train", "train_phases", "training_autocast", "training_layout",
    "SnapshotStore",
]  # fmt: skip


class SnapshotStore(Protocol):
    """Where a long training run keeps its state between epochs, so that a killed run resumes where it stopped
    (:class:`unlearnbench.snapshots.CacheSnapshots` keeps it in the cache)."""

    def due(self) -> bool:
        """Whether a snapshot should be taken after the epoch that just ended."""

    def load(self) -> dict[str, Any] | None:
        """The last snapshot, or ``None``."""

    def save(self, snapshot: dict[str, Any]) -> None:
        """Replace the last snapshot."""

    def clear(self) -> None:
        """Forget the snapshot (the run finished)."""

def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: CUDA with bf16 support, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: ``auto`` is ``bf16`` where :func:`native_bf16`, else ``fp32``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default objective: mean cross-entropy of ``model(x)`` against ``y``."""
    return nn.functional.cross_entropy(model(x), y)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (or Adam) with the recipe's momentum and weight decay over the trainable parameters only.

    Freezing a parameter (``requires_grad = False``) before training therefore excludes it entirely,
    which is how methods that touch only some layers (CF-k, EU-k, masks) reuse this loop.
    """
    return optimizer_for([p for p in model.parameters() if p.requires_grad], recipe)


def optimizer_for(params: Sequence[torch.Tensor], recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over explicit tensors (e.g. the stacked parameters of several models).

    Every update rule used here is elementwise, so one optimiser over stacked ``[K, ...]`` tensors
    updates each model's slice exactly as its own optimiser would.
    """
    params = list(params)
    if not params:
        raise ValueError("no trainable parameters (every parameter has requires_grad=False)")
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, betas=(0.9, 0.999), weight_decay=recipe.weight_decay)
    if recipe.optimizer != "sgd":
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}; use 'sgd' or 'adam'")
    return torch.optim.SGD(
        params,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        nesterov=recipe.nesterov and recipe.momentum > 0,
    )


def training_autocast(device: torch.device, precision: str = "fp32") -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on ``device`` when ``precision`` is ``bf16``; a no-op context for ``fp32``."""
    if precision == "bf16" and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_batch(x: torch.Tensor, device: torch.device, precision: str = "fp32") -> torch.Tensor:
    """The input batch in the fastest layout: channels-last on CUDA and under bf16, unchanged otherwise.

    A float32 CPU batch stays contiguous: channels-last gained little there (1.01-1.07x in two runs) and
    would change the plain loop's bits.
    """
    if x.dim() == 4 and (device.type == "cuda" or precision == "bf16"):
        return x.contiguous(memory_format=torch.channels_last)
    return x


@contextlib.contextmanager
def training_layout(model: nn.Module, device: torch.device, precision: str) -> Iterator[None]:
    """A channels-last model while a bf16 CPU run trains (oneDNN's fast bf16 kernels want it), then back.

    Restoring the contiguous layout afterwards keeps a trained model and the same weights loaded from the
    cache evaluating to the same bits.
    """
    if not (device.type == "cpu" and precision == "bf16"):
        yield
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        model.to(memory_format=torch.contiguous_format)


def compiled(model: nn.Module) -> Callable[..., torch.Tensor]:
    """``torch.compile(model)``: the compiled module shares the model's parameters, so training it trains
    ``model``; the caller keeps the original module for saving and evaluation."""
    fn: Callable[..., torch.Tensor] = torch.compile(model)  # type: ignore[assignment]
    return fn


def _endless(
    data: TensorData, batch_size: int, augment: bool, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``data`` forever, reshuffled every pass (its own seeded generator)."""
    if len(data) == 0:
        raise ValueError("cannot draw batches from an empty auxiliary dataset")
    generator = torch.Generator()
    generator.manual_seed(seed + 104_729)
    while True:
        yield from data.batches(batch_size, shuffle=True, augment=augment, generator=generator)


def train(
    model: nn.Module,
    data: TensorData,
    recipe: Recipe,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: ProgressCallback | None = None,
    loss_fn: LossFn | None = None,
    description: str = "train",
    aux: TensorData | None = None,
    time_budget: float | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    compile_model: bool = False,
    validation: TensorData | None = None,
    snapshots: SnapshotStore | None = None,
) -> TrainStats:
    """Train ``model`` in place on ``data`` with ``recipe``; returns timing and the last loss.

    ``loss_fn(model, x, y)`` lets methods reuse the loop with another objective (e.g. an ℓ1 penalty).
    With ``aux`` (e.g. the forget set while iterating the retain set), every step also draws a batch of
    the same size from an endlessly reshuffled stream of ``aux`` and calls ``loss_fn(model, x, y, ax, ay)``.
    ``time_budget`` (seconds) stops after the step that exceeds it. ``after_step(model)`` runs after every
    optimiser step (e.g. to re-apply a mask or clamp weights). ``compile_model`` runs the steps through
    ``torch.compile`` (see :func:`compiled`); the loss function then receives the compiled module.
    ``validation`` is the data a ``select = "best-val"`` recipe chooses its epoch on; with ``snapshots`` the
    run resumes from the last snapshot and takes new ones between epochs (see :func:`train_phases`).
    """
    if len(data) == 0:
        raise ValueError("cannot train on an empty dataset")
    return train_phases(
        model, [Phase(data, loss_fn, aux)], recipe, seed=seed, device=device, progress=progress,
        description=description, time_budget=time_budget, after_step=after_step, compile_model=compile_model,
        validation=validation, snapshots=snapshots,
    )  # fmt: skip


def train_phases(
    model: nn.Module,
    phases: Sequence[Phase],
    recipe: Recipe,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: ProgressCallback | None = None,
    description: str = "train",
    time_budget: float | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    compile_model: bool = False,
    validation: TensorData | None = None,
    snapshots: SnapshotStore | None = None,
) -> TrainStats:
    """Train ``model`` in place: every epoch runs each phase's pass in order, with one optimiser.

    With one phase this is :func:`train` (the same batches in the same order). The phases share the
    shuffling generator, so phase 2's order follows phase 1's draws; a phase with empty data is skipped.
    The schedule is stepped once per epoch, after the last phase. Under ``recipe.select = "best-val"`` the
    model is evaluated on ``validation`` after every epoch and ends with the weights (and BatchNorm
    statistics) of the first epoch of highest accuracy; evaluating draws no random numbers, so the
    training itself is the same as under ``"last"``.

    With ``snapshots`` (phases without ``aux`` streams), the weights, optimiser state, random generators,
    counters and the best epoch so far are saved after an epoch whenever ``snapshots.due()``, and a run that
    finds a snapshot continues after its epoch: on a deterministic device the result is bit for bit the
    uninterrupted run's. The snapshot is cleared when the run finishes.
    """
    phases = [phase for phase in phases if len(phase.data) > 0]
    if not phases:
        raise ValueError("cannot train on an empty dataset")
    if recipe.select == "best-val" and (validation is None or len(validation) == 0):
        raise ValueError("select = 'best-val' needs validation data, and there is none")
    target = torch.device(device) if device is not None else phases[0].data.device
    model.to(target)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    optimizer = make_optimizer(model, recipe)
    scheduler = lr_schedule(optimizer, recipe)
    model.train()
    if recipe.freeze_batchnorm:
        _freeze_batchnorm(model)
    # Under bf16 on CPU the model trains channels-last; the layout is restored on the way out.
    with training_layout(model, target, recipe.precision):
        runner: nn.Module = compiled(model) if compile_model else model  # type: ignore[assignment]
        run = _Run(model, runner, optimizer, generator, recipe, target, after_step, time_budget)
        passes = _resident_passes(phases, target, recipe, seed)
        best = _BestEpoch(validation.to(target), recipe) if recipe.select == "best-val" and validation else None
        if snapshots is not None and any(phase.aux is not None for phase in phases):
            snapshots = None  # an endless auxiliary stream cannot be saved
        first = _resume(snapshots.load(), run, best, scheduler) if snapshots is not None else 0
        for epoch in range(first, recipe.epochs):
            out_of_time = any(run.one_pass(*one) for one in passes)  # any() stops at the pass that ran out
            if best is not None:
                best.observe(model, epoch + 1)
            if scheduler is not None:
                scheduler.step()
            if progress is not None:
                progress(description, epoch + 1, recipe.epochs)
            if out_of_time:
                break
            if snapshots is not None and epoch + 1 < recipe.epochs and snapshots.due():
                snapshots.save({**run.snapshot(epoch + 1), "best": best.snapshot() if best is not None else None})
        seconds = run.finish()
        if snapshots is not None:
            snapshots.clear()
    model.eval()
    if best is None:
        return run.stats(seconds)
    best.restore(model)
    return dataclasses.replace(run.stats(seconds), selected_epoch=best.epoch, selected_accuracy=best.accuracy)


def _resume(
    snapshot: dict[str, Any] | None, run: _Run, best: _BestEpoch | None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
) -> int:
    """Put ``run`` (and ``best``) back into the state of ``snapshot``; the epoch to continue from (0: none)."""
    if snapshot is None:
        return 0
    epoch = int(snapshot["epoch"])
    if scheduler is not None:
        with warnings.catch_warnings():  # no optimiser step precedes these: torch would warn about the order
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(epoch):  # replaying the per-epoch steps sets the rate as it was
                scheduler.step()
    run.restore(snapshot)
    if best is not None and snapshot.get("best") is not None:
        best.restore_snapshot(snapshot["best"])
    return epoch


class _BestEpoch:
    """The weights of the first epoch with the highest validation accuracy (``select = "best-val"``)."""

    def __init__(self, validation: TensorData, recipe: Recipe, batch_size: int = 1024) -> None:
        self.validation, self.recipe, self.batch_size = validation, recipe, batch_size
        self.epoch: int | None = None
        self.accuracy = -1.0
        self.state: dict[str, torch.Tensor] = {}

    def observe(self, model: nn.Module, epoch: int) -> None:
        """Evaluate ``model`` after ``epoch``; keep a copy of its state when strictly better than so far."""
        accuracy = self.accuracy_of(model)
        if accuracy > self.accuracy:  # strictly: the first best epoch wins, as the reference's ``tacc > best_sa``
            self.epoch, self.accuracy = epoch, accuracy
            self.state = {name: value.detach().clone() for name, value in model.state_dict().items()}

    def accuracy_of(self, model: nn.Module) -> float:
        """Top-1 accuracy on the validation data in eval mode, then back to training mode."""
        target = self.validation.device
        model.eval()
        correct = 0
        with torch.no_grad(), training_autocast(target, self.recipe.precision):
            for xb, yb in self.validation.batches(self.batch_size):
                correct += int((model(prepare_batch(xb, target, self.recipe.precision)).argmax(1) == yb).sum())
        model.train()
        if self.recipe.freeze_batchnorm:
            _freeze_batchnorm(model)
        return correct / len(self.validation)

    def restore(self, model: nn.Module) -> None:
        """Load the kept state into ``model`` (its own layout and device)."""
        model.load_state_dict(self.state)

    def snapshot(self) -> dict[str, Any]:
        """The best epoch so far, for a training snapshot."""
        return {"epoch": self.epoch, "accuracy": self.accuracy, "state": self.state}

    def restore_snapshot(self, snapshot: dict[str, Any]) -> None:
        """The best epoch so far from a training snapshot."""
        self.epoch, self.accuracy, self.state = snapshot["epoch"], float(snapshot["accuracy"]), snapshot["state"]


def _freeze_batchnorm(model: nn.Module) -> None:
    """BatchNorm layers to eval mode: their running statistics stay, their affine weights still train."""
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            module.eval()


def _start_weights(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(parameter, a detached copy of its value now) for every trainable parameter."""
    return [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad]


def l2_to_start(anchor: list[tuple[torch.Tensor, torch.Tensor]], strength: float) -> torch.Tensor:
    """``strength / 2 · Σ ‖w − w_start‖²`` over the anchored parameters, in float32."""
    total = sum(((p.float() - start.float()) ** 2).sum() for p, start in anchor)
    return (strength / 2) * torch.as_tensor(total)


def lr_schedule(optimizer: torch.optim.Optimizer, recipe: Recipe) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The recipe's rate schedule, stepped once per epoch: cosine annealing over its epochs, MultiStepLR with
    gamma 0.1 at ``multistep:E1,E2,...``, or none for ``constant``."""
    kind, milestones = parse_schedule(recipe.schedule)
    if kind == "cosine" and recipe.epochs > 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    if kind == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=0.1)
    return None


_Pass = tuple[Phase, TensorData, "Iterator[tuple[torch.Tensor, torch.Tensor]] | None"]


def _resident_passes(phases: Sequence[Phase], target: torch.device, recipe: Recipe, seed: int) -> list[_Pass]:
    """Each phase with its data on ``target`` and, with ``aux``, its endless auxiliary stream (own seed)."""
    passes: list[_Pass] = []
    for index, phase in enumerate(phases):
        data = phase.data.to(target) if phase.data.device != target else phase.data
        aux = None
        if phase.aux is not None:
            aux = _endless(phase.aux.to(target), recipe.batch_size, recipe.augment, seed + 7 * index)
        passes.append((phase, data, aux))
    return passes


class _Run:
    """The state of one training run: the optimiser's steps, the images seen, the last loss and the clock."""

    def __init__(
        self,
        model: nn.Module,
        runner: nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        recipe: Recipe,
        target: torch.device,
        after_step: Callable[[nn.Module], None] | None,
        time_budget: float | None,
    ) -> None:
        self.model, self.runner, self.optimizer, self.generator = model, runner, optimizer, generator
        self.recipe, self.target, self.after_step, self.time_budget = recipe, target, after_step, time_budget
        self.anchor = _start_weights(model) if recipe.l2_to_start > 0 else None
        self.steps = 0
        self.images = 0
        # The last loss stays a device tensor until the end: converting it every step would make each CUDA
        # step wait for the previous one to finish instead of queueing work ahead.
        self.last: torch.Tensor | None = None
        self.start = time.perf_counter()

    def one_pass(
        self, phase: Phase, data: TensorData, aux: Iterator[tuple[torch.Tensor, torch.Tensor]] | None
    ) -> bool:
        """One pass over ``data`` with the phase's loss; True when the time budget ran out during it."""
        recipe, target, precision = self.recipe, self.target, self.recipe.precision
        loss_fn: LossFn = phase.loss_fn or cross_entropy_loss
        drop_last = recipe.drop_last and len(data) > recipe.batch_size
        batches = data.batches(
            recipe.batch_size, shuffle=True, augment=recipe.augment, generator=self.generator, drop_last=drop_last
        )
        for xb, yb in batches:
            self.optimizer.zero_grad(set_to_none=True)
            xb = prepare_batch(xb, target, precision)
            with training_autocast(target, precision):
                if aux is not None:
                    ax, ay = next(aux)
                    loss = loss_fn(self.runner, xb, yb, prepare_batch(ax, target, precision), ay)
                else:
                    loss = loss_fn(self.runner, xb, yb)
            if self.anchor is not None:
                loss = loss + l2_to_start(self.anchor, self.recipe.l2_to_start)
            loss.backward()
            self.optimizer.step()
            if self.after_step is not None:
                self.after_step(self.model)
            self.steps += 1
            self.images += min(recipe.batch_size, len(data))
            self.last = loss.detach()
            if self.time_budget is not None and time.perf_counter() - self.start > self.time_budget:
                return True
        return False

    def snapshot(self, epochs_done: int) -> dict[str, Any]:
        """What a resumed run needs: weights, optimiser state, generators, counters, the clock."""
        rng = {"cpu": torch.get_rng_state(), "shuffle": self.generator.get_state()}
        if self.target.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.target)
        return {
            "epoch": epochs_done, "model": self.model.state_dict(),  # serialised at once: no copy needed
            "optimizer": self.optimizer.state_dict(), "rng": rng, "steps": self.steps, "images": self.images,
            "last": self.last, "seconds": time.perf_counter() - self.start,
        }  # fmt: skip

    def restore(self, snapshot: dict[str, Any]) -> None:
        """The state of :meth:`snapshot` back in this run (model, optimiser, generators, counters, clock)."""
        self.model.load_state_dict(snapshot["model"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        rng = snapshot["rng"]
        torch.set_rng_state(rng["cpu"])
        self.generator.set_state(rng["shuffle"])
        if self.target.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.target)
        self.steps, self.images = int(snapshot["steps"]), int(snapshot["images"])
        last = snapshot["last"]
        self.last = last.to(self.target) if isinstance(last, torch.Tensor) else None
        # The pull's anchor stays the one taken at construction: the fresh model, i.e. where the run started.
        self.start = time.perf_counter() - float(snapshot["seconds"])

    def finish(self) -> float:
        """Seconds since the start, once the device has run every queued step."""
        if self.target.type == "cuda":
            torch.cuda.synchronize(self.target)  # queued steps count towards the time they take
        return time.perf_counter() - self.start

    def stats(self, seconds: float) -> TrainStats:
        """What the run reports."""
        return TrainStats(
            seconds=seconds,
            epochs=self.recipe.epochs,
            steps=self.steps,
            final_loss=float(self.last) if self.last is not None else float("nan"),
            images_per_second=self.images / seconds if seconds > 0 else float("inf"),
        )


def _current_train(*args: Any, **kwargs: Any) -> TrainStats:
    """:func:`train` as this module holds it when called (a test may replace it)."""
    return train(*args, **kwargs)


def _current_train_phases(*args: Any, **kwargs: Any) -> TrainStats:
    """:func:`train_phases` as this module holds it when called."""
    return train_phases(*args, **kwargs)


#: The bench's training loop, as handed to every :class:`~unlearnbench.api.UnlearnContext`.
LOOP = TrainingLoop(train=_current_train, train_phases=_current_train_phases)
