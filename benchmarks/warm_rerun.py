"""Cost of re-running a preset with a warm cache, as a fraction of the cold run, measured in one run.

Both runs are separate ``unlearnbench run`` processes (each pays the interpreter and import start-up, as a
user's re-run does) with the same options: the first against a fresh, empty cache folder (everything is
trained and evaluated), the second against the cache the first one filled (nothing should be recomputed).
The goal is ``warm / cold < 0.05``.

    python benchmarks/warm_rerun.py                      # preset fake, S = 3, R = 6, every method and metric
    python benchmarks/warm_rerun.py --quick              # preset fake, finetune only
    python benchmarks/warm_rerun.py --tiny               # CI: one epoch, S = R = 1, one item, one metric
    python benchmarks/warm_rerun.py -- --preset digits   # anything after -- goes to unlearnbench run

The last line printed is JSON: ``cold_seconds``, ``warm_seconds``, ``ratio``, ``goal``, ``args``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL = 0.05

PRESETS: dict[str, list[str]] = {
    "full": ["--preset", "fake"],
    "quick": ["--preset", "fake", "--method", "finetune"],
    "tiny": ["--preset", "fake", "--epochs", "1", "--seeds", "1", "--oracles", "1",
             "--method", "finetune[epochs=1,lr=0.1]", "--metric", "accuracy"],
}  # fmt: skip


def timed_run(args: list[str], cache: Path, output: Path) -> float:
    """Wall seconds of one ``unlearnbench run`` process; raises if it fails."""
    command = [sys.executable, "-m", "unlearnbench", "run", "-q", "--cache-dir", str(cache),
               "--output-dir", str(output), *args]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"unlearnbench run failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run cold, then warm, and print the ratio as the last line (JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="preset fake, finetune only")
    parser.add_argument("--tiny", action="store_true", help="CI: one epoch, one replicate, one oracle, one item")
    parser.add_argument("extra", nargs="*", help="options for unlearnbench run (after --)")
    args = parser.parse_args(argv)
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    run_args = [*PRESETS[size], *args.extra]
    with tempfile.TemporaryDirectory(prefix="unlearnbench-warm-") as tmp:
        root = Path(tmp)
        cold = timed_run(run_args, root / "cache", root / "cold")
        warm = timed_run(run_args, root / "cache", root / "warm")
        cold_results = json.loads((root / "cold" / "results.json").read_text(encoding="utf-8"))
        warm_results = json.loads((root / "warm" / "results.json").read_text(encoding="utf-8"))
    same = [i["summary"] for i in cold_results["items"]] == [i["summary"] for i in warm_results["items"]]
    out = {
        "args": run_args,
        "items": len(cold_results["items"]),
        "cold_seconds": round(cold, 2),
        "warm_seconds": round(warm, 2),
        "ratio": round(warm / cold, 4),
        "goal": GOAL,
        "same_numbers": same,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
