"""Tests of unlearnbench.runner.guards: the item time limit, out-of-memory recognition, the frozen-original check."""

from __future__ import annotations

import signal
import time

import pytest
import torch
from torch import nn

from unlearnbench.runner.guards import ItemTimeout, changed_tensors, format_seconds, is_out_of_memory, time_limit


def test_time_limit_interrupts_python_code_and_restores_the_handler() -> None:
    previous = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    with pytest.raises(ItemTimeout, match=r"^timed out after 0.2 s$"), time_limit(0.2):
        while True:
            time.sleep(0.01)
    assert time.perf_counter() - start < 5
    assert signal.getsignal(signal.SIGALRM) is previous
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with time_limit(None):  # no limit: nothing armed
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_guard_helpers() -> None:
    assert format_seconds(5.0) == "5" and format_seconds(0.25) == "0.25"
    assert is_out_of_memory(MemoryError()) and is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    model = nn.Linear(2, 2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert changed_tensors(model, state) == []
    with torch.no_grad():
        model.bias.zero_()
        model.bias.add_(3.0)
    assert changed_tensors(model, state) == ["bias"]
    assert changed_tensors(model, {"weight": state["weight"]}) == ["bias"]
