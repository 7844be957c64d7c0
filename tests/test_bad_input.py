"""The bad-input catalogue: every input a user can get wrong is one line on stderr and exit code 4.

Each case runs the real command line (no training happens: every error is found before the first model
is trained). docs/reliability.md lists the same catalogue with these messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearnbench.cli import main


def _npz(path: Path, **changes: object) -> None:
    arrays: dict[str, object] = {
        "x_train": np.zeros((12, 32, 32, 3), np.uint8), "y_train": np.arange(12) % 10,
        "x_test": np.zeros((6, 32, 32, 3), np.uint8), "y_test": np.arange(6) % 10,
    }  # fmt: skip
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(path, **arrays)  # type: ignore[arg-type]


FAKE = ["run", "--preset", "fake", "--method", "finetune[epochs=1,lr=0.01]"]
CIFAR = ["run", "--dataset", "cifar10", "--data-path", "bad.npz", "--method", "finetune[epochs=1,lr=0.01]"]

#: (id, arguments, files to create {name: text or npz changes}, expected message fragment)
CATALOGUE: list[tuple[str, list[str], dict[str, object], str]] = [
    ("unknown dataset", ["run", "--dataset", "digitz"], {}, "unknown dataset 'digitz'. Did you mean: digits"),
    ("unknown model", ["run", "--model", "resnet19"], {}, "unknown model 'resnet19'. Did you mean: resnet18"),
    ("unknown method", ["run", "--method", "finetun"], {}, "unknown method 'finetun'. Did you mean: finetune"),
    ("unknown metric", ["run", "--metric", "acuracy"], {}, "unknown metric 'acuracy'. Did you mean: accuracy"),
    ("unknown preset", ["run", "--preset", "fak"], {}, "unknown preset 'fak'. Did you mean: fake"),
    ("unknown executor", [*FAKE, "--executor", "procesess"], {},
     "unknown executor 'procesess'. Did you mean: processes"),
    ("unknown option", ["run", "--exector", "local"], {}, "No such option '--exector'. Did you mean '--executor'?"),
    ("unknown list kind", ["list", "method"], {}, "'method' is not one of 'methods', 'metrics'"),
    ("forget 0", [*FAKE, "--forget", "0"], {}, "Invalid forget fraction 0: must be strictly between 0 and 1"),
    ("forget 1.5", [*FAKE, "--forget", "1.5"], {}, "Invalid forget fraction 1.5: must be strictly between"),
    ("forget nonsense", [*FAKE, "--forget", "half"], {}, "Invalid forget spec 'half'"),
    ("absent class", [*FAKE, "--forget", "class:9"], {}, "class 9 is out of range (valid classes: 0..3)"),
    ("empty forget set", [*FAKE, "--forget", "0.001"], {}, "Forget set is empty"),
    ("empty retain set", [*FAKE, "--forget", "class:0,1,2,3"], {}, "Retain set is empty"),
    ("seeds 0", [*FAKE, "--seeds", "0"], {}, "--seeds must be at least 1, got 0"),
    ("oracles 0", [*FAKE, "--oracles", "0"], {}, "--oracles must be at least 1, got 0"),
    ("oracles -2", [*FAKE, "--oracles", "-2"], {}, "--oracles must be at least 1, got -2"),
    ("seeds not a number", [*FAKE, "--seeds", "many"], {}, "'many' is not a valid integer"),
    ("timeout 0", [*FAKE, "--timeout", "0"], {}, "option 'timeout' must be a positive number of seconds"),
    ("timeout nan", [*FAKE, "--timeout", "nan"], {}, "option 'timeout' must be a positive number of seconds"),
    ("dataset option", [*FAKE, "--dataset-option", "n_trian=3"], {}, "Unknown option 'n_trian' for dataset"),
    ("toml malformed", ["run"], {"unlearnbench.toml": "seeds = \n"}, "unlearnbench.toml: malformed TOML"),
    ("toml unknown key", ["run"], {"unlearnbench.toml": "sedes = 3\n"},
     "unlearnbench.toml: unknown option 'sedes'. Did you mean: seeds"),
    ("toml wrong type", ["run"], {"unlearnbench.toml": "oracles = \"six\"\n"},
     "unlearnbench.toml: option 'oracles' must be an integer, got 'six'"),
    ("toml timeout", ["run"], {"unlearnbench.toml": "timeout = -1\n"},
     "option 'timeout' must be a positive number of seconds, got -1"),
    ("pyproject table", ["run"], {"pyproject.toml": "[tool]\nunlearnbench = 3\n"}, "must be a table"),
    ("npz missing keys", CIFAR, {"bad.npz": {"y_test": None}}, r"lacks key(s) y_test"),
    ("npz wrong shape", CIFAR, {"bad.npz": {"x_train": np.zeros((12, 28, 28, 3), np.uint8)}},
     "x_train has shape (12, 28, 28, 3), expected N×32×32×3"),
    ("npz wrong dtype", CIFAR, {"bad.npz": {"x_train": np.zeros((12, 32, 32, 3), np.float32)}},
     "x_train has dtype float32, expected uint8 images"),
    ("npz labels out of range", CIFAR, {"bad.npz": {"y_train": np.full(12, 10)}},
     "y_train has label 10, expected labels in 0..9"),
    ("npz not an npz", CIFAR, {"bad.npz": "not a zip"}, "is not a readable .npz"),
    ("data file missing", ["run", "--dataset", "cifar10", "--data-path", "nowhere.npz", "--method", "finetune"], {},
     "CIFAR-10 file nowhere.npz does not exist"),
    ("output dir is a file", [*FAKE, "--output-dir", "taken"], {"taken": "x"}, "exists and is not a directory"),
    ("config file missing", ["run", "--config", "nope.toml"], {}, "config file nope.toml does not exist"),
    ("report other version", ["report", "r.json"], {"r.json": json.dumps({"schema_version": 2})},
     "results schema version 2 is not supported"),
    ("report not json", ["report", "r.json"], {"r.json": "{"}, "r.json is not valid JSON"),
    ("report missing file", ["report", "none.json"], {}, "cannot read none.json"),
    ("resume missing", ["run", "--resume", "gone"], {}, "--resume: gone is not a run directory"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "files", "message"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_bad_input_is_one_line_and_exit_4(
    tmp_path: Path, args: list[str], files: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, content in files.items():
        if isinstance(content, dict):
            _npz(tmp_path / name, **content)
        else:
            (tmp_path / name).write_text(str(content))
    code = main(args)
    captured = capsys.readouterr()
    assert code == 4, captured.out + captured.err
    assert message in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert len(captured.err.strip().splitlines()) == 1, captured.err


def test_cuda_without_a_gpu(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*FAKE, "--device", "cuda"]) == 4
    err = capsys.readouterr().err
    assert "--device cuda was requested but no CUDA GPU is available" in err and len(err.strip().splitlines()) == 1


def _valid_results(tmp_path: Path) -> dict[str, object]:
    from unlearnbench.config import Config
    from unlearnbench.results import Column, ItemResult, RunResults, SeedResult, Summary, to_dict

    item = ItemResult(item_id="m", method="m", params={}, description="", outcome="passed",
                      seeds=(SeedResult(0, {"accuracy.RA": 0.5}, 1.0),),
                      summary={"accuracy.RA": Summary(0.5, None, None, 1)})  # fmt: skip
    config = Config(dataset="fake")
    results = RunResults(
        run_id="r", command="c", config=config.to_dict(), config_hash=config.config_hash(), seeds=(0,),
        oracle_seeds=(0,), versions={}, device="cpu", git_commit="x", started_at="", duration=1.0,
        columns=(Column("accuracy.RA", "RA", "accuracy", True),), items=(item,),
    )  # fmt: skip
    return to_dict(results)


#: Hand edits of a valid results.json: (id, path of keys, new value).
EDITS: list[tuple[str, list[object], object]] = [
    ("items not a list", ["items"], 5),
    ("item not an object", ["items", 0], "m"),
    ("unknown outcome", ["items", 0, "outcome"], "won"),
    ("seed values a list", ["items", 0, "seeds", 0, "values"], [1, 2]),
    ("mean not a number", ["items", 0, "summary", "accuracy.RA", "mean"], "high"),
    ("column missing keys", ["columns", 0], {"key": "x"}),
    ("seeds not numbers", ["seeds"], ["a"]),
    ("params not an object", ["items", 0, "params"], [1]),
    ("top level a list", [], []),
]


@pytest.mark.parametrize(("path", "value"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_hand_edited_results_are_refused_by_report(
    tmp_path: Path, path: list[object], value: object, capsys: pytest.CaptureFixture[str]
) -> None:
    data: object = _valid_results(tmp_path)
    if path:
        target = data
        for key in path[:-1]:
            target = target[key]  # type: ignore[index]
        target[path[-1]] = value  # type: ignore[index]
    else:
        data = value
    (tmp_path / "r.json").write_text(json.dumps(data))
    code = main(["report", "r.json"])
    captured = capsys.readouterr()
    assert code == 4, captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err and len(captured.err.strip().splitlines()) == 1


def test_the_valid_results_of_these_edits_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.json").write_text(json.dumps(_valid_results(tmp_path)))
    assert main(["report", "r.json"]) == 0
    assert (tmp_path / "report.html").is_file()
