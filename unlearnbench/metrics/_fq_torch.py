"""The torch backend of forgetting quality: the same per-example ε, batched over examples, on any device.

It materialises every threshold (family A: ``ceil(range·100)`` single thresholds; family B: ~400 right ends
× 400 left ends) with numpy's ``linspace`` arithmetic, counts each group with ``torch.searchsorted`` and
reads ε from the same ranked table as the numpy backend. It does not use the numpy backend's lattice
shortcut, so the two are independent computations of one definition and agree bit for bit (float64
add, multiply and divide are correctly rounded on CPU and GPU alike).

Reference code: google-deepmind/unlearning_evaluation@ffae0fff4c3e ``metric.py`` 64-162 (the two threshold
families, materialised there too, on CUDA); the record and its differences are ``ForgettingQuality.fidelity``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unlearnbench.metrics._fq_table import (
    BUFFER,
    EPSILON_CAP,
    NUM_LEFT,
    PEAKINESS_RATIO,
    THRESHOLDS_PER_UNIT,
    ranked_table,
)

__all__ = ["epsilons_torch", "linspace_at"]

#: Examples per batch: every example of family B holds ~160k thresholds and their counts (~7 MB).
_CHUNK = {"cpu": 8, "cuda": 256}


def linspace_at(
    start: torch.Tensor, stop: torch.Tensor, num: torch.Tensor, index: torch.Tensor
) -> torch.Tensor:
    """Element ``index`` of ``np.linspace(start, stop, num)``, bit for bit; all arguments broadcast.

    ``num`` may differ per element (an integer tensor); ``index`` must be below it (others are junk).
    """
    i = index.to(torch.float64)
    div = (num - 1).clamp(min=1).to(torch.float64)
    delta = stop - start
    step = delta / div
    # numpy multiplies the index by the step, or, when the step underflows to 0, divides first.
    y = torch.where(step == 0, (i / div) * delta, i * step) + start
    y = torch.where(i == (num - 1).to(torch.float64), stop, y)
    return torch.where(num == 1, start + 0.0 * i, y)


def _as_tensor(values: Any, device: torch.device) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().to(device=device, dtype=torch.float64)
    return torch.as_tensor(np.asarray(values, dtype=np.float64), device=device)


def _table(n_pos: int, n_neg: int, delta: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ranks, values = ranked_table(n_pos, n_neg, delta)
    return torch.from_numpy(ranks.astype(np.int64)).to(device), torch.from_numpy(values.copy()).to(device)


def _single_threshold_best(pos: torch.Tensor, neg: torch.Tensor, delta: float) -> torch.Tensor:
    """Best ε of family A per row: pos [B, Np] and neg [B, Nn] sorted; −inf where nothing is kept."""
    n_p, n_n = pos.shape[1], neg.shape[1]
    ranks, values = _table(n_p, n_n, delta, pos.device)
    low = torch.minimum(pos[:, 0], neg[:, 0])
    high = torch.maximum(pos[:, -1], neg[:, -1])
    count = torch.ceil((high - low) * THRESHOLDS_PER_UNIT).to(torch.int64)
    width = int(count.max().item()) if count.numel() else 0
    if width == 0:
        return torch.full_like(low, -torch.inf)
    index = torch.arange(width, device=pos.device)[None, :]
    t = linspace_at(low[:, None], high[:, None], count[:, None], index)
    fn = torch.searchsorted(pos, t, right=False)
    fp = n_n - torch.searchsorted(neg, t, right=False)
    picked = ranks[fn * (2 * n_n + 1) + fp + n_n]
    picked = torch.where(index < count[:, None], picked, torch.zeros_like(picked))
    return values[picked.amax(dim=1)]


def _interval_best(narrow: torch.Tensor, wide: torch.Tensor, delta: float) -> torch.Tensor:
    """Best ε of family B per row: narrow [B, Np] (positive) and wide [B, Nn], sorted."""
    n_p, n_n = narrow.shape[1], wide.shape[1]
    stride = 2 * n_n + 1
    device = narrow.device
    ranks, values = _table(n_p, n_n, delta, device)
    width = narrow[:, -1] - narrow[:, 0]
    low = (narrow[:, 0] + width) - BUFFER
    high = narrow[:, -1] + BUFFER
    n_right = torch.ceil((high - low) * THRESHOLDS_PER_UNIT).to(torch.int64)
    most = int(n_right.max().item())
    if most == 0:
        return torch.full_like(low, -torch.inf)
    k = torch.arange(most, device=device)[None, :]
    right = linspace_at(low[:, None], high[:, None], n_right[:, None], k)  # [B, K]
    starts = (right - width[:, None]) - BUFFER
    stops = (right - width[:, None]) + BUFFER
    j = torch.arange(NUM_LEFT, device=device)[None, None, :]
    lefts = linspace_at(starts[:, :, None], stops[:, :, None], torch.tensor(NUM_LEFT, device=device), j)
    rows = lefts.shape[0]
    lefts = lefts.reshape(rows, -1)
    p_r = torch.searchsorted(narrow, right, right=True)
    q_r = torch.searchsorted(wide, right, right=True)
    base_k = (n_p - p_r) * stride + q_r + n_n  # [B, K]
    p_l = torch.searchsorted(narrow, lefts, right=False).reshape(rows, most, NUM_LEFT)
    q_l = torch.searchsorted(wide, lefts, right=False).reshape(rows, most, NUM_LEFT)
    picked = ranks[base_k[:, :, None] + p_l * stride - q_l]
    valid = (k < n_right[:, None])[:, :, None]
    picked = torch.where(valid, picked, torch.zeros_like(picked))
    return values[picked.reshape(rows, -1).amax(dim=1)]


def _sorted_median(sorted_rows: torch.Tensor) -> torch.Tensor:
    n = sorted_rows.shape[1]
    return (sorted_rows[:, (n - 1) // 2] + sorted_rows[:, n // 2]) / 2


def _best_by_group(
    first: torch.Tensor,
    second: torch.Tensor,
    first_is_pos: torch.Tensor,
    family: Any,
    delta: float,
) -> torch.Tensor:
    """Run a family with (pos, neg) = (first, second) where ``first_is_pos``, else swapped."""
    out = torch.empty(first.shape[0], dtype=torch.float64, device=first.device)
    for flag in (True, False):
        rows = torch.nonzero(first_is_pos == flag).flatten()
        if rows.numel() == 0:
            continue
        a, b = first[rows], second[rows]
        out[rows] = family(a, b, delta) if flag else family(b, a, delta)
    return out


def epsilons_torch(unlearned: Any, retrained: Any, delta: float, chunk: int | None = None) -> np.ndarray:
    """Per-example ε, [S] float64 numpy, from confidences [N_u, S] and [N_r, S] (tensors or arrays).

    Runs on the device of the given tensors (CPU for numpy input).
    """
    device = next(
        (v.device for v in (unlearned, retrained) if isinstance(v, torch.Tensor)), torch.device("cpu")
    )
    us = torch.sort(_as_tensor(unlearned, device).T.contiguous(), dim=1).values
    rs = torch.sort(_as_tensor(retrained, device).T.contiguous(), dim=1).values
    retrained_pos = _sorted_median(rs) > _sorted_median(us)
    u_range, r_range = us[:, -1] - us[:, 0], rs[:, -1] - rs[:, 0]
    small, large = torch.minimum(u_range, r_range), torch.maximum(u_range, r_range)
    peaky = (large == 0) | (small / large < PEAKINESS_RATIO)
    # The narrow group is the negative one when the ranges tie (the released code swaps on >=).
    pos_range = torch.where(retrained_pos, r_range, u_range)
    neg_range = torch.where(retrained_pos, u_range, r_range)
    narrow_is_retrained = torch.where(pos_range >= neg_range, ~retrained_pos, retrained_pos)

    eps = torch.full((us.shape[0],), EPSILON_CAP, dtype=torch.float64, device=device)
    todo = torch.nonzero(~peaky).flatten()
    size = chunk or _CHUNK.get(device.type, 8)
    for begin in range(0, todo.numel(), size):
        rows = todo[begin : begin + size]
        u_b, r_b = us[rows], rs[rows]
        best_a = _best_by_group(r_b, u_b, retrained_pos[rows], _single_threshold_best, delta)
        best_b = _best_by_group(r_b, u_b, narrow_is_retrained[rows], _interval_best, delta)
        best = torch.maximum(best_a, best_b)
        # −inf: no threshold kept (ε = 0); +inf: perfect separation (ε = the cap).
        eps[rows] = best.clamp(min=0.0, max=EPSILON_CAP)
    result: np.ndarray = eps.cpu().numpy()
    return result
