"""Forgetting quality F of the NeurIPS 2023 Machine Unlearning Challenge, and its metric plugin.

F follows shared/docs/forgetting-quality.md (Triantafillou et al. 2024, "Are we making progress in
unlearning?"): per forget example, attacks on the logit-scaled confidence try to tell N unlearned models
from N retrained ones; the best attack gives ε, ε gives points (1, 1/2, 1/4, ... per 0.5), F is their mean.

Rates are counts in sorted arrays (``searchsorted``) and ε is read from a table indexed by the two error
counts. The ~400 × 400 interval attacks per example have left ends on one arithmetic lattice up to
rounding: counts are taken on the lattice, and thresholds where rounding could decide a side are recounted.
The constants and the ε table live in :mod:`unlearnbench.metrics._fq_table`, shared with the torch
backend (:mod:`unlearnbench.metrics._fq_torch`), and are re-exported here.

Choices the definition leaves open (each is tested): for pools of different sizes, max_ε is the largest
finite ε any attack can produce, rounded up (see :func:`max_epsilon`; the page's ceil(ln(N − 1)) when the
sizes are equal); no kept threshold gives ε = 0 (no attack tells the groups apart); on equal ranges the
negative group is the "narrow" one, as in the released code. Rates are exact float64 fractions (the
released code averages float32 indicators).

Reference code: the organisers' scoring code, google-deepmind/unlearning_evaluation@ffae0fff4c3e
``metric.py`` (``compute_forget_score_from_confs``, ``_get_epsilons`` and the two threshold families). It
always scores equal pools (512 and 512); for unequal pools it takes N from the unlearned pool alone, where
ours uses both sizes (identical at equal sizes). Its emptiness assert raises on every kept-threshold array
of more than one element, so the page's rules are followed there. See ``ForgettingQuality.fidelity``.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from unlearnbench.api import EvalContext, Resampling
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._fq_table import (
    BUFFER,
    DELTA,
    EPSILON_CAP,
    NUM_LEFT,
    PEAKINESS_RATIO,
    THRESHOLDS_PER_UNIT,
    epsilon_table,
    ranked_table,
)
from unlearnbench.metrics._fq_torch import epsilons_torch
from unlearnbench.metrics._memo import array_memo

if TYPE_CHECKING:
    import torch

__all__ = [
    "DELTA",
    "EPSILON_CAP",
    "ForgettingQuality",
    "cached_forgetting_quality",
    "check_population",
    "epsilon_points",
    "epsilon_table",
    "forgetting_quality",
    "linspace_at",
    "logit_scaled_confidence",
    "max_epsilon",
    "population_confidences",
    "ranked_table",
    "retrained_reference",
]

BUCKET_WIDTH = 0.5
#: Seed of the fixed split of the retrained pool into two halves for :func:`retrained_reference`.
REFERENCE_SEED = 0


# --------------------------------------------------------------------------- confidences and points


def logit_scaled_confidence(logits: Any, targets: Any) -> np.ndarray:
    """log(p_y + 1e-45) − log(Σ_{j≠y} p_j + 1e-45) in float64, p = softmax(z − max z).

    ``logits`` is [n, C] or [N, n, C] (N models); ``targets`` is [n]. Returns [n] or [N, n].
    """
    z = np.array(_to_numpy(logits), dtype=np.float64)
    y = np.asarray(_to_numpy(targets))
    if z.ndim not in (2, 3):
        raise ValueError(f"logits must have shape [n, C] or [N, n, C], got {z.shape}")
    if y.ndim != 1 or y.shape[0] != z.shape[-2]:
        raise ValueError(f"targets must have shape [{z.shape[-2]}], got {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= z.shape[-1]):
        raise ValueError(f"targets must be integers in [0, {z.shape[-1] - 1}]")
    z -= z.max(axis=-1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=-1, keepdims=True)
    index = np.broadcast_to(y[:, None], z.shape[:-1] + (1,))
    p_true = np.take_along_axis(probs, index, axis=-1)[..., 0]
    # The wrong-class mass is summed, not taken as 1 − p_y, which would round to 0 for confident models.
    np.put_along_axis(probs, index, 0.0, axis=-1)
    p_wrong = probs.sum(axis=-1)
    result: np.ndarray = np.log(p_true + 1e-45) - np.log(p_wrong + 1e-45)
    return result


def max_epsilon(n_models: int, n_other: int | None = None) -> int:
    """ε at or above which an example scores 0: ceil(ln(N − 1)) for two pools of N models.

    For pools of sizes a ≤ b it is ceil(ln(b·(a − 1)/a)): the largest finite ε, reached with one error
    of each kind, ln(1 − 1/a) − ln(1/b) at δ = 0, rounded up. For a = b that is the page's ceil(ln(N − 1)),
    and, as there, only capped ε (perfect separation, the peakiness guard) reaches it. 0 (no bucket at
    all) when the bound is ≤ 1, e.g. N ≤ 2.
    """
    small, big = sorted((n_models, n_models if n_other is None else n_other))
    if small < 2 or big * (small - 1) <= small:
        return 0
    return int(math.ceil(math.log(big * (small - 1) / small)))


def epsilon_points(epsilons: np.ndarray, n_models: int, n_other: int | None = None) -> np.ndarray:
    """Points per ε: 2^−k in bucket k = [0.5k, 0.5k + 0.5), 0 from max_ε(N) on."""
    eps = np.asarray(epsilons, dtype=np.float64)
    top = max_epsilon(n_models, n_other)
    # 2ε is exact in binary, so floor(2ε) is the bucket without any rounding at the edges.
    k = np.floor(eps / BUCKET_WIDTH)
    result: np.ndarray = np.where(eps < top, np.exp2(-k), 0.0)
    return result


# --------------------------------------------------------------------------- thresholds


def linspace_at(start: np.ndarray, stop: np.ndarray, num: int, index: np.ndarray) -> np.ndarray:
    """Element ``index`` of ``np.linspace(start, stop, num)``, bit for bit, elementwise."""
    start = np.asarray(start, dtype=np.float64)
    stop = np.asarray(stop, dtype=np.float64)
    i = np.asarray(index, dtype=np.float64)
    if num == 1:
        return start + 0.0 * i
    delta = stop - start
    step = delta / (num - 1)
    with np.errstate(invalid="ignore"):
        y = np.where(step == 0, i / (num - 1) * delta, i * step) + start
    return np.where(i == num - 1, stop, y)


def _lattice(n_right: int) -> tuple[int, int]:
    """(a, b) with left end (k, j) at lattice point a·k + b·j, spacing (2·buffer / 399) / b."""
    if n_right <= 1:
        return 1, 1
    g = math.gcd(NUM_LEFT - 1, n_right - 1)
    return (NUM_LEFT - 1) // g, (n_right - 1) // g


def _buffer(work: dict[tuple[str, int, str], np.ndarray], name: str, size: int, dtype: Any) -> np.ndarray:
    """A scratch array reused across the examples of one call: fresh multi-megabyte arrays for every
    example would cost page faults that dominate the 160k-element passes."""
    key = (name, size, np.dtype(dtype).str)
    if key not in work:
        work[key] = np.empty(size, dtype=dtype)
    return work[key]


def _single_threshold_best(pos: np.ndarray, neg: np.ndarray, delta: float) -> float:
    """Best ε of family A ("conf ≥ t"), pos/neg sorted; −inf when no threshold is kept."""
    ranks, values = ranked_table(pos.size, neg.size, delta)
    low, high = min(pos[0], neg[0]), max(pos[-1], neg[-1])
    count = int(np.ceil((high - low) * THRESHOLDS_PER_UNIT))
    if count == 0:
        return -math.inf
    t = np.linspace(low, high, count)
    fn = np.searchsorted(pos, t, side="left")
    fp = neg.size - np.searchsorted(neg, t, side="left")
    return float(values[ranks[fn * (2 * neg.size + 1) + fp + neg.size].max()])


class _RightEnds(NamedTuple):
    """The right ends of family B and what each contributes to the flat table index."""

    #: Number of right ends (rows of thresholds), ``ceil((high − low) · 100)``.
    n_right: int
    #: First and last right end.
    low: float
    high: float
    #: Range of each right end's 400 left ends, for ``linspace``.
    starts: np.ndarray
    stops: np.ndarray
    #: K[k]: the right end's share of the flat table index; the left end adds P_l·stride − Q_l.
    base_k: np.ndarray


def _right_ends(narrow: np.ndarray, wide: np.ndarray, dtype: np.dtype[Any]) -> _RightEnds | None:
    """The right ends over [min + width − buffer, max + buffer] of the narrow group; None when there are none."""
    n_p, n_n = narrow.size, wide.size
    stride = 2 * n_n + 1
    width = narrow[-1] - narrow[0]
    low = (narrow[0] + width) - BUFFER
    high = narrow[-1] + BUFFER
    n_right = int(np.ceil((high - low) * THRESHOLDS_PER_UNIT))
    if n_right == 0:
        return None
    right = np.linspace(low, high, n_right)
    starts = (right - width) - BUFFER
    stops = (right - width) + BUFFER
    base_k = (n_p - np.searchsorted(narrow, right, side="right")) * stride
    base_k += np.searchsorted(wide, right, side="right") + n_n
    return _RightEnds(n_right, low, high, starts, stops, base_k.astype(dtype))


def _interval_best(narrow: np.ndarray, wide: np.ndarray, delta: float, work: dict[Any, np.ndarray]) -> float:
    """Best ε of family B ("l ≤ conf ≤ r", narrow group positive), both sorted; −inf when none kept."""
    table = ranked_table(narrow.size, wide.size, delta)
    ends = _right_ends(narrow, wide, table[0].dtype)
    if ends is None:
        return -math.inf
    scale = 8.0 + max(abs(narrow[0]), abs(narrow[-1]), abs(wide[0]), abs(wide[-1]))
    tol = 1e-9 * scale
    a, b = _lattice(ends.n_right)
    spacing = 2 * BUFFER / (NUM_LEFT - 1) / b
    if abs((ends.high - ends.low) - 2 * BUFFER) > tol or spacing <= 8 * tol:
        # Magnitudes so large that the thresholds are no longer a lattice: count every one exactly.
        k = np.repeat(np.arange(ends.n_right), NUM_LEFT)
        lefts = linspace_at(ends.starts[k], ends.stops[k], NUM_LEFT, np.tile(np.arange(NUM_LEFT), ends.n_right))
        return _exact_left_ends(narrow, wide, table, ends.base_k[k], lefts)

    # Left end (k, j) is base + spacing·(a·k + b·j) up to rounding far below ``tol``. Count each group
    # below every lattice point once; a confidence within ``tol`` of a lattice point is ambiguous, so the
    # thresholds at that point are recounted exactly from their true values.
    q_max = a * (ends.n_right - 1) + b * (NUM_LEFT - 1)
    lattice_m, patch_q = _lattice_counts(narrow, wide, float(ends.starts[0]), spacing, tol, q_max, work)
    best = _lattice_best(lattice_m[: q_max + 1], ends, (a, b), table, work)
    if patch_q.size:
        best = max(best, _recount_flagged(narrow, wide, table, ends, patch_q, (a, b)))
    return best


def _lattice_counts(
    narrow: np.ndarray,
    wide: np.ndarray,
    base: float,
    spacing: float,
    tol: float,
    q_max: int,
    work: dict[Any, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """M[q] = P·stride − Q below lattice point q (sentinel at flagged points), and the flagged points."""
    stride = 2 * wide.size + 1
    lattice_m = _buffer(work, "lattice", q_max + 2, np.int64)
    lattice_m.fill(0)
    flagged: list[np.ndarray] = []
    for values_g, weight in ((narrow, stride), (wide, -1)):
        u = (values_g - base) / spacing
        nearest = np.rint(u)
        near = np.abs(u - nearest) * spacing <= tol
        # Off the lattice, "x < left end q" is "q ≥ floor(u) + 1".
        first = np.where(near, nearest, np.floor(u) + 1)
        np.add.at(lattice_m, np.clip(first, 0, q_max + 1).astype(np.int64), weight)
        flagged.append(nearest[near & (nearest >= 0) & (nearest <= q_max)].astype(np.int64))
    np.cumsum(lattice_m, out=lattice_m)
    patch_q = np.unique(np.concatenate(flagged))
    # A sentinel sends every threshold at a flagged point to the −inf rows; they are redone below.
    lattice_m[patch_q] = (narrow.size + 1) * stride
    return lattice_m, patch_q


def _lattice_best(
    lattice_m: np.ndarray,
    ends: _RightEnds,
    steps: tuple[int, int],
    table: tuple[np.ndarray, np.ndarray],
    work: dict[Any, np.ndarray],
) -> float:
    """Best ε over every threshold (k, j), reading left end (k, j) at lattice point a·k + b·j."""
    ranks, values = table
    a, b = steps
    n_right = ends.n_right
    m_small = lattice_m.astype(ranks.dtype)
    if a == 1 and b == 1:
        m = np.lib.stride_tricks.sliding_window_view(m_small, NUM_LEFT)[:n_right]
    else:
        m = m_small[a * np.arange(n_right)[:, None] + b * np.arange(NUM_LEFT)[None, :]]
    index = _buffer(work, "index", n_right * NUM_LEFT, ranks.dtype).reshape(n_right, NUM_LEFT)
    np.add(ends.base_k[:, None], m, out=index)
    picked = _buffer(work, "picked", n_right * NUM_LEFT, ranks.dtype).reshape(n_right, NUM_LEFT)
    np.take(ranks, index, out=picked)
    return float(values[picked.max()])


def _recount_flagged(
    narrow: np.ndarray,
    wide: np.ndarray,
    table: tuple[np.ndarray, np.ndarray],
    ends: _RightEnds,
    patch_q: np.ndarray,
    steps: tuple[int, int],
) -> float:
    """Best ε of the thresholds whose left end sits at a flagged lattice point, from their true values."""
    a, b = steps
    k_all = np.arange(ends.n_right)
    j_num = patch_q[:, None] - a * k_all[None, :]
    ok = (j_num % b == 0) & (j_num >= 0) & (j_num <= b * (NUM_LEFT - 1))
    _, k = np.nonzero(ok)
    j = j_num[ok] // b
    lefts = linspace_at(ends.starts[k], ends.stops[k], NUM_LEFT, j)
    return _exact_left_ends(narrow, wide, table, ends.base_k[k], lefts)


def _exact_left_ends(
    narrow: np.ndarray, wide: np.ndarray, table: tuple[np.ndarray, np.ndarray], base_k: Any, lefts: Any
) -> float:
    """Best ε of the interval thresholds with these left ends (right ends folded into ``base_k``)."""
    if lefts.size == 0:
        return -math.inf
    p_l = np.searchsorted(narrow, lefts, side="left")
    q_l = np.searchsorted(wide, lefts, side="left")
    return float(table[1][table[0][base_k + p_l * (2 * wide.size + 1) - q_l].max()])


def _sorted_median(sorted_rows: np.ndarray) -> np.ndarray:
    """Row medians of row-sorted values, bit-identical to ``np.median`` (mean of the middle pair)."""
    n = sorted_rows.shape[1]
    result: np.ndarray = (sorted_rows[:, (n - 1) // 2] + sorted_rows[:, n // 2]) / 2
    return result


def _epsilons_numpy(unlearned: np.ndarray, retrained: np.ndarray, delta: float) -> np.ndarray:
    """Per-example ε, [S], from confidences [N_u, S] and [N_r, S]."""
    us = np.sort(unlearned.T, axis=1)
    rs = np.sort(retrained.T, axis=1)
    # Positive group: the retrained pool if its median is strictly larger, else the unlearned pool.
    retrained_pos = _sorted_median(rs) > _sorted_median(us)
    u_range, r_range = us[:, -1] - us[:, 0], rs[:, -1] - rs[:, 0]
    small, large = np.minimum(u_range, r_range), np.maximum(u_range, r_range)
    with np.errstate(divide="ignore", invalid="ignore"):
        peaky = (large == 0) | (small / large < PEAKINESS_RATIO)
    eps = np.full(us.shape[0], EPSILON_CAP)
    work: dict[Any, np.ndarray] = {}
    for s in np.flatnonzero(~peaky):
        pos, neg = (rs[s], us[s]) if retrained_pos[s] else (us[s], rs[s])
        best = _single_threshold_best(pos, neg, delta)
        narrow, wide = (neg, pos) if pos[-1] - pos[0] >= neg[-1] - neg[0] else (pos, neg)
        best = max(best, _interval_best(narrow, wide, delta, work))
        # −inf: no threshold kept, no attack tells the groups apart (ε = 0); +inf: perfect separation.
        eps[s] = min(max(best, 0.0), EPSILON_CAP)
    return eps


# --------------------------------------------------------------------------- F


def _to_numpy(values: Any) -> Any:
    """A torch tensor as a CPU numpy array; anything else unchanged."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        return values.detach().cpu().numpy()
    return values


