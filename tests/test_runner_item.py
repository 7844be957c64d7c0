"""Tests of unlearnbench.runner.item, the per-item protocol: misbehaving methods and metrics (and a full cache
disk) become error outcomes with a reason; the run goes on and stays correct."""

from __future__ import annotations

import errno
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from unlearnbench.cache import Cache
from unlearnbench.cli import main
from unlearnbench.data.fake import Fake
from unlearnbench.data.splits import make_splits
from unlearnbench.metrics.accuracy import Accuracy
from unlearnbench.models.small_cnn import SmallCNN
from unlearnbench.registry import Entry
from unlearnbench.results import load
from unlearnbench.runner import Bench, MetricSpec, run_item
from unlearnbench.training import Recipe


@pytest.fixture(scope="module")
def bench() -> Bench:
    """A fresh tiny bench (not the memoised shared one: these tests set its timeout)."""
    raw = Fake().load("", n_train=128, n_heldout=64)
    factory = SmallCNN()
    return Bench(
        raw=raw, splits=make_splits(raw, "0.1", seed=42), model_name="small_cnn",
        build_model=lambda: factory.build(raw.num_classes, raw.in_channels, raw.image_size),
        recipe=Recipe(epochs=2), device=torch.device("cpu"), cache=Cache("unused", enabled=False), base_seed=0,
        oracle_count=1,
    )  # fmt: skip


class Identity:
    name = "identity"
    description = "returns the model"

    def unlearn(self, model: nn.Module, ctx: Any) -> nn.Module:
        return model


class Hangs:
    name = "hangs"
    description = "never returns (Python loop), and swallows ordinary exceptions"

    def unlearn(self, model: nn.Module, ctx: Any) -> nn.Module:
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # the timeout must not be swallowable
                pass


class EatsMemory:
    name = "eats_memory"
    description = "raises MemoryError"

    def unlearn(self, model: nn.Module, ctx: Any) -> nn.Module:
        raise MemoryError("cannot allocate 64 GiB")


class TouchesOriginal:
    name = "touches_original"
    description = "writes into ctx.original"

    def unlearn(self, model: nn.Module, ctx: Any) -> nn.Module:
        with torch.no_grad():
            next(ctx.original.parameters()).add_(1.0)
        return model


class WrongShape:
    name = "wrong_shape"
    description = "returns a model of another architecture"

    def unlearn(self, model: nn.Module, ctx: Any) -> nn.Module:
        return nn.Linear(3, 2)


class MemoryHungryMetric:
    name = "memory_hungry"
    description = "raises torch.cuda.OutOfMemoryError"

    def compute(self, ctx: Any) -> float:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def _entry(cls: type, kind: str = "method") -> Entry:
    return Entry(cls.name, cls, kind, "test", __file__)  # type: ignore[attr-defined]


def _run(bench: Bench, cls: type, metrics: list[MetricSpec] | None = None) -> Any:
    specs = metrics if metrics is not None else [MetricSpec(_entry(Accuracy, "metric"), Accuracy())]
    return run_item(bench, _entry(cls), {}, {}, cls.name, [0, 1], specs, 1)  # type: ignore[attr-defined]


def test_hanging_method_times_out_and_the_next_item_runs(bench: Bench) -> None:
    bench.timeout = 0.5
    try:
        hung = _run(bench, Hangs)
        after = _run(bench, Identity)
    finally:
        bench.timeout = None
    assert hung.outcome == "failed"
    assert hung.errors["unlearn"] == "seed 0: timed out after 0.5 s"
    assert after.outcome == "passed"
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler, None)


def test_out_of_memory_in_unlearn_is_a_failed_item_with_the_reason(bench: Bench) -> None:
    result = _run(bench, EatsMemory)
    assert result.outcome == "failed"
    assert result.errors["unlearn"] == "seed 0: out of memory in unlearn (MemoryError: cannot allocate 64 GiB)"
    assert _run(bench, Identity).outcome == "passed"


