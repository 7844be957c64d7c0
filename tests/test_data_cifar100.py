"""unlearnbench.data.cifar100: the small-scale backbone's reference pre-training data, from a local file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unlearnbench.data.cifar100 import CIFAR100
from unlearnbench.errors import UsageError


def tiny_cifar100(path: Path, top_label: int = 99) -> Path:
    rng = np.random.default_rng(0)
    y_train = rng.integers(0, top_label + 1, 300)
    y_train[0] = top_label
    np.savez(path, x_train=rng.integers(0, 255, (300, 32, 32, 3), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), y_test=rng.integers(0, 100, 40))  # fmt: skip
    return path


def test_loads_100_classes_channels_first(tmp_path: Path) -> None:
    raw = CIFAR100().load(str(tmp_path), path=str(tiny_cifar100(tmp_path / "c.npz")), heldout_size=10)
    assert raw.num_classes == 100 and raw.x_train.shape == (300, 3, 32, 32) and len(raw.y_heldout) == 10
    assert int(raw.y_train.max()) == 99


def test_a_label_out_of_range_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"CIFAR-100 file .* label 100, expected labels in 0\.\.99"):
        CIFAR100().load(str(tmp_path), path=str(tiny_cifar100(tmp_path / "c.npz", top_label=100)))


def test_absent_file_says_every_way_to_provide_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNLEARNBENCH_CIFAR100", raising=False)
    with pytest.raises(UsageError, match="CIFAR-100 not found.*UNLEARNBENCH_CIFAR100"):
        CIFAR100().load(str(tmp_path))
    (tmp_path / "datasets").mkdir()
    tiny_cifar100(tmp_path / "datasets" / "cifar100.npz")
    assert CIFAR100().load(str(tmp_path)).num_classes == 100  # the cache's copy


def test_the_small_scale_backbone_can_be_cifar100_as_documented(tmp_path: Path) -> None:
    """docs/reproductions.md's config: the small-scale preset with its backbone table pointed at CIFAR-100."""
    from unlearnbench.config import resolve_config
    from unlearnbench.plugins import build_plugin_manager
    from unlearnbench.registry import build_registry
    from unlearnbench.reproduction import backbone_line
    from unlearnbench.runner.bench import build_bench

    registry = build_registry(build_plugin_manager())
    tiny_cifar100(tmp_path / "cifar100.npz")
    (tmp_path / "unlearnbench.toml").write_text(
        'preset = "small-scale"\n[backbone]\ndataset = "cifar100"\n'
        'dataset_options = { path = "cifar100.npz" }\nepochs = 31\n', encoding="utf-8",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    y_train = rng.permutation(np.repeat(np.arange(10), 240))
    np.savez(tmp_path / "c.npz", x_train=rng.integers(0, 255, (2400, 32, 32, 3), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 255, (1000, 32, 32, 3), dtype=np.uint8),
             y_test=rng.integers(0, 10, 1000))  # fmt: skip
    cli = {"cache_dir": str(tmp_path / "cache"), "dataset_options": {"path": str(tmp_path / "c.npz")}}
    config, _ = resolve_config(cli, registry.presets, tmp_path / "unlearnbench.toml", cwd=tmp_path)
    bench = build_bench(config, registry)
    assert bench.backbone is not None and bench.backbone.raw.num_classes == 100
    assert bench.backbone.recipe.epochs == 31 and bench.backbone.recipe.lr == 0.1  # the rest from the preset
    assert backbone_line({"backbone": config.backbone}) == "backbone: pre-trained on cifar100 for 31 epochs"
