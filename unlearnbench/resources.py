"""Peak memory per phase of a run (data loading, original, oracles, each item's unlearning and metrics).

On CPU the figure is the process's peak resident set size. On Linux it is read from ``VmHWM`` in
``/proc/self/status`` and reset at the start of every phase by writing ``5`` to ``/proc/self/clear_refs``,
so each phase gets its own peak (method ``"vmhwm"``). Where that file cannot be written (another OS, a
locked-down container) the fallback is ``resource.getrusage``'s ``ru_maxrss``, which cannot be reset: each
phase then reports the process's peak so far (method ``"getrusage"``, an upper bound). On CUDA the phase's
peak of ``torch.cuda.max_memory_allocated`` is recorded as well, after ``reset_peak_memory_stats``.

Phases nest (an item contains its unlearning and its metrics): entering an inner phase first folds the
peak so far into every open phase, so resetting the counter for the inner one loses nothing for the outer.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_HWM_RE = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)


def _read_hwm() -> int | None:
    """VmHWM in bytes, or None where /proc is not available."""
    try:
        match = _HWM_RE.search(_STATUS.read_text())
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _reset_hwm() -> bool:
    """Reset the kernel's peak RSS of this process; False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _maxrss() -> int:
    """``ru_maxrss`` in bytes (kilobytes on Linux, bytes on macOS)."""
    import resource

    value = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return value if sys.platform == "darwin" else value * 1024


def rss_method() -> str:
    """``"vmhwm"`` where the per-phase reset works, else ``"getrusage"``."""
    return "vmhwm" if _read_hwm() is not None and _reset_hwm() else "getrusage"


class PeakMemory:
    """Records the peak memory of named phases; ``to_dict`` gives the ``resources`` block of results.json.

    ``peaks[name]`` maps ``"rss_bytes"`` (always) and ``"cuda_bytes"`` (on CUDA) to the phase's peak. A
    phase entered twice keeps the larger peak.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.method = rss_method()
        self.peaks: dict[str, dict[str, int]] = {}
        self._open: list[str] = []

    def _cuda(self) -> bool:
        return self.device.type == "cuda" and torch.cuda.is_available()

    def _sample(self) -> dict[str, int]:
        rss = _read_hwm() if self.method == "vmhwm" else None
        sample = {"rss_bytes": rss if rss is not None else _maxrss()}
        if self._cuda():
            sample["cuda_bytes"] = int(torch.cuda.max_memory_allocated(self.device))
        return sample

    def _reset(self) -> None:
        if self.method == "vmhwm":
            _reset_hwm()
        if self._cuda():
            torch.cuda.reset_peak_memory_stats(self.device)

    def _fold(self, names: list[str], sample: dict[str, int]) -> None:
        for name in names:
            record = self.peaks.setdefault(name, {})
            for key, value in sample.items():
                record[key] = max(record.get(key, 0), value)

    def start(self, name: str) -> None:
        """Open phase ``name``: the peak so far is folded into the open phases, then the counter is reset."""
        if self._open:
            self._fold(self._open, self._sample())
        self._reset()
        self._open.append(name)

    def stop(self) -> None:
        """Close the innermost open phase, folding its peak into it and every enclosing phase."""
        if not self._open:
            raise RuntimeError("no open phase to stop")
        self._fold(self._open, self._sample())
        self._open.pop()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Measure the peak of the enclosed code under ``name`` (and fold it into every enclosing phase)."""
        self.start(name)
        try:
            yield
        finally:
            self.stop()

    def to_dict(self) -> dict[str, Any]:
        """``{"method", "device", "unit", "phases": {name: {"rss_bytes", ["cuda_bytes"]}}}``."""
        return {
            "method": self.method,
            "device": self.device.type,
            "unit": "bytes",
            "phases": {name: dict(record) for name, record in self.peaks.items()},
        }


def item_phase(item_id: str, part: str | None = None) -> str:
    """The phase name of an item (``item:<id>``) or of one part of it (``item:<id>/unlearn``)."""
    return f"item:{item_id}" if part is None else f"item:{item_id}/{part}"


def _mib(value: Any) -> str:
    return f"{float(value) / 2**20:,.0f} MiB"


def peaks_text(resources: Mapping[str, Any], phases: Sequence[tuple[str, str]]) -> str:
    """One line for a report: ``label 812 MiB (GPU 1,024 MiB), ...`` for each ``(label, phase)`` recorded.

    Empty when nothing was recorded (results written before peak memory was measured).
    """
    recorded = resources.get("phases", {}) if isinstance(resources, Mapping) else {}
    parts = []
    for label, name in phases:
        peak = recorded.get(name)
        if not isinstance(peak, Mapping) or "rss_bytes" not in peak:
            continue
        text = f"{label} {_mib(peak['rss_bytes'])}"
        if "cuda_bytes" in peak:
            text += f" (GPU {_mib(peak['cuda_bytes'])})"
        parts.append(text)
    return ", ".join(parts)


def run_peaks_text(resources: Mapping[str, Any]) -> str:
    """The run-level phases (data, original, oracles) with how the figure was taken."""
    text = peaks_text(resources, [("data", "data"), ("original", "original"), ("oracles", "oracles")])
    if not text:
        return ""
    how = {"vmhwm": "peak RSS per phase, VmHWM", "getrusage": "process peak RSS so far, getrusage"}
    return f"{text} ({how.get(str(resources.get('method')), str(resources.get('method')))})"


def item_peaks_text(resources: Mapping[str, Any], item_id: str) -> str:
    """An item's peaks: the whole item, its unlearning and its metrics."""
    return peaks_text(resources, [("item", item_phase(item_id)), ("unlearn", item_phase(item_id, "unlearn")),
                                  ("metrics", item_phase(item_id, "metrics"))])  # fmt: skip
