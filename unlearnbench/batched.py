"""Training several independent models of one architecture together (the R oracles of a pool).

The oracles of a pool differ only in their seed: same architecture, same data, same recipe. Small models
leave most of a device idle, so K of them are trained as one: :func:`torch.func.stack_module_state`
stacks their parameters and buffers into ``[K, ...]`` tensors, one :func:`torch.vmap` of
:func:`torch.func.functional_call` runs the K forward passes as one batched pass, and one optimiser steps
the stacked tensors. Each model still sees exactly what it would see alone:

* its own initialisation (the caller builds model k under its own seed),
* its own shuffle order and augmentation stream: model k draws its batches from its own
  :meth:`~unlearnbench.data.pipeline.TensorData.batches` iterator with a generator seeded as
  :func:`unlearnbench.training.train` seeds it, in the same order of draws,
* its own gradient: the summed loss of K models has model k's gradient in slice k, and every update rule
  of the recipe (SGD with momentum and weight decay, Adam) is elementwise, so slice k is updated exactly
  as model k's own optimiser would update it.

**BatchNorm.** The buffers are stacked and passed to ``functional_call`` as batched tensors, so under
``vmap`` every model normalises with its own batch statistics and updates its own running statistics in
place (``running_mean``, ``running_var``, ``num_batches_tracked`` of slice k). This was chosen over the
alternatives because it keeps the models' state identical to sequential training: disabling running
statistics under ``vmap`` and recalibrating afterwards would give other running statistics (a pass over
the final weights instead of the momentum average over training), i.e. other evaluation numbers.

The results agree with sequential training up to floating-point summation order (a batched convolution
adds in another order), about 1e-7 per step. One discrete effect can amplify that: where a max-pool window
holds mathematically equal values (e.g. over the zero padding of a random crop), round-off decides which
one receives the gradient, so a step may route it differently (both are valid subgradients). The tests
therefore check weights within 1e-4 (absolute) of K sequential trainings for a model without max-pool and
with augmentation, and for ``small_cnn`` without augmentation; with max-pool and augmentation the runs
stay statistically equivalent but may differ by ~1e-3 after a few epochs. Models with dropout
(randomness inside the forward pass, whose stream cannot be split per model identically) are not
batched: :func:`can_batch` says no and the caller trains them one by one.

Whether batching is used is a fixed rule per (device type, architecture), :data:`BATCHING_RULES`, taken
from ``benchmarks/batched_training.py``, never from a timing at run time, so the same configuration
always trains the same way; ``train_batching = "sequential" | "vmap"`` overrides it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from unlearnbench.api import ProgressCallback
from unlearnbench.data.pipeline import TensorData
from unlearnbench.training import Recipe, TrainStats, lr_schedule, optimizer_for, training_autocast

TrainBatching = Literal["auto", "sequential", "vmap"]
#: The values of the ``train_batching`` option.
BATCHING_CHOICES: tuple[str, ...] = ("auto", "sequential", "vmap")

#: What ``auto`` picks per (device type, model), from ``benchmarks/batched_training.py`` (the full table is
#: in benchmarks/README.md). Measured 2026-11-30 on 2 shared CPU cores under heavy load (torch 2.14,
#: ``--quick --rounds 2``: K = 6 models, 768 CIFAR-shaped images each, batch 128, one thread; images/s per
#: model, sequential vs vmap, best of two interleaved rounds): small_cnn 112.7 vs 28.3 (0.25x), resnet18
#: 31.8 vs 19.5 (0.61x); with two threads small_cnn 99.8 vs 26.8 (0.27x). On CPU vmap lowers each
#: convolution of K models to one grouped convolution, whose CPU kernels (forward and above all backward)
#: are slower than K dense ones, so the CPU keeps the sequential loop. Pairs not listed, including every
#: CUDA pair until benchmarks/batched_training.py has been run on a GPU, train sequentially too;
#: ``train_batching = "vmap"`` opts in.
BATCHING_RULES: dict[tuple[str, str], str] = {
    ("cpu", "small_cnn"): "sequential",
    ("cpu", "resnet18"): "sequential",
}


def resolve_batching(requested: str, device: torch.device | str, model_name: str) -> str:
    """``"sequential"`` or ``"vmap"``: ``auto`` looks up :data:`BATCHING_RULES`, else the request stands."""
    if requested not in BATCHING_CHOICES:
        raise ValueError(f"train_batching must be one of {', '.join(BATCHING_CHOICES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return BATCHING_RULES.get((torch.device(device).type, model_name), "sequential")


def can_batch(model: nn.Module) -> bool:
    """Whether :func:`train_batched` reproduces sequential training for this model (no active dropout)."""
    dropouts = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
    return not any(isinstance(m, dropouts) and m.p > 0 for m in model.modules())


def train_batched(
    models: Sequence[nn.Module],
    data: TensorData,
    recipe: Recipe,
    seeds: Sequence[int],
    device: torch.device | str | None = None,
    progress: ProgressCallback | None = None,
    description: str = "train",
) -> list[TrainStats]:
    """Train ``models`` (same architecture) in place on ``data``, model k as ``train(models[k], seed=seeds[k])``.

    Returns one :class:`TrainStats` per model; the wall time of the joint run is shared equally (each
    model is charged ``seconds / K``), so a pool's total cost is what it really took. Raises
    ``ValueError`` for an empty dataset, mismatched lengths, a model :func:`can_batch` refuses or a recipe
    that chooses its epoch on a validation split (trained one by one instead).
    """
    if recipe.select != "last":
        raise ValueError(f"the batched loop keeps the last epoch; select = {recipe.select!r} trains one by one")
    if len(models) != len(seeds):
        raise ValueError(f"{len(models)} models but {len(seeds)} seeds")
    if not models:
        return []
    _check_batchable(models, data)
    target = torch.device(device) if device is not None else data.device
    data = data.to(target) if data.device != target else data
    for model in models:
        model.to(target).train()
    stack = _stack(models, recipe)
    generators = _generators(seeds)
    start = time.perf_counter()
    steps, last = _run_epochs(stack, data, recipe, generators, target, progress, description)
    seconds = time.perf_counter() - start
    _unstack(stack, models)
    return _shared_stats(len(models), seconds, steps, last, recipe, len(data))


@dataclass
class _Stack:
    """K models as one: stacked ``[K, ...]`` parameters and buffers, the vmapped forward pass, one optimiser."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    forward: Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None


