"""``run --resume RUN_DIR`` and re-running into an unfinished run dir: what is kept, what is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from unlearnbench.cli import main
from unlearnbench.config import Config
from unlearnbench.journal import JOURNAL_NAME, item_from_dict, item_to_dict
from unlearnbench.results import RunResults, load, save

SMALL = ["run", "--preset", "fake", "-q", "--seeds", "2", "--oracles", "1", "--epochs", "1", "--dataset-option",
         "n_train=96", "--metric", "accuracy", "--method", "finetune[epochs=1,lr=0.05]"]  # fmt: skip


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Item ids that :func:`run_item` really runs (kept items never reach it)."""
    import unlearnbench.session as runner  # the session calls run_item by this module's name

    seen: list[str] = []
    real = runner.run_item

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[4])
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_item", counting)
    return seen


def _mark_killed(run_dir: Path) -> None:
    """What a kill -9 leaves: results.json of an unfinished run, a journal with a torn last line."""
    data = json.loads((run_dir / "results.json").read_text())
    data["exit_status"] = -1
    (run_dir / "results.json").write_text(json.dumps(data))
    with (run_dir / JOURNAL_NAME).open("a") as fh:
        fh.write('{"fingerprint": "abc", "elapsed": 1.0, "item": {"item_id": "torn')


def _numbers(path: Path) -> list[Any]:
    return [(i.item_id, [s.values for s in i.seeds], {k: v.mean for k, v in i.summary.items()})
            for i in load(path).items]  # fmt: skip


def test_rerun_into_a_killed_run_dir_keeps_its_journal(
    tmp_path: Path, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, "--output-dir", "o"]) == 0
    first = load(tmp_path / "o" / "results.json")
    _mark_killed(tmp_path / "o")
    calls.clear()
    assert main([*SMALL, "--output-dir", "o"]) == 0
    assert calls == []  # every item came from the journal
    again = load(tmp_path / "o" / "results.json")
    assert again.run_id == first.run_id and again.exit_status == 0
    assert _numbers(tmp_path / "o" / "results.json") == [
        (i.item_id, [s.values for s in i.seeds], {k: v.mean for k, v in i.summary.items()}) for i in first.items
    ]
    assert again.duration >= first.duration  # the run's time adds up over its sessions
    lines = (tmp_path / "o" / JOURNAL_NAME).read_text().splitlines()
    assert len(lines) == 1 + 3  # header + three items; the torn line was dropped


def test_a_finished_run_is_recomputed_unless_resumed_explicitly(
    tmp_path: Path, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, "--output-dir", "o"]) == 0
    calls.clear()
    assert main([*SMALL, "--output-dir", "o"]) == 0
    assert calls == ["original", "retrain", "finetune[epochs=1,lr=0.05]"]  # from the cache, not the journal
    calls.clear()
    assert main(["run", "--resume", "o", "-q"]) == 0
    assert calls == []


def test_changed_metrics_rerun_the_journaled_items(
    tmp_path: Path, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, "--output-dir", "o"]) == 0
    _mark_killed(tmp_path / "o")
    calls.clear()
    assert main([*SMALL, "--metric", "simple_mia", "--output-dir", "o"]) == 0
    assert len(calls) == 3  # another metric selection: other fingerprints, nothing reused
    assert "simple_mia" in load(tmp_path / "o" / "results.json").items[-1].summary


def test_failed_items_are_run_again_on_resume(
    tmp_path: Path, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, "--output-dir", "o"]) == 0
    run_dir = tmp_path / "o"
    lines = (run_dir / JOURNAL_NAME).read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["item"]["outcome"] = "failed"
    (run_dir / JOURNAL_NAME).write_text("\n".join([*lines[:-1], json.dumps(entry)]) + "\n")
    _mark_killed(run_dir)
    calls.clear()
    assert main(["run", "--resume", str(run_dir), "-q"]) == 0
    assert calls == ["finetune[epochs=1,lr=0.05]"]


def test_item_dict_round_trip_is_exact() -> None:
    from unlearnbench.results import ItemResult, SeedResult, Summary

    item = ItemResult(
        item_id="m[a=1]", method="m", params={"a": 1}, description="d", outcome="passed",
        seeds=(SeedResult(0, {"x": 0.1 + 0.2, "y": float("nan")}, 1.5, True),),
        summary={"x": Summary(0.30000000000000004, None, None, 1)}, errors={}, duration=2.0,
    )  # fmt: skip
    back = item_from_dict(json.loads(json.dumps(item_to_dict(item))))
    assert back.seeds[0].values["x"] == 0.1 + 0.2 and back.summary == item.summary
    assert back.seeds[0].values["y"] != back.seeds[0].values["y"]  # NaN survives as NaN


def _results(tmp_path: Path, **changes: Any) -> Path:
    config = Config(dataset="fake", seeds=1, oracles=1)
    results = RunResults(
        run_id="r", command="unlearnbench run", config=config.to_dict(), config_hash=config.config_hash(),
        seeds=(0,), oracle_seeds=(0,), versions={}, device="cpu", git_commit="x", started_at="", duration=0.0,
        columns=(), items=(), exit_status=-1,
    )  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save(results, run_dir / "results.json")
    if changes:
        data = json.loads((run_dir / "results.json").read_text())
        for key, value in changes.items():
            if key == "config":
                data["config"].update(value)
            else:
                data[key] = value
        (run_dir / "results.json").write_text(json.dumps(data))
    return run_dir


@pytest.mark.parametrize(
    ("changes", "extra", "message"),
    [
        ({"schema_version": 99}, [], "results schema version 99 is not supported"),
        ({"config": {"seeds": "three"}}, [], "(config): option 'seeds' must be an integer, got 'three'"),
        ({"config": {"sedes": 2}}, [], "(config): unknown option 'sedes'. Did you mean: seeds"),
        ({"config": {"seeds": 0}}, [], "--seeds must be at least 1, got 0"),
        ({"items": "nonsense"}, [], "--resume: malformed results"),
        ({}, ["--seeds", "4"], "--resume continues the run with its own config; drop --seeds"),
        ({}, ["--method", "finetune"], "drop --method"),
        ({}, ["--config", "x.toml"], "drop --config"),
    ],
)  # fmt: skip
def test_resume_refuses_bad_run_dirs(
    tmp_path: Path, changes: dict[str, Any], extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = _results(tmp_path, **changes)
    (tmp_path / "x.toml").write_text("seeds = 2\n")
    code = main(["run", "--resume", str(run_dir), *extra])
    err = capsys.readouterr().err
    assert code == 4 and message in err and len(err.strip().splitlines()) == 1, err


def test_resume_needs_a_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", "missing"]) == 4
    assert "--resume: missing is not a run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["run", "--resume", "empty"]) == 4
    assert f"--resume: {Path('empty') / 'results.json'} does not exist; nothing to resume" in capsys.readouterr().err
