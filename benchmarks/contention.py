"""Cost of sharing the CPU: one bench run quiet vs next to CPU-bound processes, per thread setting, in one run.

For each thread setting, the same ``unlearnbench run`` process is timed on the quiet machine and while
``--competitors`` other CPU-bound processes (each a Python busy loop this script starts and stops) run
beside it. Settings:

* ``policy``: no ``--threads``, the thread policy of ``unlearnbench/threads.py`` chooses;
* ``--threads 1``: one intra-op thread;
* ``--threads N``: one thread per usable core, torch's own default and what the bench used before the
  policy existed.

Rounds are interleaved (every setting and load once per round) and medians are reported with the ratio
loaded / quiet per setting. The goal: loaded / quiet ≤ 2.5 for the policy.

    python benchmarks/contention.py                # finetune, 5 epochs at lr 0.1, default data, no cache
    python benchmarks/contention.py --quick        # 1 epoch
    python benchmarks/contention.py --tiny         # CI: the fake data, one tiny item, the policy only
    python benchmarks/contention.py --rounds 3

The last line printed is JSON: ``cpu``, ``competitors``, ``seconds`` (setting → {quiet, loaded}),
``ratio`` (setting → loaded / quiet), ``goal``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 2.5

WORKLOADS: dict[str, list[str]] = {
    "full": ["--method", "finetune", "-k", "epochs=5 and lr=0.1"],
    "quick": ["--method", "finetune", "-k", "epochs=1 and lr=0.1"],
    "tiny": ["--preset", "fake", "--epochs", "1", "--seeds", "1", "--oracles", "1",
             "--method", "finetune[epochs=1,lr=0.1]", "--metric", "accuracy"],
}  # fmt: skip

BUSY_LOOP = "while True: pass"


def cpu_name() -> str:
    """The CPU model, the usable cores and the bf16 flags (``unlearnbench.provenance.cpu_model``)."""
    from unlearnbench.provenance import cpu_model

    model, native = cpu_model()
    return f"{model}, {len(os.sched_getaffinity(0))} cores, " + (" ".join(native) if native else "no bf16 flags")


def timed_run(args: list[str], output: Path) -> tuple[float, str]:
    """Wall seconds and recorded device line of one ``unlearnbench run`` process; SystemExit if it fails."""
    command = [sys.executable, "-m", "unlearnbench", "run", "-q", "--no-cache", "--output-dir", str(output), *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"unlearnbench run failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    device = json.loads((output / "results.json").read_text()).get("device", "?")
    return seconds, device


class Competitors:
    """``count`` CPU-bound processes, started on entry and stopped on exit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Competitors:
        self.procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(self.count)]
        time.sleep(1.0)  # they are running before the bench starts, as another user's jobs would be
        return self

    def __exit__(self, *_: object) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="1 epoch instead of 5")
    size.add_argument("--tiny", action="store_true", help="the fake data, one tiny item (CI)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; medians are reported")
    parser.add_argument("--competitors", type=int, default=2, help="CPU-bound processes in the loaded runs")
    opts = parser.parse_args(argv)
    workload = WORKLOADS["tiny" if opts.tiny else "quick" if opts.quick else "full"]
    cores = len(os.sched_getaffinity(0))
    settings: dict[str, list[str]] = {"policy": [], "--threads 1": ["--threads", "1"]}
    if cores > 1:
        settings[f"--threads {cores}"] = ["--threads", str(cores)]
    if opts.tiny:  # CI proves the script runs: the policy alone, quiet and loaded
        settings = {"policy": []}
    times: dict[str, dict[str, list[float]]] = {name: {"quiet": [], "loaded": []} for name in settings}
    with tempfile.TemporaryDirectory(prefix="contention-") as scratch:
        for round_no in range(opts.rounds):
            for name, extra in settings.items():
                for load in ("quiet", "loaded"):
                    output = Path(scratch) / f"{round_no}-{len(times[name][load])}-{load}-{extra[-1:] or ['p']}"
                    if load == "loaded":
                        with Competitors(opts.competitors):
                            seconds, device = timed_run([*workload, *extra], output)
                    else:
                        seconds, device = timed_run([*workload, *extra], output)
                    times[name][load].append(seconds)
                    print(f"round {round_no + 1}: {name:>12} {load:>6} {seconds:8.1f} s  {device}", flush=True)
    medians = {name: {load: statistics.median(v) for load, v in row.items()} for name, row in times.items()}
    ratio = {name: row["loaded"] / row["quiet"] for name, row in medians.items()}
    cpu = cpu_name()
    print(f"\n{cpu}; {opts.competitors} competing CPU-bound processes; medians of {opts.rounds} round(s)")
    print(f"{'setting':>14} {'quiet s':>9} {'loaded s':>9} {'loaded/quiet':>13}")
    for name, row in medians.items():
        print(f"{name:>14} {row['quiet']:9.1f} {row['loaded']:9.1f} {ratio[name]:13.2f}")
    all_cores = f"--threads {cores}"
    quiet_vs_all_cores = medians["policy"]["quiet"] / medians[all_cores]["quiet"] if all_cores in medians else 1.0
    print(f"policy quiet / --threads {cores} quiet: {quiet_vs_all_cores:.2f}; goal loaded/quiet <= {GOAL}")
    summary = {"cpu": cpu, "competitors": opts.competitors, "rounds": opts.rounds, "workload": workload,
               "seconds": medians, "ratio": ratio, "quiet_vs_all_cores": quiet_vs_all_cores, "goal": GOAL}  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
