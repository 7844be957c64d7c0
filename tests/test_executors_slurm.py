"""docs/examples/slurm-ray.sbatch, run by bash with stub `scontrol`, `srun`, `ray` and `unlearnbench` commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "examples" / "slurm-ray.sbatch"

STUBS = {
    "scontrol": 'echo "$*" >> "$LOG.scontrol"; printf "node-a\\nnode-b\\nnode-c\\n"',
    # srun logs its arguments; the one command it must answer is `hostname --ip-address` on the head.
    "srun": 'echo "srun $*" >> "$LOG"; case "$*" in *hostname*) echo "10.1.2.3 fe80::1";; esac',
    "ray": 'echo "ray $*" >> "$LOG"',
    "unlearnbench": 'echo "unlearnbench $* RAY_ADDRESS=$RAY_ADDRESS CACHE=$UNLEARNBENCH_CACHE_DIR" >> "$LOG"; '
    'exit "${STUB_EXIT:-0}"',
}


def _run(tmp_path: Path, stub_exit: int) -> tuple[int, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text(f"#!/bin/bash\n{body}\n")
        stub.chmod(0o755)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "SLURM_JOB_NODELIST": "node-[a-c]",
        "SLURM_CPUS_PER_TASK": "16", "RAY_START_WAIT_S": "0", "HOME": str(tmp_path),
        "UNLEARNBENCH_CACHE_DIR": "/shared/cache", "STUB_EXIT": str(stub_exit),
    }  # fmt: skip
    done = subprocess.run(["bash", str(SCRIPT), "--preset", "cs354", "--seeds", "4"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    calls = sorted(log.read_text().splitlines())  # background sruns may log in any order
    return done.returncode, calls


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_sbatch_script_starts_ray_on_every_node_then_runs_the_bench(tmp_path: Path) -> None:
    code, calls = _run(tmp_path, stub_exit=0)
    assert code == 0
    assert calls == sorted([
        "srun --nodes=1 --ntasks=1 -w node-a hostname --ip-address",
        "srun --nodes=1 --ntasks=1 -w node-a ray start --head --node-ip-address=10.1.2.3 --port=6379 --num-cpus=16 "
        "--block",
        "srun --nodes=1 --ntasks=1 -w node-b ray start --address=10.1.2.3:6379 --num-cpus=16 --block",
        "srun --nodes=1 --ntasks=1 -w node-c ray start --address=10.1.2.3:6379 --num-cpus=16 --block",
        "unlearnbench run --executor ray --address auto --preset cs354 --seeds 4 RAY_ADDRESS=10.1.2.3:6379 "
        "CACHE=/shared/cache",
        "ray stop",
    ])  # fmt: skip


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_sbatch_script_exits_with_the_bench_status_and_still_stops_ray(tmp_path: Path) -> None:
    code, calls = _run(tmp_path, stub_exit=1)
    assert code == 1
    assert "ray stop" in calls and any(call.startswith("unlearnbench run --executor ray") for call in calls)
