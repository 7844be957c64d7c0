"""The command line end to end on tiny data: exit codes, outputs, the cache, local plugins, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from unlearnbench.cli import main
from unlearnbench.results import load

FAKE = ["run", "--preset", "fake", "-q"]

RAISING_PLUGIN = """
from unlearnbench import hookimpl


class Explodes:
    name = "explodes"
    description = "Raises inside unlearn (test plugin)"

    def unlearn(self, model, ctx):
        raise RuntimeError("kaboom")


class Identity:
    name = "identity_plugin"
    description = "Returns the model unchanged (test plugin)"

    def unlearn(self, model, ctx):
        return model


@hookimpl
def unlearnbench_add_methods():
    return [Explodes, Identity]
"""


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fake_run_writes_results_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*FAKE, "--method", "finetune[epochs=1,lr=0.01]", "--output-dir", "out"], capsys)
    assert code == 0, out + err
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ 3 passed in (\d+m )?\d+\.\ds =+", last), last
    results = load(tmp_path / "out" / "results.json")
    assert [i.item_id for i in results.items] == ["original", "retrain", "finetune[epochs=1,lr=0.01]"]
    assert results.seeds == (0, 1, 2) and results.oracle_seeds == (0, 1, 2, 3, 4, 5)
    assert results.versions["torch"] and results.git_commit and results.device.startswith("cpu")
    assert results.config["dataset"] == "fake"
    for item in results.items:
        assert item.outcome == "passed"
        assert {"accuracy.RA", "accuracy.TA", "simple_mia", "runtime.seconds"} <= set(item.summary)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "finetune[epochs=1,lr=0.01]" in html


def test_second_identical_run_trains_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [*FAKE, "--method", "finetune[epochs=1,lr=0.001]", "--cache-dir", str(tmp_path / "c")]
    assert run_cli([*args, "--output-dir", "first"], capsys)[0] == 0
    import unlearnbench.runner.bench as runner
    import unlearnbench.runner.replicate as replicate

    def no_training(*_: object, **__: object) -> None:
        raise AssertionError("a warm run must not train")

    monkeypatch.setattr(runner, "train", no_training)
    monkeypatch.setattr(replicate, "unlearn_once", no_training)
    from unlearnbench.metrics.simple_mia import SimpleMIA

    monkeypatch.setattr(SimpleMIA, "compute", no_training)  # metric values come from the cache too
    code, out, err = run_cli([*args, "--output-dir", "second"], capsys)
    assert code == 0, out + err
    first, second = load(tmp_path / "first/results.json"), load(tmp_path / "second/results.json")
    assert all(s.cached for item in second.items for s in item.seeds)
    for a, b in zip(first.items, second.items):
        assert a.summary["accuracy.RA"] == b.summary["accuracy.RA"]
        assert a.summary["simple_mia"] == b.summary["simple_mia"]


def test_adding_a_metric_never_retrains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [*FAKE, "--method", "finetune[epochs=1,lr=0.002]", "--cache-dir", str(tmp_path / "c")]
    assert run_cli([*args, "--metric", "accuracy", "--output-dir", "a"], capsys)[0] == 0
    import unlearnbench.runner.bench as runner
    import unlearnbench.runner.replicate as replicate

    def no_training(*_: object, **__: object) -> None:
        raise AssertionError("a cached model must not be retrained or re-evaluated")

    monkeypatch.setattr(runner, "train", no_training)
    monkeypatch.setattr(replicate, "unlearn_once", no_training)
    monkeypatch.setattr(runner.Bench, "outputs_of", no_training)
    code, out, err = run_cli([*args, "--metric", "accuracy", "--metric", "js_to_oracle", "--output-dir", "b"], capsys)
    assert code == 0, out + err
    assert "js_to_oracle.js_forget" in load(tmp_path / "b" / "results.json").item("finetune[epochs=1,lr=0.002]").summary


def test_local_plugin_becomes_a_row_and_errors_are_isolated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "mine.py").write_text(RAISING_PLUGIN)
    code, out, _ = run_cli(["list", "methods"], capsys)
    assert code == 0 and "identity_plugin" in out and "explodes" in out
    code, out, err = run_cli([*FAKE, "--method", "explodes", "--method", "identity_plugin", "--output-dir", "o"],
                             capsys)  # fmt: skip
    assert code == 1, out + err
    assert re.search(r"=+ 3 passed, 1 failed in", out.strip().splitlines()[-1])
    results = load(tmp_path / "o" / "results.json")
    failed = results.item("explodes")
    assert failed.outcome == "failed" and "kaboom" in failed.errors["unlearn"]
    assert results.item("identity_plugin").outcome == "passed"


CTRL_C_PLUGIN = """
from unlearnbench import hookimpl


class CtrlCInExec:
    name = "ctrl_c_in_exec"
    description = "A Ctrl-C that arrives while source text is exec'd (test plugin)"

    def unlearn(self, model, ctx):
        exec("raise KeyboardInterrupt")


@hookimpl
def unlearnbench_add_methods():
    return [CtrlCInExec]
