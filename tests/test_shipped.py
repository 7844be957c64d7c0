"""Shipped backbone weights: ``unlearnbench backbone`` writes them, a run whose backbone they stand for loads
them (hash checked, ``weights_only``) instead of training, and the package's own file is what its index says."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
import torch

import unlearnbench.runner.bench as bench_module
import unlearnbench.shipped as shipped
from unlearnbench.cli import main
from unlearnbench.config import BUILTIN_PRESETS, Config
from unlearnbench.errors import UsageError
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import build_registry
from unlearnbench.reproduction import backbone_line
from unlearnbench.results import load
from unlearnbench.runner import build_bench

REGISTRY = build_registry(build_plugin_manager([], None))
BACKBONE = {"dataset": "fake", "epochs": 1, "lr": 0.05, "l2_to_start": 5e-4, "schedule": "constant"}

PRESET_PLUGIN = """
from unlearnbench import hookimpl


@hookimpl
def unlearnbench_add_presets():
    return {"tiny-backbone": {
        "dataset": "fake", "model": "small_cnn", "epochs": 1, "seeds": 1, "oracles": 1, "precision": "fp32",
        "device": "cpu", "methods": ["finetune"], "metrics": ["accuracy"],
        "backbone": {"dataset": "fake", "epochs": 1, "lr": 0.05, "l2_to_start": 5e-4, "schedule": "constant"},
    }}
