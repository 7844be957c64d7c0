"""Benchmark of the ``processes`` executor: wall seconds of one CPU-bound run with 1 and with 2 workers.

Each configuration runs ``unlearnbench run`` in a fresh process with its own empty cache dir, so every
model is trained; torch threads are pinned to 1 per process so that the numbers are bitwise identical
across configurations (checked here) and the workers do not oversubscribe the cores. The load of the
machine is printed beside the timings: on a shared machine they are only as good as the idle cores.

    python benchmarks/executors_scaling.py                       # fake data, finetune grid, S=2, R=4
    python benchmarks/executors_scaling.py --quick               # S=1, R=2, one item: seconds

The last line printed is JSON (``seconds`` per configuration, ``speedup_2_vs_1``, ``identical``, load).
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


def _numbers(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    out: dict[str, Any] = {}
    for item in data["items"]:
        for seed in item["seeds"]:
            out.update({f"{item['item_id']} {seed['seed']} {k}": v for k, v in seed["values"].items()
                        if not k.startswith("runtime")})  # fmt: skip
        out.update({f"{item['item_id']} {k}": v for k, v in item["population"].items()})
    return out


def run_once(args: list[str], label: str, folder: Path) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one run with a fresh cache, and its numbers."""
    out = folder / label
    env = {**os.environ, "UNLEARNBENCH_CACHE_DIR": str(folder / f"cache-{label}")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "unlearnbench", *args, "-q", "--output-dir", str(out)], env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start, _numbers(out / "results.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    options = parser.parse_args()
    if options.quick:
        base = ["run", "--dataset", "fake", "--seeds", "1", "--oracles", "2", "--method", "finetune[epochs=1,lr=0.01]"]
    else:
        base = ["run", "--dataset", "fake", "--seeds", "2", "--oracles", "4", "--method", "finetune"]
    base += ["--threads", "1"]
    configurations = {
        "local": [],
        "processes-1": ["--executor", "processes", "--workers", "1"],
        "processes-2": ["--executor", "processes", "--workers", "2"],
    }
    seconds: dict[str, float] = {}
    numbers: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in configurations.items():
            seconds[label], numbers[label] = run_once([*base, *extra], label, Path(tmp))
            print(f"{label}: {seconds[label]:.1f} s")
    load_after = os.getloadavg()
    identical = all(n == numbers["local"] for n in numbers.values())
    print(json.dumps({
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "speedup_2_vs_1": round(seconds["processes-1"] / seconds["processes-2"], 3),
        "identical": identical, "cores": os.cpu_count(),
        "load_1min_before": round(load_before[0], 2), "load_1min_after": round(load_after[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
