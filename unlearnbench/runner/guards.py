"""Guards around a method's ``unlearn`` call: a time limit, the frozen original, out-of-memory.

Each guard turns one way a method can misbehave into an :class:`ItemGuardError` (or an exception the
runner already turns into a failed item) whose message says what happened, so the run goes on with the
other items:

* :func:`time_limit` raises :class:`ItemTimeout` ("timed out after N s") inside the method's Python code
  once ``seconds`` have passed. It uses ``SIGALRM`` and therefore works on POSIX, in the main thread only;
  elsewhere it is a no-op (see :func:`timeout_supported`). The signal is delivered between Python
  bytecodes: a method stuck inside one long C call (one huge matrix product, a blocking read) is
  interrupted only when that call returns.
* :func:`changed_tensors` compares a module's state with the pristine state it was copied from, so a
  method that writes into ``ctx.original`` is caught (its copy is discarded; the bench's own state is
  never handed out).
* :func:`is_out_of_memory` / :func:`release_memory` recognise ``MemoryError`` and CUDA out-of-memory
  errors and free the CUDA caching allocator, so the next item starts with the memory back.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any

import torch
from torch import nn


class ItemGuardError(Exception):
    """A method broke a rule the bench checks (e.g. it modified ``ctx.original``)."""


class ItemTimeout(BaseException):
    """The per-replicate time limit (``--timeout``) expired inside ``unlearn``.

    A ``BaseException`` so that a method's own ``except Exception:`` cannot swallow it.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {format_seconds(seconds)} s")
        self.seconds = seconds


def format_seconds(seconds: float) -> str:
    """``5`` for whole numbers, else up to three significant decimals (``0.25``)."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3g}"


def timeout_supported() -> bool:
    """Whether :func:`time_limit` can interrupt code here (POSIX ``SIGALRM``, main thread)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`ItemTimeout` in the body after ``seconds`` (None or unsupported: no limit).

    The previous ``SIGALRM`` handler and timer are restored on exit, so limits may nest with other users
    of the alarm as long as they restore theirs too.
    """
    if seconds is None or not math.isfinite(seconds) or seconds <= 0 or not timeout_supported():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise ItemTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def changed_tensors(module: nn.Module, pristine: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of ``module``'s state entries that differ from ``pristine`` (added or removed ones too)."""
    state = module.state_dict()
    changed = sorted(set(state) ^ set(pristine))
    for name, tensor in state.items():
        reference = pristine.get(name)
        if reference is None:
            continue
        current = tensor.detach().to("cpu")
        if current.shape != reference.shape or current.dtype != reference.dtype:
            changed.append(name)
        elif not torch.equal(current, reference):
            changed.append(name)
    return changed


def check_original_untouched(module: nn.Module, pristine: Mapping[str, torch.Tensor]) -> None:
    """:class:`ItemGuardError` when ``ctx.original`` no longer equals the original model's state."""
    changed = changed_tensors(module, pristine)
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise ItemGuardError(f"unlearn modified ctx.original in place ({shown}); it must stay frozen")


def is_out_of_memory(exc: BaseException) -> bool:
    """``MemoryError``, ``torch.cuda.OutOfMemoryError`` or a RuntimeError saying "out of memory"."""
    if isinstance(exc, MemoryError):
        return True
    oom_type: Any = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_memory(device: torch.device | None = None) -> None:
    """Give cached CUDA blocks back after an out-of-memory error (nothing to do on CPU)."""
    import gc

    gc.collect()
    if torch.cuda.is_available() and (device is None or device.type == "cuda"):
        torch.cuda.empty_cache()


def out_of_memory_message(exc: BaseException, where: str) -> str:
    """One line for the report: ``out of memory in unlearn (MemoryError: ...)``."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"out of memory in {where} ({type(exc).__name__}{': ' + detail if detail else ''})"
