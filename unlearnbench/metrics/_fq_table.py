"""The pure core shared by both backends of forgetting quality: the definition's constants and the ε table.

Both :mod:`unlearnbench.metrics.forgetting_quality` (numpy) and :mod:`unlearnbench.metrics._fq_torch` read
ε from :func:`ranked_table`, indexed by an attack's two error counts; keeping it here lets the torch
backend import it without importing the metric module (which imports the torch backend). numpy only.

Reference code: google-deepmind/unlearning_evaluation@ffae0fff4c3e ``metric.py`` 24-57 (δ, the ε cap,
thresholds per unit) and 165-301 (``_get_epsilons``); the record is ``ForgettingQuality.fidelity``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "BUFFER",
    "DELTA",
    "EPSILON_CAP",
    "NUM_LEFT",
    "PEAKINESS_RATIO",
    "THRESHOLDS_PER_UNIT",
    "epsilon_table",
    "ranked_table",
]

DELTA = 1e-5
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100
BUFFER = 2.0
NUM_LEFT = int(math.ceil(2 * BUFFER * THRESHOLDS_PER_UNIT))  # 400 left ends per right end
PEAKINESS_RATIO = 0.01


@functools.lru_cache(maxsize=16)
def epsilon_table(n_pos: int, n_neg: int, delta: float = DELTA) -> np.ndarray:
    """ε of an attack with FN false negatives and FP false positives: table[FN, FP], [n_pos+1, n_neg+1].

    +inf where FN = FP = 0 (perfect separation), −inf where the attack is discarded (exactly one of them is
    0) or ignored (both sides of the formula undefined); otherwise the formula with the undefined side left
    out, clipped below at 0. The array is read-only and shared.
    """
    fnr = (np.arange(n_pos + 1, dtype=np.float64) / n_pos)[:, None]
    fpr = (np.arange(n_neg + 1, dtype=np.float64) / n_neg)[None, :]
    room_fp, room_fn = 1 - delta - fpr, 1 - delta - fnr
    with np.errstate(divide="ignore", invalid="ignore"):
        # A side whose log argument is not positive is undefined (−inf), so the maximum takes the other.
        side1 = np.where(room_fp > 0, np.log(np.where(room_fp > 0, room_fp, 1.0)) - np.log(fnr), -np.inf)
        side2 = np.where(room_fn > 0, np.log(np.where(room_fn > 0, room_fn, 1.0)) - np.log(fpr), -np.inf)
    eps = np.maximum(side1, side2)
    eps = np.where(eps == -np.inf, -np.inf, np.maximum(eps, 0.0))
    zero_fn, zero_fp = fnr == 0, fpr == 0
    eps = np.where(zero_fn ^ zero_fp, -np.inf, eps)
    eps = np.where(zero_fn & zero_fp, np.inf, eps)
    eps.setflags(write=False)
    return eps


@functools.lru_cache(maxsize=16)
def ranked_table(n_pos: int, n_neg: int, delta: float = DELTA) -> tuple[np.ndarray, np.ndarray]:
    """The ε table as ranks, flat and padded, with the sorted distinct ε values the ranks point into.

    Index ``(n_pos − TP)·(2·n_neg + 1) + FP + n_neg``. Rows past n_pos (negative TP: an empty interval
    counted by subtraction) and columns below n_neg (negative FP) rank as −inf, so ``K[right end] +
    M[left end]`` needs no clamping; the last row is room for a sentinel. Ranks (int32) halve the memory
    of float64 values and keep the maximum exact: ``values[ranks[i].max()]``.
    """
    stride = 2 * n_neg + 1
    padded = np.full((2 * n_pos + 2, stride), -np.inf)
    padded[: n_pos + 1, n_neg:] = epsilon_table(n_pos, n_neg, delta)
    values, inverse = np.unique(padded.ravel(), return_inverse=True)
    ranks = inverse.astype(np.int32 if values.size < 2**31 else np.int64).ravel()
    ranks.setflags(write=False)
    values.setflags(write=False)
    return ranks, values