def _check_batchable(models: Sequence[nn.Module], data: TensorData) -> None:
    """ValueError for an empty dataset or a model :func:`can_batch` refuses."""
    if len(data) == 0:
        raise ValueError("cannot train on an empty dataset")
    if not all(can_batch(m) for m in models):
        raise ValueError("models with dropout cannot be trained batched; train them sequentially")


def _stack(models: Sequence[nn.Module], recipe: Recipe) -> _Stack:
    """Stack the models' state, vmap a functional call of a meta-device copy, build the recipe's optimiser."""
    params, buffers = torch.func.stack_module_state(list(models))  # type: ignore[arg-type]
    params = {name: p.detach().clone().requires_grad_(True) for name, p in params.items()}
    skeleton = copy.deepcopy(models[0]).to("meta")
    skeleton.train()

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(skeleton, (p, b), (x,))
        return out

    batched_forward = torch.vmap(forward, in_dims=(0, 0, 0), randomness="error")
    optimizer = optimizer_for(list(params.values()), recipe)
    return _Stack(params, buffers, batched_forward, optimizer, lr_schedule(optimizer, recipe))


def _generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per model, seeded as :func:`unlearnbench.training.train` seeds its own."""
    generators = []
    for seed in seeds:
        generator = torch.Generator()
        generator.manual_seed(int(seed))
        generators.append(generator)
    return generators


def _run_epochs(
    stack: _Stack,
    data: TensorData,
    recipe: Recipe,
    generators: list[torch.Generator],
    target: torch.device,
    progress: ProgressCallback | None,
    description: str,
) -> tuple[int, torch.Tensor]:
    """The recipe's epochs, model k drawing its batches from its own generator; the steps and last losses."""
    k = len(generators)
    drop_last = len(data) > recipe.batch_size
    steps = 0
    last = torch.full((k,), float("nan"))
    for epoch in range(recipe.epochs):
        streams = [
            data.batches(recipe.batch_size, shuffle=True, augment=recipe.augment, generator=g, drop_last=drop_last)
            for g in generators
        ]
        for batch in zip(*streams):
            last = _step(stack, batch, target, recipe.precision)
            steps += 1
        if stack.scheduler is not None:
            stack.scheduler.step()
        if progress is not None:
            progress(description, epoch + 1, recipe.epochs)
    return steps, last


def _step(
    stack: _Stack, batch: tuple[tuple[torch.Tensor, torch.Tensor], ...], target: torch.device, precision: str
) -> torch.Tensor:
    """One optimiser step of all K models on their own minibatches; each model's mean loss, on the CPU."""
    k = len(batch)
    xs = torch.stack([xb for xb, _ in batch])
    ys = torch.stack([yb for _, yb in batch])
    stack.optimizer.zero_grad(set_to_none=True)
    with training_autocast(target, precision):
        logits = stack.forward(stack.params, stack.buffers, xs)
        per_example = nn.functional.cross_entropy(logits.flatten(0, 1).float(), ys.flatten(), reduction="none")
        per_model = per_example.view(k, -1).mean(dim=1)
    per_model.sum().backward()
    stack.optimizer.step()
    return per_model.detach().cpu()


def _unstack(stack: _Stack, models: Sequence[nn.Module]) -> None:
    """Copy slice k of the trained parameters and buffers back into model k and put it in eval mode."""
    with torch.no_grad():
        for index, model in enumerate(models):
            for name, param in model.named_parameters():
                param.copy_(stack.params[name][index])
            for name, buffer in model.named_buffers():
                if name in stack.buffers:
                    buffer.copy_(stack.buffers[name][index])
            model.eval()


def _shared_stats(
    k: int, seconds: float, steps: int, last: torch.Tensor, recipe: Recipe, size: int
) -> list[TrainStats]:
    """One :class:`TrainStats` per model, each charged ``seconds / K`` of the joint run."""
    share = seconds / k
    images = steps * min(recipe.batch_size, size)
    return [
        TrainStats(
            seconds=share,
            epochs=recipe.epochs,
            steps=steps,
            final_loss=float(last[index]),
            images_per_second=images / share if share > 0 else float("inf"),
        )
        for index in range(k)
    ]
