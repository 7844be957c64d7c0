"""Shadow originals, held-out retrained models and the ``retrain`` row's replicates as batched ensembles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import unlearnbench.runner.bench as bench_module
from unlearnbench.cli import main
from unlearnbench.config import Config
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import build_registry
from unlearnbench.runner import build_bench
from unlearnbench.runner.bench import SHADOW_SEED_BASE
from unlearnbench.runner.shadows import held_out_retrained

REGISTRY = build_registry(build_plugin_manager([], None))


def _config(cache: Path, batching: str) -> Config:
    return Config(dataset="fake", model="small_cnn", epochs=2, cache_dir=str(cache), device="cpu",  # type: ignore[arg-type]
                  precision="fp32", augment=False, oracles=2, train_batching=batching)  # fmt: skip


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of models of every call of the batched loop."""
    sizes: list[int] = []
    real = bench_module.train_batched

    def spy(models: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(models))
        return real(models, *args, **kwargs)

    monkeypatch.setattr(bench_module, "train_batched", spy)
    return sizes


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:  # weights and BatchNorm running statistics alike
        # The bench-level tolerance of tests/test_batched.py.
        assert torch.allclose(a[name].double(), b[name].double(), atol=1e-3), name


def test_shadow_originals_train_together_and_agree_with_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = [SHADOW_SEED_BASE + k for k in range(3)]
    sequential = build_bench(_config(tmp_path / "seq", "sequential"), REGISTRY)
    together = build_bench(_config(tmp_path / "vmap", "vmap"), REGISTRY)
    expected = sequential.shadow_originals(seeds)
    sizes = _spy(monkeypatch)
    got = together.shadow_originals(seeds)
    assert sizes == [3]
    for a, b in zip(got, expected, strict=True):
        _close(a.state, b.state)
    assert together.model_key("original", seeds[0]) != sequential.model_key("original", seeds[0])
    # The run's own original is never batched: its key and weights do not depend on the mode.
    assert together.model_key("original", together.base_seed) == sequential.model_key("original", sequential.base_seed)
    assert together.shadow_originals(seeds)[0].cached and sizes == [3]  # from the cache, nothing trained
    with pytest.raises(ValueError, match="shadow seeds start at"):
        together.shadow_originals([5])


def test_held_out_retrained_models_train_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sequential = build_bench(_config(tmp_path / "seq", "sequential"), REGISTRY)
    together = build_bench(_config(tmp_path / "vmap", "vmap"), REGISTRY)
    expected = held_out_retrained(sequential, 3)
    sizes = _spy(monkeypatch)
    got = held_out_retrained(together, 3)
    assert sizes == [3]
    for a, b in zip(got, expected, strict=True):
        _close(a.state, b.state)


def test_the_retrain_rows_replicates_train_as_one_ensemble(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _spy(monkeypatch)
    code = main(["run", "--preset", "fake", "--method", "finetune[epochs=1,lr=0.1]", "--metric", "accuracy",
                 "--train-batching", "vmap",
                 "--epochs", "1", "--oracles", "4", "--seeds", "3", "--cache-dir", str(tmp_path / "cache"),
                 "--output-dir", str(tmp_path / "out"), "-q"])  # fmt: skip
    assert code == 0
    assert sizes == [4, 3]  # the reference pool, then the row's replicates R ... R + S - 1


@pytest.mark.parametrize("batching", ["sequential", "vmap"])
def test_each_shadow_original_is_trained_once_even_without_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batching: str
) -> None:
    from unlearnbench.registry import merge_params
    from unlearnbench.runner.shadows import shadow_artifacts

    config = _config(tmp_path / "c", batching)
    bench = build_bench(Config(**{**config.__dict__, "no_cache": True}), REGISTRY)
    trained: list[int] = []
    real_train, real_batched = bench_module.train, bench_module.train_batched

    def count_train(*args: Any, **kwargs: Any) -> Any:
        trained.append(1)
        return real_train(*args, **kwargs)

    def count_batched(models: Any, *args: Any, **kwargs: Any) -> Any:
        trained.append(len(models))
        return real_batched(models, *args, **kwargs)

    monkeypatch.setattr(bench_module, "train", count_train)
    monkeypatch.setattr(bench_module, "train_batched", count_batched)
    entry = REGISTRY.methods["finetune"]
    merged = merge_params(entry.cls, "fake", {"epochs": 1}, {})
    artifacts = shadow_artifacts(bench, entry, entry.cls(), merged, shadows=2, replicates=1)
    assert len(artifacts.shadow_outputs) == 2 and len(artifacts.target_retrained_outputs) == 1
    # Two shadow originals and one held-out retrained model, each trained once (nothing read back from a cache).
    assert sum(trained) == 3
