"""Every benchmark script runs at its tiniest size and ends with the JSON line benchmarks/README.md documents.

Not timed: the figures themselves belong to the scripts' full runs, recorded in benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

BENCHMARKS = REPO_ROOT / "benchmarks"

#: script → (tiniest arguments, keys its last line must have).
CASES: dict[str, tuple[list[str], set[str]]] = {
    "train_throughput.py": (["--tiny"], {"ratio_vs_bare", "ratio_vs_reference", "images_per_s"}),
    "forgetting_quality.py": (["--quick"], {"seconds", "speedup_vs_naive"}),
    "batched_training.py": (["--tiny"], {"models", "choice", "k"}),
    "warm_rerun.py": (["--tiny"], {"cold_seconds", "warm_seconds", "ratio", "same_numbers"}),
    "gpu_throughput.py": (["--device", "cpu", "--tiny"], {"models", "batch", "device"}),
    "executors_scaling.py": (["--quick"], {"seconds", "speedup_2_vs_1", "identical"}),
    "journal_write.py": (["--quick"], {"journal_append_ms", "results_rewrite_ms"}),
    "contention.py": (["--tiny", "--competitors", "1"], {"cpu", "seconds", "ratio", "goal"}),
}


def test_every_benchmark_script_is_covered() -> None:
    assert {p.name for p in BENCHMARKS.glob("*.py")} == set(CASES)


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_tiny_and_ends_with_json(script: str, tmp_path: Path) -> None:
    args, keys = CASES[script]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert keys <= set(last), sorted(last)
    if script == "batched_training.py":
        row = last["models"]["small_cnn"]
        assert row["sequential"] > 0 and row["vmap"] > 0
    if script == "warm_rerun.py":
        assert last["same_numbers"] is True
        assert 0 < last["warm_seconds"] and 0 < last["ratio"]
    if script == "contention.py":
        assert set(last["seconds"]["policy"]) == {"quiet", "loaded"} and last["ratio"]["policy"] > 0
    if script == "train_throughput.py":
        assert all(v > 0 for v in last["images_per_s"].values())


@pytest.mark.slow
def test_gpu_reproduce_script_runs_tiny_on_cpu(tmp_path: Path) -> None:
    """benchmarks/gpu/reproduce.sh --tiny on a tiny CIFAR-shaped file: every protocol writes its verdict."""
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "cifar10.npz"
    np.savez(
        data, x_train=rng.integers(0, 255, (160, 32, 32, 3), dtype=np.uint8), y_train=rng.integers(0, 10, 160),
        x_test=rng.integers(0, 255, (120, 32, 32, 3), dtype=np.uint8), y_test=rng.integers(0, 10, 120),
    )  # fmt: skip
    env = {**os.environ, "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    out = tmp_path / "out"
    done = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu" / "reproduce.sh"), "--tiny", "--data", str(data), "--out", str(out),
         "--cache", str(tmp_path / "cache"), "starting-kit", "salun-table1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # one epoch on noise reproduces nothing
    assert "starting-kit exit=1" in (out / "summary.txt").read_text()
    verdict = (out / "starting-kit" / "verdict.txt").read_text()
    assert "not a reproduction" in verdict and "✘" in verdict
    assert (out / "starting-kit" / "results.json").is_file()
    # SalUn's protocol end to end: its split of the file, the nine methods, the chosen original, 1 epoch each.
    assert "salun-table1 exit=1" in (out / "summary.txt").read_text()
    salun = json.loads((out / "salun-table1" / "results.json").read_text())
    assert {item["item_id"] for item in salun["items"]} == {
        "original", "retrain", "finetune", "random_label", "gradient_ascent", "influence", "boundary_expand",
        "boundary_shrink", "l1_sparse", "salun", "salun_soft",
    }  # fmt: skip
    assert salun["dataset"]["recipe"]["select"] == "best-val" and salun["dataset"]["oracle_recipe"]["epochs"] == 1
    assert "not in the published regime" in (out / "salun-table1" / "verdict.txt").read_text()
    missing = subprocess.run(["bash", str(BENCHMARKS / "gpu" / "reproduce.sh"), "--data", str(tmp_path / "none")],
                             cwd=tmp_path, env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert missing.returncode == 4 and "no CIFAR-10 file" in missing.stderr


def test_gpu_throughput_script_runs_tiny_on_cpu(tmp_path: Path) -> None:
    """benchmarks/gpu/throughput.sh --tiny: the three steps' JSON and the summary with the challenge's estimate."""
    env = {**os.environ, "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    out = tmp_path / "out"
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu" / "throughput.sh"), "--tiny", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    step = json.loads((out / "step.json").read_text())
    assert summary["loop_vs_bare"] == {name: row["ratio_vs_bare"] for name, row in step["models"].items()}
    batched = json.loads((out / "batched.json").read_text())["models"]["small_cnn"]
    per_model_images = 30 * 45_000
    assert summary["models_per_gpu_hour"]["vmap"] == pytest.approx(batched["vmap"] * 3600 / per_model_images, abs=0.01)
    challenge = summary["challenge"]
    expected = 512 * 35 * 45_000 / max(batched["vmap"], batched["sequential"]) / 3600
    assert challenge["training_hours"] == pytest.approx(expected, abs=0.01) and challenge["gpu_hours"] >= expected
    bad = subprocess.run(["bash", str(BENCHMARKS / "gpu" / "throughput.sh"), "--bogus"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 4 and "unknown argument" in bad.stderr
    missing = subprocess.run([sys.executable, str(BENCHMARKS / "gpu" / "summary.py"), str(tmp_path / "none")],
                             env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert missing.returncode == 4 and "cannot summarise" in missing.stderr