"""


def config(tmp_path: Path, **changes: object) -> Config:
    base = {"dataset": "fake", "model": "small_cnn", "epochs": 1, "cache_dir": str(tmp_path / "cache"),
            "device": "cpu", "precision": "fp32", "backbone": BACKBONE}  # fmt: skip
    return Config(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights folder written by ``unlearnbench backbone`` for the tiny preset, made the package's."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "tiny_preset.py").write_text(PRESET_PLUGIN)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "weights"
    args = ["backbone", "tiny-backbone", "--out", str(folder), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    monkeypatch.setattr(shipped, "shipped_dir", lambda: folder)
    return folder


def _no_training(*_: object, **__: object) -> None:
    raise AssertionError("a shipped backbone must not be trained")


def test_the_command_writes_the_file_and_an_entry_that_describes_it(weights: Path) -> None:
    (entry,) = shipped.read_index(weights)
    data = (weights / entry.file).read_bytes()
    assert entry.name == "tiny-backbone-backbone" and entry.file == "tiny-backbone-backbone.pt"
    assert entry.sha256 == hashlib.sha256(data).hexdigest() and entry.bytes == len(data)
    assert entry.trained["epochs"] == 1 and entry.trained["precision"] == "fp32"
    assert entry.made["command"].startswith("unlearnbench backbone tiny-backbone --out ")
    assert entry.made["seconds"] > 0 and torch.__version__.startswith(entry.made["versions"]["torch"])
    # The file holds exactly the backbone the cache holds for that training.
    trained = build_bench(config(weights.parent, backbone={**BACKBONE, "shipped": False}), REGISTRY)
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert state.keys() == trained.backbone_state().keys()
    assert all(torch.equal(state[k], v) for k, v in trained.backbone_state().items())


def test_a_run_loads_the_shipped_backbone_instead_of_training_it(
    weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_module, "train", _no_training)
    (tmp_path := weights.parent / "fresh").mkdir()
    bench = build_bench(config(tmp_path), REGISTRY)  # an empty cache
    (entry,) = shipped.read_index(weights)
    assert bench.backbone_provenance() == {**entry.describe(), "key": bench.backbone_key()}
    on_disk = torch.load(weights / entry.file, weights_only=True)
    assert all(torch.equal(on_disk[k], v) for k, v in bench.backbone_state().items())
    # Its key names the file's hash, so originals from shipped and from locally trained weights never mix.
    local = build_bench(config(tmp_path, backbone={**BACKBONE, "shipped": False}), REGISTRY)
    assert local.backbone_key() != bench.backbone_key()
    assert local.model_key("original", 0) != bench.model_key("original", 0)


def test_the_match_ignores_the_runs_precision_but_not_the_training(weights: Path) -> None:
    bf16 = build_bench(config(weights.parent, precision="bf16"), REGISTRY)
    assert bf16.backbone_provenance()["source"] == "shipped"  # type: ignore[index]
    longer = build_bench(config(weights.parent, backbone={**BACKBONE, "epochs": 2}), REGISTRY)
    assert longer.backbone_provenance() == {"source": "trained", "key": longer.backbone_key()}


def test_a_tampered_file_is_one_line_and_trains_nothing(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (entry,) = shipped.read_index(weights)
    path = weights / entry.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    monkeypatch.setattr(bench_module, "train", _no_training)
    bench = build_bench(config(weights.parent), REGISTRY)
    with pytest.raises(UsageError, match=r"has sha256 \w+…, the index says \w+…; reinstall the package"):
        bench.backbone_state()


def test_an_index_pointing_at_a_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    class Loud:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo unpickled > " + str(tmp_path / "ran"),))

    buffer = io.BytesIO()
    torch.save({"w": Loud()}, buffer)
    data = buffer.getvalue()
    entry = shipped.ShippedWeights("evil", "evil.pt", hashlib.sha256(data).hexdigest(), len(data), "k")
    shipped.add_to_index(entry, data, tmp_path)
    with pytest.raises(UsageError, match="is not a weights file"):
        shipped.load_weights(entry, tmp_path)
    assert not (tmp_path / "ran").exists()


def test_a_bad_shipped_option_or_index_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="backbone: shipped must be true or false, not 'yes'"):
        build_bench(config(tmp_path, backbone={**BACKBONE, "shipped": "yes"}), REGISTRY)
    (tmp_path / shipped.INDEX_NAME).write_text("{not json")
    with pytest.raises(UsageError, match="unreadable weights index"):
        shipped.read_index(tmp_path)
    (tmp_path / shipped.INDEX_NAME).write_text(json.dumps({"weights": [{"name": "x"}]}))
    with pytest.raises(UsageError, match="malformed weights index"):
        shipped.read_index(tmp_path)


def test_the_verdict_line_says_where_the_weights_came_from(weights: Path) -> None:
    (entry,) = shipped.read_index(weights)
    table = {"backbone": {"dataset": "cifar10", "dataset_options": {"classes": "5-9"}, "epochs": 24}}
    line = backbone_line(table, {"backbone": {**entry.describe(), "key": "k"}})
    assert line == (f"backbone: pre-trained on cifar10 classes 5-9 for 24 epochs; shipped weights {entry.file} "
                    f"(sha256 {entry.sha256[:12]}…)")  # fmt: skip
    assert backbone_line(table, {"backbone": {"source": "trained"}}).endswith("; weights trained by this run")  # type: ignore[union-attr]
    assert backbone_line(table, {}) == "backbone: pre-trained on cifar10 classes 5-9 for 24 epochs"


def test_a_run_records_the_shipped_backbone_in_its_results(weights: Path) -> None:
    out = weights.parent / "run"
    args = ["run", "--preset", "tiny-backbone", "-q", "--output-dir", str(out), "--cache-dir",
            str(weights.parent / "run-cache")]  # fmt: skip
    assert main(args) == 0
    recorded = load(out / "results.json").dataset["backbone"]
    assert recorded["source"] == "shipped" and recorded["sha256"] == shipped.read_index(weights)[0].sha256


# --------------------------------------------------------------------------- the package's own weights


def test_the_packages_weights_are_what_their_index_says() -> None:
    entries = shipped.read_index()
    assert entries, "the package ships the small-scale backbone"
    for entry in entries:
        state = shipped.load_weights(entry)  # checks the hash, weights_only
        assert (shipped.shipped_dir() / entry.file).stat().st_size == entry.bytes
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        assert entry.made["command"].startswith("unlearnbench backbone ")


def test_the_small_scale_backbone_fits_the_presets_model_and_matches_its_training() -> None:
    cifar10 = Path(os.environ.get("UNLEARNBENCH_CIFAR10", Path(__file__).parents[2] / "shared/data/cifar10.npz"))
    (entry,) = [e for e in shipped.read_index() if e.name == "small-scale-backbone"]
    model = REGISTRY.models["preact_resnet18"].cls().build(5, 3, 32)
    model.load_state_dict(shipped.load_weights(entry))  # every key and shape of the preset's architecture
    if not cifar10.is_file():
        pytest.skip(f"the match key needs the real CIFAR-10 ({cifar10} is absent)")
    preset = BUILTIN_PRESETS["small-scale"]
    cfg = Config(dataset="cifar5", model="preact_resnet18", device="cpu", dataset_options={"path": str(cifar10)},
                 recipe=dict(preset["recipe"]), backbone=dict(preset["backbone"]), no_cache=True)  # fmt: skip
    bench = build_bench(dataclasses.replace(cfg, backbone={**cfg.backbone, "shipped": False}), REGISTRY)
    assert shipped.backbone_match_key(bench.backbone_parts()) == entry.match_key
