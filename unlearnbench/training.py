"""The one training loop: base model, retrained oracles and every method that fine-tunes.

The recipe is the seed protocol's: SGD (lr 0.1, momentum 0.9, weight decay 5e-4), cosine annealing
stepped per epoch, batch 128, random-crop + flip augmentation. Datasets supply their own epoch count.
Deterministic under a seed on CPU: shuffling and augmentation draw from one seeded generator and the
global torch seed is set for any randomness inside the model (dropout).
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default objective: mean cross-entropy of ``model(x)`` against ``y``."""
    return nn.functional.cross_entropy(model(x), y)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD with the recipe's momentum and weight decay over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(
        params,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        nesterov=recipe.nesterov and recipe.momentum > 0,
    )


def train(
    model: nn.Module,
    data: TensorData,
    recipe: Recipe,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: ProgressCallback | None = None,
    loss_fn: LossFn = cross_entropy_loss,
    description: str = "train",
) -> TrainStats:
    """Train ``model`` in place on ``data`` with ``recipe``; returns timing and the last loss.

    ``loss_fn(model, x, y)`` lets methods reuse the loop with another objective (e.g. an ℓ1 penalty).
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
    start = time.perf_counter()
    steps = 0
    last = float("nan")
    drop_last = len(data) > recipe.batch_size
    for epoch in range(recipe.epochs):
        for xb, yb in data.batches(
            recipe.batch_size, shuffle=True, augment=recipe.augment, generator=generator, drop_last=drop_last
        ):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, xb, yb)
            loss.backward()
            optimizer.step()
            steps += 1
            last = float(loss.detach())
        if scheduler is not None:
            scheduler.step()
        if progress is not None:
            progress(description, epoch + 1, recipe.epochs)
    seconds = time.perf_counter() - start
    model.eval()
    images = steps * min(recipe.batch_size, len(data))
    return TrainStats(
        seconds=seconds,
        epochs=recipe.epochs,
        steps=steps,
        final_loss=last,
        images_per_second=images / seconds if seconds > 0 else float("inf"),
    )
