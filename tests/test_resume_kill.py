"""A real run killed at random points (SIGKILL, then Ctrl-C) and resumed ends with an uninterrupted run's numbers.

The uninterrupted reference and the killed run use separate caches, so the killed run really trains its
original and oracles and really runs its items; kill points are drawn from a seeded generator within
phases chosen by the journal's length: while the original and oracles train (no item finished yet), after
one finished item, and a Ctrl-C once a resumed run is in its session. Eight items keep the run busy long
enough on a fast machine for the signals to land between items.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from unlearnbench.journal import JOURNAL_NAME
from unlearnbench.results import RunResults, load

REPO = Path(__file__).resolve().parent.parent

ARGS = [
    "run", "--preset", "fake", "-q", "--seeds", "2", "--oracles", "2", "--epochs", "2",
    "--dataset-option", "n_train=160", "--metric", "accuracy", "--metric", "simple_mia", "--metric", "runtime",
    "--method", "finetune[epochs=1,lr=0.01]", "--method", "finetune[epochs=2,lr=0.01]",
    "--method", "finetune[epochs=2,lr=0.02]", "--method", "finetune[epochs=3,lr=0.01]",
    "--method", "finetune[epochs=3,lr=0.02]", "--method", "finetune[epochs=4,lr=0.01]",
]  # fmt: skip

#: Timing columns: measured, so they differ between two runs (a resumed item keeps its first timing).
TIMING_PREFIX = "runtime"


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # A pinned thread count: the thread policy adapts to how busy the machine is, and results are equal
    # bitwise only under the same count, so every process of the comparison must use the same one.
    env["OMP_NUM_THREADS"] = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    return subprocess.Popen(
        [sys.executable, "-m", "unlearnbench", *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _journal_items(run_dir: Path) -> int:
    try:
        lines = (run_dir / JOURNAL_NAME).read_text().splitlines()
    except OSError:
        return -1  # not started yet
    return max(0, len(lines) - 1)


def _written_since(run_dir: Path, since: float) -> bool:
    try:
        return (run_dir / "results.json").stat().st_mtime >= since
    except OSError:
        return False


def _values(results: RunResults) -> list[Any]:
    """Every number of every item, per seed and population, without the timing columns."""
    out: list[Any] = []
    for item in results.items:
        seeds = [(s.seed, {k: v for k, v in s.values.items() if not k.startswith(TIMING_PREFIX)})
                 for s in item.seeds]  # fmt: skip
        summary = {k: (v.mean, v.ci_low, v.ci_high, v.n) for k, v in item.summary.items()
                   if not k.startswith(TIMING_PREFIX)}  # fmt: skip
        out.append((item.item_id, item.outcome, seeds, item.population, summary,
                    json.dumps(item.diagnostics, sort_keys=True)))  # fmt: skip
    return out


@pytest.mark.slow
def test_killed_runs_resume_to_identical_results(tmp_path: Path) -> None:
    # The reference runs in a process of its own like the killed runs: torch's thread count, which changes a
    # CPU run's last bits, is then the same fresh-process default for both.
    proc = _spawn([*ARGS, "--cache-dir", str(tmp_path / "cache-ref"), "--output-dir", "ref"], tmp_path)
    output = proc.communicate(timeout=300)[0].decode(errors="replace")
    assert proc.returncode == 0, output
    reference = load(tmp_path / "ref" / "results.json")

    rng = random.Random(20261130)
    run_dir = tmp_path / "killed"
    first = [*ARGS, "--cache-dir", str(tmp_path / "cache-kill"), "--output-dir", str(run_dir)]
    resume = ["run", "--resume", str(run_dir), "-q"]
    # (finished items to wait for, signal): during oracle training, then during items, then Ctrl-C.
    # Ctrl-C waits for one item only: the resumed run already holds it, so the signal lands in its session.
    plan = [(0, signal.SIGKILL), (1, signal.SIGKILL), (1, signal.SIGINT)]
    survived: list[tuple[int, int]] = []
    for attempt, (items_done, sig) in enumerate(plan):
        spawned = time.time()
        proc = _spawn(first if attempt == 0 else resume, tmp_path)
        deadline = time.monotonic() + 120
        # A resumed run's journal may already hold `items_done` items: also wait until this process is in
        # its session (it writes results.json first), so the signal never lands in interpreter start-up.
        while ((_journal_items(run_dir) < items_done or not _written_since(run_dir, spawned))
               and proc.poll() is None and time.monotonic() < deadline):  # fmt: skip
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))  # a random point inside the phase
        if proc.poll() is not None:
            continue  # finished before the kill point: nothing to survive here
        at = _journal_items(run_dir)
        proc.send_signal(sig)
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
        assert "Traceback" not in output, output
        if sig == signal.SIGINT:
            partial = load(run_dir / "results.json")
            if proc.returncode == 0:  # the run ended before the signal took effect: complete results
                assert not partial.interrupted and len(partial.items) == len(reference.items), output
                continue
            assert proc.returncode == 2, output  # interrupted: partial results written
            assert len(partial.items) >= at  # nothing journaled is lost
            # Either the run stopped early (marked interrupted) or Ctrl-C landed after its last item, while
            # the report was rendered: then the results on disk are already complete.
            assert partial.interrupted or len(partial.items) == len(reference.items), partial
        else:
            assert proc.returncode == -signal.SIGKILL
        survived.append((at, int(sig)))
    print(f"kill points survived (finished items at the kill, signal): {survived}")
    assert len(survived) >= 2, survived  # at least the oracle phase and one item phase were hit
    assert survived[0][0] == 0  # the first kill landed before any item finished

    proc = _spawn(resume, tmp_path)
    output = proc.communicate(timeout=300)[0].decode(errors="replace")
    assert proc.returncode == 0, output
    resumed = load(run_dir / "results.json")
    assert not resumed.interrupted and resumed.exit_status == 0
    assert resumed.run_id == json.loads((run_dir / JOURNAL_NAME).read_text().splitlines()[0])["run_id"]
    assert _values(resumed) == _values(reference)  # bitwise: floats compared with ==
    assert [c.key for c in resumed.columns] == [c.key for c in reference.columns]
