"""The one training loop: base model, retrained oracles and every method that fine-tunes.

The recipe is the seed protocol's: SGD (lr 0.1, momentum 0.9, weight decay 5e-4), cosine annealing
stepped per epoch, batch 128, random-crop + flip augmentation. Datasets supply their own epoch count.
Deterministic under a seed on CPU: shuffling and augmentation draw from one seeded generator and the
global torch seed is set for any randomness inside the model (dropout).

Device-specific speed-ups live in :func:`training_autocast` and :func:`prepare_batch`: on CUDA the
forward and backward passes run under bf16 autocast with channels-last inputs (the optimiser state and
the weights stay float32); on CPU neither applies, so the CPU numbers are exactly those of the plain loop.
``compile_model=True`` wraps the model in ``torch.compile`` for the training steps only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from unlearnbench.api import ProgressCallback
from unlearnbench.data.pipeline import TensorData

#: Bumped whenever the loop's numerics change, so cached checkpoints are invalidated.
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """Hyperparameters of one training run (all part of the cache key)."""

    epochs: int = 30
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    schedule: str = "cosine"  # "cosine" (per epoch, as the seed) or "constant"
    augment: bool = True
    nesterov: bool = False
    optimizer: str = "sgd"  # "sgd" (the seed's) or "adam" (betas 0.9, 0.999; momentum ignored)

    def key(self) -> dict[str, object]:
        """The recipe as a plain dict for cache keys and results.json."""
        return {**asdict(self), "version": RECIPE_VERSION}


@dataclass(frozen=True)
class TrainStats:
    """What one training run reports."""

    seconds: float
    epochs: int
    steps: int
    final_loss: float
    images_per_second: float


LossFn = Callable[..., torch.Tensor]
"""``loss_fn(model, x, y)``; with ``aux`` data, ``loss_fn(model, x, y, aux_x, aux_y)``."""


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


def training_autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA (tensor-core matmuls and convolutions); a no-op context on every other device.

    The CPU path deliberately stays float32: CPU bf16 kernels are not faster on common CPUs and would
    change every cached CPU result.
    """
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_batch(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The input batch as the device's fastest layout: channels-last on CUDA, unchanged elsewhere."""
    if device.type == "cuda" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


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
    loss_fn: LossFn = cross_entropy_loss,
    description: str = "train",
    aux: TensorData | None = None,
    time_budget: float | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    compile_model: bool = False,
) -> TrainStats:
    """Train ``model`` in place on ``data`` with ``recipe``; returns timing and the last loss.

    ``loss_fn(model, x, y)`` lets methods reuse the loop with another objective (e.g. an ℓ1 penalty).
    With ``aux`` (e.g. the forget set while iterating the retain set), every step also draws a batch of
    the same size from an endlessly reshuffled stream of ``aux`` and calls ``loss_fn(model, x, y, ax, ay)``.
    ``time_budget`` (seconds) stops after the step that exceeds it. ``after_step(model)`` runs after every
    optimiser step (e.g. to re-apply a mask or clamp weights). ``compile_model`` runs the steps through
    ``torch.compile`` (see :func:`compiled`); the loss function then receives the compiled module.
    """
    if len(data) == 0:
        raise ValueError("cannot train on an empty dataset")
    target = torch.device(device) if device is not None else data.device
    model.to(target)
    data = data.to(target) if data.device != target else data
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    optimizer = make_optimizer(model, recipe)
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    if recipe.schedule == "cosine" and recipe.epochs > 0:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    model.train()
    runner: nn.Module = compiled(model) if compile_model else model  # type: ignore[assignment]
    start = time.perf_counter()
    steps = 0
    # The last loss stays a device tensor until the end: converting it every step would make each CUDA
    # step wait for the previous one to finish instead of queueing work ahead.
    last: torch.Tensor | None = None
    drop_last = len(data) > recipe.batch_size
    aux_stream = _endless(aux.to(target), recipe.batch_size, recipe.augment, seed) if aux is not None else None
    out_of_time = False
    for epoch in range(recipe.epochs):
        for xb, yb in data.batches(
            recipe.batch_size, shuffle=True, augment=recipe.augment, generator=generator, drop_last=drop_last
        ):
            optimizer.zero_grad(set_to_none=True)
            xb = prepare_batch(xb, target)
            with training_autocast(target):
                if aux_stream is not None:
                    ax, ay = next(aux_stream)
                    loss = loss_fn(runner, xb, yb, prepare_batch(ax, target), ay)
                else:
                    loss = loss_fn(runner, xb, yb)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(model)
            steps += 1
            last = loss.detach()
            if time_budget is not None and time.perf_counter() - start > time_budget:
                out_of_time = True
                break
        if scheduler is not None:
            scheduler.step()
        if progress is not None:
            progress(description, epoch + 1, recipe.epochs)
        if out_of_time:
            break
    if target.type == "cuda":
        torch.cuda.synchronize(target)  # queued steps count towards the time they take
    seconds = time.perf_counter() - start
    model.eval()
    images = steps * min(recipe.batch_size, len(data))
    return TrainStats(
        seconds=seconds,
        epochs=recipe.epochs,
        steps=steps,
        final_loss=float(last) if last is not None else float("nan"),
        images_per_second=images / seconds if seconds > 0 else float("inf"),
    )
