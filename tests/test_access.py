"""unlearnbench.runner.access: what a method read from its context and its optimiser steps, checked against
what it declares, cached with the replicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.cache import Cache
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import build_registry
from unlearnbench.runner.access import ACCESS, access_summary, counted_steps, declared_access
from unlearnbench.runner.replicate import unlearn_recorded, unlearned_replicate
from unlearnbench.testing import tiny_bench


class Peeker:
    """Fine-tunes on the retain set for a few steps but also looks at the validation split, undeclared."""

    name: ClassVar[str] = "peeker"
    description: ClassVar[str] = "test method (none)"
    defaults: ClassVar[dict[str, Any]] = {}
    data_access: ClassVar[tuple[str, ...]] = ("retain",)

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        _ = len(ctx.val)
        ctx.train(model, ctx.retain, epochs=2, lr=0.01, batch_size=64, augment=False)
        return model


def test_the_runner_records_reads_and_steps_and_names_what_was_not_declared() -> None:
    bench = tiny_bench()
    _, _, record = unlearn_recorded(bench, Peeker(), {}, 0)
    retain = len(bench.data["retain"])
    assert record["touched"] == ["retain", "val"]
    assert record["examples"] == {"retain": retain, "val": len(bench.data["val"])}
    assert record["steps"] == 2 * -(-retain // 64)  # every batch of both epochs, the partial one kept
    summary = access_summary([record], declared_access(Peeker))
    assert summary["undeclared"] == ["val"] and "touched but not declared: val" in summary["line"]
    assert f"retain set ({retain:,} examples)" in summary["line"] and "no test data" in summary["line"]


def test_counted_steps_counts_every_optimiser_and_only_inside_the_block() -> None:
    weight = torch.zeros(2, requires_grad=True)
    sgd, adam = torch.optim.SGD([weight], lr=0.1), torch.optim.Adam([weight], lr=0.1)
    with counted_steps() as steps:
        for optimiser in (sgd, adam, sgd):
            weight.sum().backward()
            optimiser.step()
    sgd.step()
    assert steps[0] == 3


def test_the_summary_without_a_declaration_and_over_replicates() -> None:
    records = [{"touched": ["forget"], "examples": {"forget": 10}, "steps": 4},
               {"touched": ["forget", "original"], "examples": {"forget": 10}, "steps": 6}]  # fmt: skip
    summary = access_summary(records, None)
    assert summary["touched"] == ["forget", "original"] and summary["steps"] == 5
    assert "not declared by the method" in summary["line"] and "(mean of 2 replicates, 4-6)" in summary["line"]
    assert access_summary(records, ("forget", "original"))["undeclared"] == []


def test_the_record_is_cached_with_the_replicate(tmp_path: Path) -> None:
    bench = tiny_bench(cache_dir=str(tmp_path))
    assert isinstance(bench.cache, Cache)
    first = unlearned_replicate(bench, Peeker(), {}, 0, "ab" * 32, "peeker", weights=False)
    again = unlearned_replicate(bench, Peeker(), {}, 0, "ab" * 32, "peeker", weights=False)
    assert not first.cached and again.cached and again.access == first.access and first.access is not None


@pytest.mark.parametrize("name", sorted(build_registry(build_plugin_manager([], None)).methods))
def test_every_builtin_method_declares_what_it_reads(name: str) -> None:
    registry = build_registry(build_plugin_manager([], None))
    declared = declared_access(registry.methods[name].cls)
    assert declared is not None and set(declared) <= set(ACCESS), declared
