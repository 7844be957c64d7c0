"""SalUn-soft against its reference, OPTML-Group/Unlearn-Saliency@a6e89fd ``Classification/unlearn/RL_pro.py``:
the soft-thresholding step, its decaying ratio, the anchor at each epoch's start and the mixed stream."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from test_fidelity_saliency_family import one_thread, record_passes  # noqa: F401 (one_thread: autouse fixture)

import unlearnbench.methods.salun_soft as salun_soft
from unlearnbench.methods.salun_soft import ProximalStep, SalUnSoft, kept_count, soft_threshold
from unlearnbench.testing import run_method, tiny_bench


def test_soft_threshold_by_hand() -> None:
    """RL_pro.py 55-58: t = 2nd smallest |d| = 0.5; |d| ≤ t back to the anchor, the rest shrunk by t."""
    anchor = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0])
    values = torch.tensor([4.0, -0.5, 1.2, 0.1, 0.8])  # d = 3, -0.5, 1.2, 0.1, -1.2
    out = soft_threshold(values, anchor, 2)
    assert torch.allclose(out, torch.tensor([3.5, 0.0, 0.7, 0.0, 1.3]))
    assert torch.equal(soft_threshold(values, anchor, 0), values)


def test_kept_count_decays_with_the_epoch_only() -> None:
    """RL_pro.py 53: int(ratio · (T − (e·L + 1)) / T · P) with T = E·L."""
    assert kept_count(0.5, 0, 2, 3, 100) == 41  # 0.5 · 5/6 · 100 = 41.67
    assert kept_count(0.5, 1, 2, 3, 100) == 16  # 0.5 · 2/6 · 100 = 16.67


def test_the_anchor_is_each_epochs_start() -> None:
    """RL_pro.py 15 runs once per epoch: the steps of epoch 2 shrink towards the weights epoch 1 ended with."""
    weight = torch.zeros(4)
    step = ProximalStep([weight], mask_ratio=0.5, epochs=2, steps_per_epoch=2, reference_steps=2)
    counts = [kept_count(0.5, e, 2, 2, 4) for e in (0, 0, 1, 1)]
    assert counts == [1, 1, 0, 0]  # int(0.5·3/4·4) = 1, then int(0.5·1/4·4) = 0
    weight.copy_(torch.tensor([1.0, 0.2, -2.0, 0.5]))
    step(None)  # type: ignore[arg-type]
    assert torch.allclose(weight, torch.tensor([0.8, 0.0, -1.8, 0.3]))  # t = 0.2 from the zeros
    weight.add_(0.1)
    step(None)  # type: ignore[arg-type]
    after_epoch_1 = weight.clone()  # t = 0.1 (0.1 is the smallest |d| from zero): [0.8, 0, -1.6, 0.3]
    assert torch.allclose(after_epoch_1, torch.tensor([0.8, 0.0, -1.6, 0.3]))
    weight.add_(1.0)
    step(None)  # type: ignore[arg-type]
    assert torch.allclose(weight, after_epoch_1 + 1.0)  # r = 0 in the last epoch: no shrinkage
    assert torch.equal(step.anchor, after_epoch_1)


def test_one_mixed_augmented_pass_per_epoch_and_every_step_thresholded(monkeypatch: pytest.MonkeyPatch) -> None:
    """RL_pro.py 20-61: one shuffled loader over forget ∪ retain, each step followed by the proximal step, at
    least r weights back at the epoch's start and r falling from epoch to epoch."""
    bench = tiny_bench("0.1")
    total = len(bench.data["forget"]) + len(bench.data["retain"])
    seen = record_passes(monkeypatch)
    calls: list[tuple[int, int]] = []
    real = salun_soft.soft_threshold

    def spy(values: torch.Tensor, anchor: torch.Tensor, count: int) -> Any:
        out = real(values, anchor, count)
        calls.append((count, int((out == anchor).sum())))
        return out

    monkeypatch.setattr(salun_soft, "soft_threshold", spy)
    run = run_method(SalUnSoft, {"epochs": 3, "batch_size": 64}, bench=bench)
    assert [(p.size, p.augment) for p in seen if p.training] == [(total, True)] * 3
    steps = -(-total // 64)
    assert len(calls) == 3 * steps
    counts = [count for count, _ in calls]
    assert counts[0] > counts[steps] > counts[2 * steps] and len(set(counts[:steps])) == 1
    assert all(kept >= count for count, kept in calls)
    moved = sum(int((a != b).sum()) for a, b in zip(run.before.parameters(), run.after.parameters(), strict=True))
    assert moved > 0
