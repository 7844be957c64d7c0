"""Peak memory per phase, its place in results.json, the new run options and the device-specific training path."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path

import pytest
import torch

from unlearnbench.resources import PeakMemory, item_phase
from unlearnbench.results import dumps, from_dict, load
from unlearnbench.testing import run_bench
from unlearnbench.training import prepare_batch, training_autocast


def test_each_phase_gets_its_own_peak_and_nesting_keeps_the_outer_one() -> None:
    tracker = PeakMemory("cpu")
    assert tracker.method in ("vmhwm", "getrusage")
    with tracker.phase("small"):
        pass
    with tracker.phase("outer"):
        big = bytearray(64 * 2**20)
        big[::4096] = b"\x01" * len(big[::4096])  # touch every page, so it is resident
        del big
        with tracker.phase("inner"):
            pass
    peaks = tracker.to_dict()["phases"]
    assert set(peaks) == {"small", "outer", "inner"}
    assert all(p["rss_bytes"] > 0 for p in peaks.values())
    # The outer phase saw the 64 MiB allocation although the inner one reset the counter afterwards.
    assert peaks["outer"]["rss_bytes"] >= peaks["small"]["rss_bytes"]
    if tracker.method == "vmhwm":
        assert peaks["outer"]["rss_bytes"] - peaks["inner"]["rss_bytes"] > 32 * 2**20
    with pytest.raises(RuntimeError):
        tracker.stop()


def test_results_record_peak_memory_per_phase_and_old_files_still_load(tmp_path: Path, warm_cache: Path) -> None:
    item = "finetune[epochs=1,lr=0.1]"
    results = run_bench(methods=[item], metrics=["accuracy"], cache_dir=warm_cache, output_dir=tmp_path / "out")
    resources = results.resources
    assert resources["unit"] == "bytes" and resources["device"] == "cpu"
    phases = resources["phases"]
    for name in ("data", "original", "oracles", item_phase(item), item_phase(item, "unlearn"),
                 item_phase(item, "metrics")):  # fmt: skip
        assert phases[name]["rss_bytes"] > 0, name
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "peak memory" in html and "MiB" in html
    # A results.json written before peak memory was recorded still loads, with an empty block.
    data = json.loads(dumps(results))
    del data["resources"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    assert load(old).resources == {}
    assert from_dict(json.loads(dumps(results))).resources == results.resources


def test_fp32_training_path_has_no_autocast_and_keeps_the_layout() -> None:
    with training_autocast(torch.device("cpu"), "fp32"):
        assert not torch.is_autocast_enabled("cpu")
        assert not torch.is_autocast_enabled("cuda")
    x = torch.randn(2, 3, 4, 4)
    assert prepare_batch(x, torch.device("cpu"), "fp32") is x
    assert prepare_batch(x, torch.device("cpu")) is x  # fp32 is the default
    with warnings.catch_warnings():  # without a GPU torch warns that it disables CUDA autocast
        warnings.simplefilter("ignore", UserWarning)
        cuda_context = training_autocast(torch.device("cuda"), "bf16")
        assert isinstance(training_autocast(torch.device("cuda"), "fp32"), contextlib.nullcontext)
    assert isinstance(cuda_context, torch.autocast) and cuda_context.fast_dtype == torch.bfloat16
    assert isinstance(training_autocast(torch.device("cpu")), contextlib.nullcontext)


def test_new_options_keep_old_config_hashes_and_are_validated() -> None:
    from unlearnbench.config import Config, resolve_config
    from unlearnbench.errors import UsageError

    default = Config()
    assert "train_batching" not in default.experiment_dict() and "compile" not in default.experiment_dict()
    assert Config(train_batching="vmap").config_hash() != default.config_hash()
    assert Config(compile=True).config_hash() != default.config_hash()
    config, _ = resolve_config({"train_batching": "sequential", "compile": True}, {}, cwd=Path.cwd())
    assert config.train_batching == "sequential" and config.compile is True
    with pytest.raises(UsageError, match="train_batching"):
        resolve_config({"train_batching": "parallel"}, {}, cwd=Path.cwd())
    with pytest.raises(UsageError, match="compile"):
        resolve_config({"compile": "yes"}, {}, cwd=Path.cwd())


def test_cli_rejects_an_unknown_batching_mode(capsys: pytest.CaptureFixture[str]) -> None:
    from unlearnbench.cli import main

    assert main(["run", "--preset", "fake", "--train-batching", "parallel", "--collect-only"]) == 4
    assert "parallel" in capsys.readouterr().err


def test_toml_keys_reach_the_bench(tmp_path: Path) -> None:
    from unlearnbench.config import resolve_config

    (tmp_path / "unlearnbench.toml").write_text('train_batching = "vmap"\ncompile = false\n', encoding="utf-8")
    config, path = resolve_config({}, {}, cwd=tmp_path)
    assert path == tmp_path / "unlearnbench.toml"
    assert config.train_batching == "vmap" and config.compile is False


def _tiny_training() -> tuple[torch.nn.Module, object]:
    from unlearnbench.data.pipeline import TensorData

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3),
    )  # fmt: skip
    g = torch.Generator().manual_seed(1)
    data = TensorData(torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8, generator=g),
                      torch.randint(0, 3, (32,), generator=g), (0.5,) * 3, (0.25,) * 3)  # fmt: skip
    return model, data


def test_compile_option_trains_the_same_model_through_torch_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``--compile`` path, with dynamo's eager backend: the traced steps must train the same weights."""
    from unlearnbench import training

    real_compile = torch.compile
    calls: list[object] = []

    def eager_compile(model: torch.nn.Module) -> object:
        calls.append(model)
        return real_compile(model, backend="eager")

    monkeypatch.setattr(training.torch, "compile", eager_compile)
    plain, data = _tiny_training()
    traced, _ = _tiny_training()
    recipe = training.Recipe(epochs=2, batch_size=16)
    training.train(plain, data, recipe, seed=3)  # type: ignore[arg-type]
    training.train(traced, data, recipe, seed=3, compile_model=True)  # type: ignore[arg-type]
    assert calls == [traced]
    for name, tensor in plain.state_dict().items():
        assert torch.allclose(tensor.float(), traced.state_dict()[name].float(), atol=1e-6), name


@pytest.mark.skipif(
    os.environ.get("UNLEARNBENCH_TEST_INDUCTOR") != "1",
    reason="torch.compile with inductor needs minutes of C++ compilation on a small CPU (measured 227 s for a "
    "4-channel net on 2 busy cores); set UNLEARNBENCH_TEST_INDUCTOR=1 to run it",
)
def test_compile_option_with_inductor() -> None:
    from unlearnbench import training

    plain, data = _tiny_training()
    compiled, _ = _tiny_training()
    recipe = training.Recipe(epochs=1, batch_size=16)
    training.train(plain, data, recipe, seed=3)  # type: ignore[arg-type]
    stats = training.train(compiled, data, recipe, seed=3, compile_model=True)  # type: ignore[arg-type]
    assert stats.steps == 2
    for name, tensor in plain.state_dict().items():
        assert torch.allclose(tensor.float(), compiled.state_dict()[name].float(), atol=1e-4), name
