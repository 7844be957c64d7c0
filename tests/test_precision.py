"""Training precision: ``fp32`` is the plain loop, ``bf16`` autocast where asked (or, under ``auto``, where the
device computes bf16 natively); keys, fingerprints and results say which one produced a number."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unlearnbench import training
from unlearnbench.cli import main
from unlearnbench.config import Config
from unlearnbench.data.pipeline import TensorData
from unlearnbench.journal import item_fingerprint
from unlearnbench.models.small_cnn import SmallCNN
from unlearnbench.results import load
from unlearnbench.training import Recipe, resolve_precision, train

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _data(n: int = 64) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 4, (n,), generator=g)
    return TensorData(x, y, MEAN, STD)


def _trained(precision: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = SmallCNN().build(4, 3, 16)
    train(model, _data(), Recipe(epochs=2, batch_size=16, precision=precision), seed=3)
    return model


def test_fp32_keys_are_those_of_recipes_before_precision_existed() -> None:
    key = Recipe(epochs=3).key()
    assert "precision" not in key
    assert Recipe(epochs=3, precision="bf16").key() == {**key, "precision": "bf16"}


def test_auto_resolves_by_what_the_device_computes_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert resolve_precision("auto", cpu) == "bf16"
    assert resolve_precision("fp32", cpu) == "fp32"  # explicit choices are kept on any hardware
    assert resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        resolve_precision("fp16", cpu)


def test_bf16_training_is_deterministic_differs_from_fp32_and_leaves_a_plain_model() -> None:
    a, b, plain = _trained("bf16"), _trained("bf16"), _trained("fp32")
    for (name, pa), pb, pp in zip(a.state_dict().items(), b.state_dict().values(), plain.state_dict().values()):
        assert torch.equal(pa, pb), name  # same seed, same bits
        assert pa.dtype == pp.dtype  # weights and buffers stay in their own dtypes (float32 weights)
        assert pa.is_contiguous(), name  # the channels-last training layout is undone
    weights = [name for name, p in a.named_parameters() if p.dim() == 4]
    assert weights and any(not torch.equal(a.state_dict()[n], plain.state_dict()[n]) for n in weights)
    assert not a.training  # evaluation mode afterwards, as with fp32


def test_a_bf16_model_and_its_reloaded_weights_give_the_same_outputs() -> None:
    """What makes a resumed run (weights from the cache) equal an uninterrupted one (the model in memory)."""
    model = _trained("bf16")
    fresh = SmallCNN().build(4, 3, 16)
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    data = _data(32)
    x = data.normalise(data.x)
    with torch.inference_mode():
        assert torch.equal(model(x), fresh(x))


def test_autocast_and_layout_apply_only_under_bf16() -> None:
    cpu = torch.device("cpu")
    x = torch.zeros(2, 3, 4, 4)
    assert training.prepare_batch(x, cpu, "fp32") is x
    assert training.prepare_batch(x, cpu, "bf16").is_contiguous(memory_format=torch.channels_last)
    with training.training_autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu")
    with training.training_autocast(cpu, "fp32"):
        assert not torch.is_autocast_enabled("cpu")


def test_fingerprint_and_config_hash() -> None:
    from unlearnbench.journal import fingerprint_of

    class Entry:
        name = "finetune"
        cls = Recipe

    config = Config()
    assert config.config_hash() == Config(precision="auto").config_hash()  # the default keeps old hashes
    assert Config(precision="bf16").config_hash() != config.config_hash()
    plain = fingerprint_of(config, Entry, {}, [])
    assert plain == fingerprint_of(config, Entry, {}, [], "fp32")
    assert plain == item_fingerprint(config.config_hash(), "finetune", _source(Recipe), {},
                                     list(range(config.seeds)), config.oracles, [])  # fmt: skip
    assert fingerprint_of(config, Entry, {}, [], "bf16") != plain


def _source(cls: type) -> str:
    from unlearnbench.runner import source_hash

    return source_hash(cls)


RUN = ["run", "-q", "--dataset", "fake", "--seeds", "1", "--oracles", "1", "--epochs", "1",
       "--method", "finetune[epochs=1,lr=0.01]", "--metric", "accuracy"]  # fmt: skip


def test_the_run_records_its_precision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*RUN, "--precision", "bf16", "--cache-dir", "c", "--output-dir", "bf"]) == 0
    assert main([*RUN, "--precision", "fp32", "--cache-dir", "c", "--output-dir", "fp"]) == 0
    capsys.readouterr()
    bf, fp = load(tmp_path / "bf" / "results.json"), load(tmp_path / "fp" / "results.json")
    assert bf.device.endswith("; bf16 training") and "training" not in fp.device
    assert bf.config["precision"] == "bf16" and fp.config["precision"] == "fp32"
    assert bf.dataset["recipe"]["precision"] == "bf16" and "precision" not in fp.dataset["recipe"]
    # Separate checkpoints: the fp32 run trained its own original instead of reusing the bf16 one.
    originals = list((tmp_path / "c" / "original").rglob("*.pt"))
    assert len(originals) == 2


def test_an_unknown_precision_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*RUN, "--precision", "fp16"]) == 4
    err = capsys.readouterr().err
    assert "Invalid value for '--precision': 'fp16' is not one of 'auto', 'fp32', 'bf16'" in err
    (tmp_path / "bench.toml").write_text('precision = "fp16"\n')
    assert main([*RUN, "--config", "bench.toml"]) == 4
    assert "precision must be auto, fp32 or bf16, got 'fp16'" in capsys.readouterr().err


def test_the_fake_preset_pins_fp32_and_the_default_follows_the_hardware(tmp_path: Path) -> None:
    from unlearnbench.config import BUILTIN_PRESETS, resolve_config

    def precision(options: dict[str, str]) -> str:
        return resolve_config(options, BUILTIN_PRESETS, cwd=tmp_path)[0].precision

    assert precision({"preset": "fake"}) == "fp32"  # tests: the same numbers on every CPU
    assert precision({}) == "auto"
    assert precision({"preset": "fake", "precision": "bf16"}) == "bf16"  # the command line wins
