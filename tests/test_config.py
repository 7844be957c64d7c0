"""Config resolution: defaults < preset < file < command line, and every bad option named."""

from __future__ import annotations

from pathlib import Path

import pytest

from unlearnbench.config import BUILTIN_PRESETS, Config, resolve_config
from unlearnbench.errors import UsageError


def test_defaults_without_any_file() -> None:
    config, path = resolve_config({}, BUILTIN_PRESETS)
    assert path is None
    assert config == Config()


def test_precedence_preset_file_cli(tmp_path: Path) -> None:
    (tmp_path / "unlearnbench.toml").write_text(
        'preset = "fake"\nseeds = 5\n[dataset_options]\nn_train = 64\n'
    )
    config, path = resolve_config({"oracles": 7, "dataset_options": {"seed": 3}}, BUILTIN_PRESETS)
    assert path == tmp_path / "unlearnbench.toml"
    assert config.dataset == "fake"  # from the preset
    assert config.seeds == 5  # the file overrides the preset's 2
    assert config.oracles == 7  # the command line overrides the preset's 2
    assert config.dataset_options == {"n_train": 64, "seed": 3}  # tables merge key by key


def test_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.unlearnbench]\nseeds = 2\n')
    config, path = resolve_config({}, BUILTIN_PRESETS)
    assert path is not None and path.name == "pyproject.toml"
    assert config.seeds == 2


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "unlearnbench.toml").write_text("seedz = 3\n")
    with pytest.raises(UsageError, match=r"unlearnbench.toml: unknown option 'seedz'. Did you mean: seeds"):
        resolve_config({}, BUILTIN_PRESETS)


def test_wrong_type_names_key(tmp_path: Path) -> None:
    (tmp_path / "unlearnbench.toml").write_text('seeds = "three"\n')
    with pytest.raises(UsageError, match="option 'seeds' must be an integer"):
        resolve_config({}, BUILTIN_PRESETS)


def test_malformed_toml(tmp_path: Path) -> None:
    (tmp_path / "unlearnbench.toml").write_text("seeds = = 3\n")
    with pytest.raises(UsageError, match="malformed TOML"):
        resolve_config({}, BUILTIN_PRESETS)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"seeds": 0}, "--seeds must be at least 1"), ({"oracles": -1}, "--oracles must be at least 1"),
     ({"preset": "cs35"}, "unknown preset 'cs35'"), ({"device": "tpu"}, "--device must be")],
)  # fmt: skip
def test_bad_cli_values(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_config(options, BUILTIN_PRESETS)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        resolve_config({}, BUILTIN_PRESETS, config_path=tmp_path / "nope.toml")


def test_config_hash_ignores_output_options() -> None:
    a = Config(output_dir="a", verbosity=2)
    b = Config(output_dir="b")
    assert a.config_hash() == b.config_hash()
    assert Config(seeds=4).config_hash() != b.config_hash()