def _is_tensor(values: Any) -> bool:
    return type(values).__module__.startswith("torch")


def _check_confs(unlearned: np.ndarray, retrained: np.ndarray) -> None:
    """Shapes [N_u, S] and [N_r, S] with S ≥ 1, N ≥ 1, all finite."""
    for what, arr in (("unlearned_confs", unlearned), ("retrained_confs", retrained)):
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"{what} must have shape [models ≥ 1, examples ≥ 1], got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} contains non-finite values")
    if unlearned.shape[1] != retrained.shape[1]:
        raise ValueError(
            f"both pools must score the same forget examples: {unlearned.shape[1]} vs {retrained.shape[1]}"
        )


def forgetting_quality(
    unlearned_confs: np.ndarray | torch.Tensor,
    retrained_confs: np.ndarray | torch.Tensor,
    delta: float = DELTA,
    backend: str = "auto",
) -> tuple[float, np.ndarray]:
    """F and the per-example ε from confidences of shape [N_u models, S] and [N_r models, S].

    The pools may differ in size (see :func:`max_epsilon` for the points scale). ``backend`` is
    ``"numpy"``, ``"torch"`` (on the tensors' device) or ``"auto"`` (torch when given tensors); both give
    identical results. ε has shape [S], float64, in [0, 50].
    """
    if not 0 <= delta < 1:
        raise ValueError(f"delta must lie in [0, 1), got {delta}")
    if backend not in ("auto", "numpy", "torch"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', got {backend!r}")
    use_torch = backend == "torch" or (
        backend == "auto" and (_is_tensor(unlearned_confs) or _is_tensor(retrained_confs))
    )
    u_np = np.asarray(_to_numpy(unlearned_confs), dtype=np.float64)
    r_np = np.asarray(_to_numpy(retrained_confs), dtype=np.float64)
    _check_confs(u_np, r_np)
    if use_torch:
        eps = epsilons_torch(unlearned_confs, retrained_confs, delta)
    else:
        eps = _epsilons_numpy(u_np, r_np, delta)
    return float(np.mean(epsilon_points(eps, u_np.shape[0], r_np.shape[0]))), eps


def _reference_halves(n_retrained: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of N // 2 retrained models each, from a fixed seeded permutation."""
    half = n_retrained // 2
    if half < 2:
        raise MetricNotApplicable(
            f"the retrained reference needs two halves of at least 2 models, got {n_retrained} retrained"
        )
    if max_epsilon(half) == 0:
        raise MetricNotApplicable(
            f"halves of {half} retrained models leave no ε bucket (ceil(ln({half} - 1)) = 0), so the "
            f"reference F would be 0 by construction; use at least 6 retrained models"
        )
    order = np.random.default_rng(seed).permutation(n_retrained)
    return order[:half], order[half : 2 * half]


@array_memo(maxsize=16)
def retrained_reference(
    retrained_confs: np.ndarray, delta: float = DELTA, seed: int = REFERENCE_SEED
) -> float:
    """F of one half of the retrained pool against the other: what a perfect unlearner scores at N/2.

    Raises ValueError when the halves have fewer than 3 models (no bucket exists below that).
    """
    r = np.asarray(_to_numpy(retrained_confs), dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"retrained_confs must have shape [models, examples], got {r.shape}")
    first, second = _reference_halves(r.shape[0], seed)
    return forgetting_quality(r[first], r[second], delta, backend="numpy")[0]


# --------------------------------------------------------------------------- metric plugin


def population_confidences(ctx: EvalContext) -> tuple[np.ndarray, np.ndarray]:
    """Forget-set confidences of the replicates [S, n] and of the retrained models [R, n]."""
    labels = ctx.labels["forget"]
    if not ctx.replicates or not ctx.oracle_outputs:
        raise ValueError("forgetting quality needs unlearned replicates and retrained models, got none")
    u = np.stack([logit_scaled_confidence(o["forget"], labels) for o in ctx.replicates])
    r = np.stack([logit_scaled_confidence(o["forget"], labels) for o in ctx.oracle_outputs])
    return u, r


_CACHE: dict[bytes, tuple[float, np.ndarray]] = {}


def cached_forgetting_quality(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> float:
    """F of these confidences, memoised by content: the two metrics of one item share it."""
    return cached_forgetting_quality_eps(unlearned, retrained, delta)[0]


def cached_forgetting_quality_eps(
    unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA
) -> tuple[float, np.ndarray]:
    """F and the per-example ε (read-only), memoised by content (the value and its bootstrap share it)."""
    digest = hashlib.sha256()
    for arr in (unlearned, retrained):
        digest.update(repr(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    digest.update(repr(float(delta)).encode())
    key = digest.digest()
    if key not in _CACHE:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        value, eps = forgetting_quality(unlearned, retrained, delta, backend="numpy")
        eps.setflags(write=False)
        _CACHE[key] = (value, eps)
    return _CACHE[key]


def check_population(n_unlearned: int, n_retrained: int) -> None:
    """Raise ValueError unless F has at least one ε bucket at these pool sizes (not 2 and 2, not 1)."""
    if max_epsilon(n_unlearned, n_retrained) == 0:
        raise MetricNotApplicable(
            f"forgetting quality with {n_unlearned} unlearned and {n_retrained} retrained models has no "
            "ε bucket (max_ε = 0), so F would be 0 by construction; use at least 2 replicate seeds and "
            "3 retrained models (or 3 and 2)"
        )


class ForgettingQuality:
    """F of the NeurIPS 2023 unlearning challenge (S unlearned vs R retrained), beside F_ref.

    F_ref is F of two disjoint halves of the retrained pool: the score of a perfect unlearner at that N,
    the number to read F against (it is below 1 because ε is a maximum over ~10^5 attacks).
    """

    name: ClassVar[str] = "forgetting_quality"
    description: ClassVar[str] = (
        "Forgetting quality F of the NeurIPS 2023 Machine Unlearning Challenge (Triantafillou et al. 2024, "
        '"Are we making progress in unlearning?"), with F_ref = retrained half vs half'
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    columns: ClassVar[tuple[str, ...]] = ("F", "F_ref")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"F": True, "F_ref": None}
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper='Triantafillou et al. 2024, "Are we making progress in unlearning? Findings from the first NeurIPS '
        'unlearning competition": forgetting quality F (shared/docs/forgetting-quality.md)',
        repository="google-deepmind/unlearning_evaluation",
        commit="ffae0fff4c3e9523b22618c47df6c26e4eebe0df",
        loop=(
            Source(
                "metric.py", "304-349",
                note="compute_forget_score_from_confs: positive group = larger median (314-321), ε per example, "
                "max_ε = ceil(ln(N_u − 1)) (326-327), buckets of 0.5 worth 1, 1/2, ... (329-339), F = mean points",
            ),
            Source(
                "metric.py", "165-301",
                note="_get_epsilons: peakiness ratio < 0.01 → cap (184-200), FPR = FNR = 0 → inf (223-235), one "
                "of them 0 → discarded (237-248), ε = nanmax of the two sides clipped at 0 (250-269), max over kept "
                "thresholds, clipped to [0, 50] (285-300)",
            ),
            Source(
                "metric.py", "132-162",
                note="single threshold: linspace(min, max, ceil(range · 100)) over both pools, positive iff ≥ t",
            ),
            Source(
                "metric.py", "64-129",
                note="interval: narrow group positive (the negative one on equal ranges, 73), buffer 2.0 (77), right "
                "ends over [min + width − 2, max + 2] at 100 per unit, 400 left ends each (86), l ≤ conf ≤ r",
            ),
            Source("metric.py", "24-57", note="δ = 1e-5, ε cap 50, 100 thresholds per unit; the confidence φ"),
            Source("main.py", "292-297", note="accuracies averaged over the N models of each pool"),
            Source(
                "README.md", "39-41",
                note="both pools run _NUM_MODELS times (512): the code only ever sees equal pools",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="Pools of different sizes a ≤ b (the bench's default S = 3 replicates vs R = 6 oracles): "
                "max_ε = ceil(ln(b(a − 1)/a)), the largest finite ε any attack can produce; the released code "
                "takes ceil(ln(N − 1)) with N the unlearned pool's size (metric.py:326-327). Equal when a = b.",
                why="The released formula is that same bound for two pools of N; the code never runs with unequal "
                "pools (README.md:39-41), and N_u alone makes F collapse when S is small (S = 3: one pair of "
                "buckets, [0, 1)), scoring 0 for ε the pools can reach.",
                effect="Digits, random 10 % forget, S = 3, R = 6: F of finetune[epochs=5,lr=0.1] 0.127 ours vs "
                "0.000 with N_u; retrain 0.254 vs 0.050; class:3 retrain 0.270 vs 0.074. At S = R identical.",
            ),
            Difference(
                what="Rates are exact float64 fractions and ε is float64; the released code averages float32 "
                "indicators and takes the logs in float32 (metric.py:117-127, 157-160, 255-262), and spaces the "
                "single thresholds with torch.linspace (144; ours np.linspace, as for the interval family).",
                why="Exact counts; the page defines the rates, not their rounding.",
                effect="Digits (7 items × 120 forget examples, S = 3, R = 6), against our own brute-force "
                "emulation of the released arithmetic: 0 bucket changes, max |Δε| 7.8e-8, F identical.",
            ),
            Difference(
                what="φ from float64 logits; the released code exponentiates in the logits' dtype (float32) and "
                "then casts (metric.py:44).",
                why="No precision lost for confident models.",
                effect="Digits: max |Δφ| 5.3e-7; F identical on all 7 items.",
            ),
            Difference(
                what="Extra column F_ref: F of two disjoint halves of the retrained pool.",
                why="The write-up asks to report F beside the value retrained-vs-retrained achieves.",
                effect="None on F (a separate column).",
            ),
        ),
        paper_over_code=(
            "No kept threshold: the write-up asks to treat it explicitly (ε = 0 here: no attack tells the pools "
            "apart); metric.py:285 'assert thr_eps' on a numpy array fails for an empty one and raises for any "
            "array of more than one element, so the released code cannot run past it as published.",
            "Both ranges 0: the write-up counts the ratio as < 0.01 (ε = the cap); metric.py:188 computes 0/0 = "
            "NaN, which passes the guard, and then discards every threshold (the failing assert above).",
        ),
    )

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """F of the replicates against the oracles, and the oracle pool's own half-vs-half F."""
        u, r = population_confidences(ctx)
        check_population(u.shape[0], r.shape[0])
        values = {"F": cached_forgetting_quality(u, r)}
        try:
            values["F_ref"] = retrained_reference(r)
        except MetricNotApplicable:
            pass  # F_ref needs >= 6 retrained models; its cell stays empty ("—"), F is still valid
        return values

    def resampling(self, ctx: EvalContext) -> Resampling:
        """F is the mean of per-forget-example points, so the bootstrap resamples those points."""
        u, r = population_confidences(ctx)
        check_population(u.shape[0], r.shape[0])
        points = epsilon_points(cached_forgetting_quality_eps(u, r)[1], u.shape[0], r.shape[0])
        return Resampling((points,), lambda p: {"F": float(np.mean(p))})


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`ForgettingQuality`."""
    return [ForgettingQuality]