def test_a_model_of_another_shape_is_a_failed_item(bench: Bench) -> None:
    result = _run(bench, WrongShape)
    assert result.outcome == "failed"
    assert "unlearn returned a model whose parameters differ in names or shapes" in result.errors["unlearn"]


def test_out_of_memory_in_a_metric_is_an_error_cell(bench: Bench) -> None:
    specs = [MetricSpec(_entry(Accuracy, "metric"), Accuracy()),
             MetricSpec(_entry(MemoryHungryMetric, "metric"), MemoryHungryMetric())]  # fmt: skip
    result = _run(bench, Identity, specs)
    assert result.outcome == "error"
    assert result.errors["memory_hungry"].startswith("seed 0: out of memory in memory_hungry (OutOfMemoryError")
    assert "accuracy.RA" in result.summary  # the other metric still has its values


def test_modifying_the_original_fails_the_item_and_leaves_the_bench_intact(bench: Bench) -> None:
    before = {k: v.clone() for k, v in bench.original().state.items()}
    result = _run(bench, TouchesOriginal)
    assert result.outcome == "failed"
    assert "unlearn modified ctx.original in place (" in result.errors["unlearn"]
    assert all(torch.equal(before[k], v) for k, v in bench.original().state.items())
    identity = _run(bench, Identity)
    # the identity item evaluates exactly the original model: its accuracies are the original's
    original_acc = bench.original().outputs.logits["retain"].argmax(1) == bench.labels["retain"]
    assert identity.summary["accuracy.RA"].mean == pytest.approx(float(original_acc.mean()), abs=0)


SMALL = ["run", "--preset", "fake", "-q", "--seeds", "1", "--oracles", "1", "--epochs", "1",
         "--dataset-option", "n_train=96", "--metric", "accuracy"]  # fmt: skip

HANGING_PLUGIN = """
import time
from unlearnbench import hookimpl


class Sleeper:
    name = "sleeper"
    description = "sleeps forever"

    def unlearn(self, model, ctx):
        while True:
            time.sleep(0.01)


@hookimpl
def unlearnbench_add_methods():
    return [Sleeper]
"""


def test_timeout_option_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "sleepy.py").write_text(HANGING_PLUGIN)
    code = main([*SMALL, "--method", "sleeper", "--method", "finetune[epochs=1,lr=0.01]", "--timeout", "0.5",
                 "--output-dir", "o"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    results = load(tmp_path / "o" / "results.json")
    assert results.item("sleeper").errors["unlearn"] == "seed 0: timed out after 0.5 s"
    assert results.item("finetune[epochs=1,lr=0.01]").outcome == "passed"
    assert results.config["timeout"] == 0.5


def test_full_cache_disk_is_one_line_and_keeps_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "c"
    warm = [*SMALL, "--cache-dir", str(cache), "--method", "finetune[epochs=1,lr=0.03]", "--output-dir", "warm"]
    assert main(warm) == 0  # trains the original and the oracles, evaluates the anchors
    import unlearnbench.cache as cache_module

    real = cache_module.atomic_write_bytes

    def full_disk(target: Path, data: bytes) -> None:
        if f"{cache_module.OUTPUTS_KIND}" in target.parts:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(target, data)

    monkeypatch.setattr(cache_module, "atomic_write_bytes", full_disk)
    capsys.readouterr()
    code = main([*SMALL, "--cache-dir", str(cache), "--method", "finetune[epochs=1,lr=0.02]", "--output-dir", "o"])
    err = capsys.readouterr().err
    assert code == 4
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"Cannot write cache entry under {cache / 'outputs'}" in err and "No space left on device" in err
    kept = load(tmp_path / "o" / "results.json")
    assert [i.item_id for i in kept.items] == ["original", "retrain"]  # what was computed is kept
    assert kept.interrupted and kept.exit_status == 4
