"""How many intra-op threads torch uses on CPU when the run does not pin them: one documented place.

Torch's default is one thread per core the machine has. On a shared machine that is the wrong count: when
other processes keep some cores busy, torch's threads wait for each other at every parallel region (each
region ends only when its slowest thread, the one that lost its core, is done), and a run can become ten
times slower. Measured on a 2-core machine with two other CPU-bound processes running (``python
benchmarks/contention.py``): 2 threads took 12× as long as on the quiet machine, 1 thread 1.6×.

The policy (:func:`choose_threads`) takes the smallest of four limits, never less than one thread:

1. **torch's own count** when the run starts (one per physical core, or what the caller set): the policy
   only ever lowers it, so a quiet machine runs exactly as it did without the policy;
2. **affinity**: the cores this process may run on (``os.sched_getaffinity``);
3. **quota**: a cgroup CPU quota (``cpu.max`` of cgroup v2, or ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` of
   v1), rounded down, as a container or a batch scheduler sets it;
4. **idle cores**: the usable cores minus those that other processes keep busy, measured over
   :data:`SAMPLE_SECONDS` from the per-CPU lines of ``/proc/stat`` for the CPUs of the affinity set, less
   this process's own CPU time, rounded to the nearest core.

``OMP_NUM_THREADS`` in the environment and ``--threads N`` (``threads`` in a config) override the policy:
the user's count is used as given. Only a pinned count is part of the experiment (results equal bitwise
only under the same count, docs/executors.md); the chosen count and the reason are recorded in the run's
device line and results.json.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SAMPLE_SECONDS",
    "ThreadChoice",
    "busy_cores_of_others",
    "choose_threads",
    "cpu_quota",
    "decide_threads",
    "idle_cores",
    "usable_cores",
]

#: How long the busy-core sample lasts (the run's start waits this long once).
SAMPLE_SECONDS = 0.2

_CGROUP = Path("/sys/fs/cgroup")
_PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count the policy chose and the limits it saw (``None``: not known on this system)."""

    threads: int
    default: int
    usable: int
    quota: float | None
    busy: float | None
    source: str  # "policy", "--threads", "OMP_NUM_THREADS"

    def describe(self) -> str:
        """One line for the console and results.json, e.g. ``1 thread (policy: 2 cores, 1.9 busy)``."""
        count = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        if self.source != "policy":
            return f"{count} ({self.source})"
        parts = [f"torch {self.default}", f"{self.usable} core{'s' if self.usable != 1 else ''}"]
        if self.quota is not None:
            parts.append(f"quota {self.quota:g}")
        if self.busy is not None:
            parts.append(f"{self.busy:.1f} busy")
        return f"{count} (policy: {', '.join(parts)})"


def usable_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    cpus = _affinity()
    return len(cpus) if cpus else os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_quota(root: Path = _CGROUP) -> float | None:
    """The cgroup CPU quota in cores (``None`` where there is none, or no cgroup file to read)."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota == "max" or not period:
            return None
        try:
            return int(quota) / int(period)
        except (ValueError, ZeroDivisionError):
            return None
    quota_us, period_us = _read(root / "cpu" / "cpu.cfs_quota_us"), _read(root / "cpu" / "cpu.cfs_period_us")
    try:
        if quota_us is None or period_us is None or int(quota_us) <= 0:
            return None
        return int(quota_us) / int(period_us)
    except (ValueError, ZeroDivisionError):
        return None


def _cpu_seconds(stat: Path, cpus: set[int] | None) -> tuple[float, float] | None:
    """(busy, total) CPU seconds since boot of the CPUs in ``cpus`` (all where ``None``), from ``/proc/stat``."""
    text = _read(stat)
    if not text:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = total = 0
    seen = False
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit():
            continue  # the aggregate "cpu" line and the other counters
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        fields = [int(v) for v in rest.split()]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        line_total = sum(fields[:8])  # guest time is already counted in user
        busy, total, seen = busy + line_total - idle, total + line_total, True
    return (busy / ticks, total / ticks) if seen else None


def _affinity() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return None


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def busy_cores_of_others(seconds: float = SAMPLE_SECONDS, stat: Path = _PROC_STAT) -> float | None:
    """Cores of this process's affinity set that other processes kept busy over a ``seconds`` sample.

    ``None`` where ``/proc/stat`` is not there. This process's own CPU time over the sample is subtracted.
    """
    cpus = _affinity()
    before, own_before, started = _cpu_seconds(stat, cpus), _own_cpu_seconds(), time.monotonic()
    if before is None:
        return None
    time.sleep(seconds)
    after, own_after, elapsed = _cpu_seconds(stat, cpus), _own_cpu_seconds(), time.monotonic() - started
    if after is None or elapsed <= 0:
        return None
    others = (after[0] - before[0]) - (own_after - own_before)
    return max(0.0, others / elapsed)


def choose_threads(default: int, usable: int, quota: float | None, busy: float | None) -> int:
    """The policy's count: min(torch's count, usable cores, the quota rounded down, usable − busy rounded), ≥ 1."""
    limits = [default, usable]
    if quota is not None:
        limits.append(math.floor(quota + 1e-9))
    if busy is not None:
        limits.append(round(usable - busy))
    return max(1, min(limits))


def decide_threads(pinned: int | None, default: int, sample_seconds: float | None = None) -> ThreadChoice:
    """The run's thread count: ``pinned`` (``--threads``), else ``OMP_NUM_THREADS``, else the policy.

    ``default`` is torch's current count; ``sample_seconds`` (default :data:`SAMPLE_SECONDS`, read at call
    time) is the busy-core sample, 0 to skip it.
    """
    usable = usable_cores()
    if pinned:
        return ThreadChoice(pinned, default, usable, None, None, "--threads")
    from_env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if from_env.isdigit() and int(from_env) > 0:
        return ThreadChoice(default, default, usable, None, None, "OMP_NUM_THREADS")
    seconds = SAMPLE_SECONDS if sample_seconds is None else sample_seconds
    quota = cpu_quota()
    busy = busy_cores_of_others(seconds) if seconds > 0 else None
    return ThreadChoice(choose_threads(default, usable, quota, busy), default, usable, quota, busy, "policy")


def idle_cores(sample_seconds: float | None = None) -> int:
    """Cores this process can use now: the affinity set, a cgroup quota and other processes' load, ≥ 1.

    The ``processes`` executor sizes its pool with it (``cores // threads`` workers), so that a loaded
    machine does not get more workers than it has free cores.
    """
    usable = usable_cores()
    seconds = SAMPLE_SECONDS if sample_seconds is None else sample_seconds
    busy = busy_cores_of_others(seconds) if seconds > 0 else None
    return choose_threads(usable, usable, cpu_quota(), busy)
