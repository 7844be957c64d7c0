"""Generated input for the config loader and the command line: a one-line usage error or success, never a crash."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unlearnbench.cli import main
from unlearnbench.config import CONFIG_FIELDS, Config, check_config, read_config_file, validate_options
from unlearnbench.errors import ExitCode, UsageError

TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
SCALARS = st.one_of(
    st.integers(-5, 50), st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans(), TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                                                                         inner, max_size=3)),
    max_leaves=6,
)  # fmt: skip
KEYS = st.one_of(st.sampled_from(sorted(CONFIG_FIELDS)), st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=5)


def to_toml(options: dict[str, Any]) -> str:
    """A TOML document of ``options`` (inline tables and arrays; strings as JSON-escaped basic strings)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"

    return "".join(f"{k} = {value(v)}\n" for k, v in options.items())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=DOCUMENTS)
def test_generated_toml_documents_load_or_raise_usage_error(tmp_path: Path, options: dict[str, Any]) -> None:
    path = tmp_path / "unlearnbench.toml"
    path.write_text(to_toml(options))
    try:
        loaded = read_config_file(path)
        config = Config(**loaded)
        check_config(config)
    except UsageError as exc:
        assert "\n" not in str(exc)
        if any(key not in CONFIG_FIELDS for key in options):
            assert str(path) in str(exc)  # an unknown key names the file
        return
    # A valid document round-trips: the stored form of its config validates back to the same config.
    again = Config(**validate_options(config.to_dict(), "stored"))
    assert again == config
    assert again.config_hash() == config.config_hash()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_arbitrary_text_as_toml_is_a_usage_error_or_loads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "unlearnbench.toml"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        read_config_file(path)
    except UsageError as exc:
        assert str(path) in str(exc)


@settings(max_examples=40, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            "seeds": st.integers(1, 20), "oracles": st.integers(1, 20), "forget": st.sampled_from(["0.1", "class:2"]),
            "timeout": st.floats(0.01, 1e6), "time_budget": st.floats(0.01, 1e6), "epochs": st.integers(0, 5),
            "methods": st.lists(TEXT, max_size=2).map(tuple), "method_options": st.just({"finetune": {"grid": []}}),
        },
    )
)  # fmt: skip
def test_valid_configs_round_trip_through_results_json(values: dict[str, Any]) -> None:
    config = dataclasses.replace(Config(), **values)
    stored = json.loads(json.dumps(config.to_dict()))
    assert Config(**validate_options(stored, "results.json")) == config


OPTION_VALUES = st.one_of(TEXT, st.integers(-3, 30).map(str), st.floats(allow_nan=True).map(str))
RUN_ARGS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["--dataset", "--model", "--forget", "--seeds", "--oracles", "--epochs",
                                   "--method", "--metric", "-k", "--preset", "--device", "--timeout",
                                   "--time-budget", "--maxfail", "--dataset-option", "--bogus"]), OPTION_VALUES),
        st.tuples(st.sampled_from(["-x", "-v", "-q", "--no-cache", "-h"])),
        st.tuples(TEXT),
    ),
    max_size=4,
).map(lambda groups: [arg for group in groups for arg in group])  # fmt: skip

#: What ``run --collect-only`` and ``list`` may exit with (docs/architecture.md's table).
ALLOWED = {int(ExitCode.OK), int(ExitCode.USAGE_ERROR), int(ExitCode.NO_ITEMS_COLLECTED)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=RUN_ARGS)
def test_generated_collect_only_command_lines_never_crash(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--collect-only", *args])
    captured = capsys.readouterr()
    assert code in ALLOWED, (args, captured.out, captured.err)
    assert "Traceback" not in captured.out + captured.err and "INTERNALERROR" not in captured.err
    if code == ExitCode.USAGE_ERROR:
        assert len(captured.err.strip().splitlines()) == 1, captured.err


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(st.one_of(TEXT, st.sampled_from(["methods", "metrics", "presets", "-p", "no:x", "--plugins-dir"])),
                     max_size=3))  # fmt: skip
def test_generated_list_command_lines_never_crash(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["list", *args])
    captured = capsys.readouterr()
    assert code in ALLOWED, (args, captured.out, captured.err)
    assert "Traceback" not in captured.out + captured.err


def test_the_generated_toml_is_what_tomllib_reads() -> None:
    import tomllib

    options = {"seeds": 3, "forget": "0.2", "methods": ["a", "b"], "method_options": {"x": {"grid": [1.5]}},
               "weird": "q\"uote\\"}  # fmt: skip
    assert tomllib.loads(to_toml(options)) == options
    assert not math.isnan(tomllib.loads(to_toml({"t": 0.5}))["t"])
