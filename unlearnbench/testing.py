"""Helpers for testing methods and metrics on tiny data, in process (for unlearnbench and plugin authors).

``tiny_bench()`` builds the shared resources of a run on the synthetic ``fake`` dataset (a small CNN,
trained in about a second, cache disabled, memoised per process); ``unlearn_context(bench, params)``
returns a fresh copy of the original model with a complete :class:`~unlearnbench.api.UnlearnContext`;
``run_method(cls, params)`` runs a method the way the bench does and returns the models before and after.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.cache import Cache
from unlearnbench.data.fake import Fake
from unlearnbench.data.splits import make_splits
from unlearnbench.evaluation import copy_model, freeze
from unlearnbench.models.small_cnn import SmallCNN
from unlearnbench.runner import Bench
from unlearnbench.session import merge_params
from unlearnbench.training import Recipe


@functools.lru_cache(maxsize=8)
def tiny_bench(
    forget: str = "0.1",
    seed: int = 0,
    n_train: int = 256,
    n_heldout: int = 128,
    num_classes: int = 4,
    epochs: int = 10,
    oracles: int = 2,
) -> Bench:
    """Resources of a tiny run on ``fake`` data (CPU, no cache); memoised, so treat it as read-only."""
    raw = Fake().load("", seed=seed, n_train=n_train, n_heldout=n_heldout, num_classes=num_classes)
    splits = make_splits(raw, forget, seed=42)
    factory = SmallCNN()

    def build() -> nn.Module:
        return factory.build(raw.num_classes, raw.in_channels, raw.image_size)

    bench = Bench(
        raw=raw, splits=splits, model_name="small_cnn", build_model=build, recipe=Recipe(epochs=epochs),
        device=torch.device("cpu"), cache=Cache("unused", enabled=False), base_seed=0, oracle_count=oracles,
    )  # fmt: skip
    bench.original()
    return bench


@dataclass
class MethodRun:
    """What :func:`run_method` returns."""

    before: nn.Module
    after: nn.Module
    ctx: UnlearnContext
    bench: Bench


def unlearn_context(
    bench: Bench, params: Mapping[str, Any] | None = None, seed: int = 0, time_budget: float | None = None
) -> tuple[nn.Module, UnlearnContext]:
    """A fresh copy of the original model (train mode) and the context the runner would pass with it."""
    model = bench.model_from_state(bench.original().state)
    model.train()
    frozen = freeze(copy_model(model))

    def oracle_model() -> nn.Module:
        return bench.model_from_state(bench.independent_oracle(seed).state)

    ctx = UnlearnContext(
        params=dict(params or {}), seed=seed, device=bench.device, retain=bench.data["retain"],
        forget=bench.data["forget"], val=bench.data["val"], original=frozen, num_classes=bench.raw.num_classes,
        recipe=bench.recipe, new_model=lambda: bench.new_model(seed + 7919), oracle_model=oracle_model,
        time_budget=time_budget, forget_classes=bench.forget_classes(),
    )  # fmt: skip
    return model, ctx


def run_method(
    cls: type, params: Mapping[str, Any] | None = None, bench: Bench | None = None, seed: int = 0
) -> MethodRun:
    """Run ``cls().unlearn`` like the bench does: defaults overlaid with ``params``, seeded."""
    bench = bench if bench is not None else tiny_bench()
    merged = merge_params(cls, "fake", dict(params or {}))
    model, ctx = unlearn_context(bench, merged, seed)
    before = copy_model(ctx.original)
    torch.manual_seed(seed)
    after = cls().unlearn(model, ctx)
    after.eval()
    return MethodRun(before=before, after=after, ctx=ctx, bench=bench)


@torch.inference_mode()
def split_loss(model: nn.Module, bench: Bench, split: str) -> float:
    """Mean cross-entropy of ``model`` on one split of ``bench``."""
    model.eval()
    data = bench.data[split]
    total = 0.0
    for x, y in data.batches(512):
        total += float(nn.functional.cross_entropy(model(x), y, reduction="sum"))
    return total / max(len(data), 1)


@torch.inference_mode()
def split_accuracy(model: nn.Module, bench: Bench, split: str) -> float:
    """Accuracy of ``model`` on one split of ``bench``."""
    model.eval()
    data = bench.data[split]
    correct = 0
    for x, y in data.batches(512):
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(len(data), 1)
