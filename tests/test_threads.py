"""The thread policy: its limits (affinity, cgroup quota, busy cores), overrides and what a run records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from unlearnbench import threads
from unlearnbench.config import Config
from unlearnbench.executors import pinned_threads
from unlearnbench.threads import ThreadChoice, choose_threads, cpu_quota, decide_threads, usable_cores


@pytest.mark.parametrize(
    ("default", "usable", "quota", "busy", "expected"),
    [
        (2, 2, None, 0.0, 2),  # quiet: torch's own count
        (2, 2, None, 0.3, 2),  # a little background work rounds away
        (2, 2, None, 1.0, 1),  # one core taken
        (2, 2, None, 2.0, 1),  # both taken: never below one thread
        (8, 8, 2.5, 0.0, 2),  # a container's quota, rounded down
        (8, 8, 0.5, None, 1),  # a quota below one core still gets one thread
        (4, 16, None, 0.0, 4),  # never more than torch's own count (physical cores)
        (8, 4, None, None, 4),  # nor than the affinity set
        (16, 16, None, 5.4, 11),
    ],
)
def test_the_policy_takes_the_smallest_limit(
    default: int, usable: int, quota: float | None, busy: float | None, expected: int
) -> None:
    assert choose_threads(default, usable, quota, busy) == expected


def test_cgroup_quotas_of_both_versions_are_read(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert cpu_quota(v2) == pytest.approx(1.5)
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cpu_quota(v1) == pytest.approx(3.0)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cpu_quota(v1) is None
    assert cpu_quota(tmp_path / "none") is None


def test_only_the_cpus_of_the_affinity_set_are_counted(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal
    stat.write_text(
        "cpu  300 0 0 300 0 0 0 0 0 0\n"
        "cpu0 100 0 0 100 0 0 0 0 0 0\n"
        "cpu1 200 0 0 0 0 0 0 0 0 0\n"
        "cpu2 0 0 0 200 0 0 0 0 0 0\n"
        "intr 12345\n"
    )
    ticks = os.sysconf("SC_CLK_TCK")
    assert threads._cpu_seconds(stat, {0, 2}) == pytest.approx((100 / ticks, 400 / ticks))
    assert threads._cpu_seconds(stat, None) == pytest.approx((300 / ticks, 600 / ticks))
    assert threads._cpu_seconds(stat, {7}) is None
    assert threads.busy_cores_of_others(0.01, tmp_path / "missing") is None


def _sample_while(work: str | None, seconds: float = 0.5) -> float:
    """busy_cores_of_others over ``seconds`` while this process spins (``"self"``) or another one does."""
    result: list[float | None] = []
    other = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if work == "other" else None
    try:
        time.sleep(0.3 if other else 0.0)
        sampler = threading.Thread(target=lambda: result.append(threads.busy_cores_of_others(seconds)))
        sampler.start()
        while sampler.is_alive():
            if work != "self":
                time.sleep(0.01)  # idle; "self" spins (the sample's sleep releases the GIL)
        sampler.join()
    finally:
        if other:
            other.kill()
            other.wait()
    assert result and result[0] is not None
    return result[0]


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs /proc/stat (Linux)")
def test_the_sample_counts_other_processes_and_not_this_one() -> None:
    quiet = _sample_while(None)
    if quiet > usable_cores() - 1:
        pytest.skip(f"the machine is busy ({quiet:.1f} cores taken by others): no idle core to see a new process on")
    assert _sample_while("self") - quiet < 0.5  # one core of its own work, not counted
    assert _sample_while("other") - quiet > 0.6  # one core of another process's work


def test_overrides_come_before_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "busy_cores_of_others", lambda *_: pytest.fail("no sample when pinned"))
    assert decide_threads(3, 2) == ThreadChoice(3, 2, threads.usable_cores(), None, None, "--threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    chosen = decide_threads(None, 1)
    assert (chosen.threads, chosen.source) == (1, "OMP_NUM_THREADS")


def test_busy_cores_lower_the_run_threads_and_the_caller_gets_its_count_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "cpu_quota", lambda: None)
    monkeypatch.setattr(threads, "busy_cores_of_others", lambda _seconds: 1.9)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pinned_threads(Config(dataset="fake"), sample_seconds=0.2) as choice:
            assert torch.get_num_threads() == 1
            assert choice.describe() == "1 thread (policy: torch 2, 2 cores, 1.9 busy)"
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_run_records_how_its_thread_count_was_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from unlearnbench.cli import main

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "busy_cores_of_others", lambda _seconds: float(threads.usable_cores()))
    monkeypatch.setattr(threads, "SAMPLE_SECONDS", 0.2)
    args = ["run", "-q", "--preset", "fake", "--epochs", "1", "--seeds", "1", "--oracles", "1",
            "--method", "finetune[epochs=1,lr=0.1]", "--metric", "accuracy",
            "--output-dir", str(tmp_path / "run")]  # fmt: skip
    assert main(args) in (0, 1)
    device = json.loads((tmp_path / "run" / "results.json").read_text())["device"]
    assert "1 thread (policy: torch" in device and "busy)" in device
    assert main([*args[:-2], "--threads", "1", "--output-dir", str(tmp_path / "pinned")]) in (0, 1)
    device = json.loads((tmp_path / "pinned" / "results.json").read_text())["device"]
    assert "1 thread (--threads)" in device


def test_the_processes_pool_gets_no_more_workers_than_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from unlearnbench.executors.base import ExecutorContext
    from unlearnbench.executors.processes import ProcessesExecutor

    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "cpu_quota", lambda: None)
    monkeypatch.setattr(threads, "SAMPLE_SECONDS", 0.2)
    lines: list[str] = []
    for busy, expected in ((0.0, 4), (2.2, 2), (4.0, 1)):
        monkeypatch.setattr(threads, "busy_cores_of_others", lambda _s, b=busy: b)
        ctx = ExecutorContext(spec=None, workers=None, address=None, threads=1, retries=0,  # type: ignore[arg-type]
                              announce=lines.append)  # fmt: skip
        ProcessesExecutor().start(ctx)
        assert lines[-1] == f"processes executor: {expected} workers × 1 threads"