"""


def test_ctrl_c_inside_exec_exits_with_code_2_under_python_m(tmp_path: Path) -> None:
    # CPython ends a `python -m` process by SIGINT (-2) once a KeyboardInterrupt has left an exec of source
    # text, even when it was caught: the run must still end with its own exit code, partial results written.
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "ctrl_c.py").write_text(CTRL_C_PLUGIN)
    repo = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [*FAKE, "--seeds", "1", "--oracles", "1", "--epochs", "1", "--metric", "accuracy",
            "--method", "ctrl_c_in_exec", "--output-dir", "o", "--no-cache"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "unlearnbench", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    results = load(tmp_path / "o" / "results.json")
    assert results.interrupted and [i.item_id for i in results.items] == ["original", "retrain"]


def test_exitfirst_stops_after_first_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "mine.py").write_text(RAISING_PLUGIN)
    code, _, _ = run_cli([*FAKE, "--method", "explodes", "--method", "identity_plugin", "-x", "--output-dir", "o"],
                         capsys)  # fmt: skip
    assert code == 1
    ids = [i.item_id for i in load(tmp_path / "o" / "results.json").items]
    assert "explodes" in ids and "identity_plugin" not in ids


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--method", "finetun"], "unknown method 'finetun'. Did you mean: finetune"),
        (["run", "--dataset", "digitz"], "unknown dataset 'digitz'. Did you mean: digits"),
        (["run", "--model", "resnet19"], "unknown model 'resnet19'. Did you mean: resnet18"),
        (["run", "--metric", "acuracy"], "unknown metric 'acuracy'. Did you mean: accuracy"),
        (["run", "--preset", "fak"], "unknown preset 'fak'. Did you mean: fake"),
        (["run", "--seeds", "0"], "--seeds must be at least 1"),
        (["run", "--forget", "1.5", "--preset", "fake"], "forget"),
        (["run", "--device", "tpu"], "Invalid value for '--device'"),
        (["run", "-p", "no_such_module_zz"], "could not import -p plugin no_such_module_zz"),
        (["report", "missing.json"], "cannot read missing.json"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_exit_4(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(args, capsys)
    assert code == 4, out + err
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_output_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("x")
    code, _, err = run_cli([*FAKE, "--output-dir", "taken"], capsys)
    assert code == 4 and "is not a directory" in err


def test_collect_only_lists_items(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["run", "--collect-only", "--method", "finetune"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[:2] == ["original", "retrain"]
    assert "finetune[epochs=25,lr=0.1]" in lines
    assert lines[-1] == "7 items collected"


def test_keyword_that_selects_nothing_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["run", "--preset", "fake", "-k", "nothing_matches_this"], capsys)
    assert code == 5 and "no methods collected" in out


def test_report_rerenders_from_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([*FAKE, "--method", "finetune[epochs=1,lr=0.01]", "--output-dir", "r"], capsys)[0] == 0
    (tmp_path / "r" / "report.html").unlink()
    code, out, _ = run_cli(["report", "r/results.json"], capsys)
    assert code == 0 and (tmp_path / "r" / "report.html").is_file()
    assert "finetune[epochs=1,lr=0.01]" in out


def test_report_refuses_other_versions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"schema_version": 99}))
    code, _, err = run_cli(["report", "bad.json"], capsys)
    assert code == 4 and "schema version 99" in err


def test_version_and_module_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and "unlearnbench" in out


@pytest.mark.slow
def test_digits_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        [
            "run",
            "--seeds",
            "2",
            "--oracles",
            "2",
            "--method",
            "finetune[epochs=2,lr=0.01]",
            "--output-dir",
            "d",
        ],
        capsys,
    )
    assert code == 0, out + err
    results = load(tmp_path / "d" / "results.json")
    original, retrain = results.item("original"), results.item("retrain")
    assert results.dataset["name"] == "digits"
    assert original.summary["accuracy.TA"].mean > 0.9
    assert original.summary["accuracy.FA"].mean > retrain.summary["accuracy.FA"].mean


def test_cs354_presets_collect_the_reports_grid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["run", "--preset", "cs354", "--collect-only"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and lines[-1] == "16 items collected"
    assert {"finetune[epochs=25,lr=0.1]", "adversarial[hidden_size=16,lr=4e-05]"} <= set(lines)
    code, out, _ = run_cli(["run", "--preset", "cs354-mini", "--collect-only", "-k", "finetune"], capsys)
    assert code == 0 and "finetune[epochs=3,lr=0.1]" in out and "adversarial" not in out


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[method_options.finetun]\ngrid = [{epochs = 1}]\n', "unknown method 'finetun'. Did you mean: finetune"),
        ("[method_options.finetune]\ngird = []\n", "method_options.finetune: unknown key 'gird'"),
    ],
)
def test_bad_method_options(tmp_path: Path, toml: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "unlearnbench.toml").write_text(toml)
    code, _, err = run_cli(["run", "--collect-only"], capsys)
    assert code == 4 and message in err


def test_config_defaults_and_grid_reach_the_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "unlearnbench.toml").write_text(
        '[method_options.finetune]\ngrid = [{epochs = 2}]\ndefaults = {lr = 0.5}\n'
    )
    code, out, _ = run_cli(["run", "--collect-only", "--method", "finetune"], capsys)
    assert code == 0 and "finetune[epochs=2]" in out.splitlines()
