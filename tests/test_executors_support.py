"""Helpers shared by the executor tests: a tiny run, the numbers it produced, a plugin that kills its worker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from unlearnbench.cli import main
from unlearnbench.results import load

#: A tiny but complete run: the anchors plus one fine-tuning item, every metric, 2 seeds, 2 oracles, 1 thread.
TINY = [
    "run", "--dataset", "fake", "--seeds", "2", "--oracles", "2", "--epochs", "2",
    "--method", "finetune[epochs=1,lr=0.01]", "--threads", "1",
]  # fmt: skip

#: A method that, the first time it runs outside the driver process, kills the process running it.
DIES_ONCE_PLUGIN = """
import os
import signal
from pathlib import Path

from unlearnbench import hookimpl

DRIVER_PID = {driver_pid}
MARKER = Path({marker!r})


class DiesOnce:
    name = "dies_once"
    description = "Kills its worker process the first time it runs in one (test plugin)"

    def unlearn(self, model, ctx):
        if os.getpid() != DRIVER_PID and not MARKER.exists():
            MARKER.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        return model


@hookimpl
def unlearnbench_add_methods():
    return [DiesOnce]
"""


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in this process; returns (exit code, stdout, stderr)."""
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def numbers(results_path: Path) -> dict[str, Any]:
    """Every number of a results.json that must not depend on the executor (timings left out)."""
    results = load(results_path)
    out: dict[str, Any] = {}
    for item in results.items:
        for seed in item.seeds:
            for key, value in seed.values.items():
                if not key.startswith("runtime"):
                    out[f"{item.item_id} seed {seed.seed} {key}"] = value
        for key, value in item.population.items():
            out[f"{item.item_id} {key}"] = value
        out[f"{item.item_id} outcome"] = item.outcome
    return out


def write_dies_once(folder: Path, marker: Path) -> None:
    """Put the killing plugin into ``folder/plugins`` (a local plugin of runs started in ``folder``)."""
    (folder / "plugins").mkdir(exist_ok=True)
    (folder / "plugins" / "dies_once.py").write_text(DIES_ONCE_PLUGIN.format(driver_pid=os.getpid(),
                                                                             marker=str(marker)))  # fmt: skip


@pytest.fixture(scope="module", name="reference")
def reference_numbers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The numbers of the tiny run (plus ``dies_once``) through the local executor, in its own cache."""
    base = tmp_path_factory.mktemp("reference")
    write_dies_once(base, base / "marker")
    code = main([*TINY, "--method", "dies_once", "--plugins-dir", str(base / "plugins"), "-q",
                 "--cache-dir", str(base / "cache"), "--output-dir", str(base / "out")])  # fmt: skip
    assert code == 0
    return numbers(base / "out" / "results.json")
