"""Interval estimates for the bench's numbers: Student-t over seeds, paired differences, percentile bootstrap.

Which interval answers which question:

* :func:`t_interval` — the spread of a metric over replicate seeds. Seeds are few (3–10) and their values
  roughly normal, where a bootstrap of so few values under-covers; this is the interval of
  :func:`unlearnbench.results.summarise` (identical numbers at 95 %).
* :func:`paired_difference` — "is method A better than method B?" on the same seeds. Pairing removes the
  variance the two share through the seed (same split, same oracle, same initialisation), so the interval
  of the mean difference is much narrower than the overlap of two separate intervals suggests.
* :func:`bootstrap_interval` — the uncertainty of a statistic of one model's many per-example values
  (an AUC, a mean loss over thousands of forget examples), where no closed form is at hand and the
  sample is large enough for the percentile bootstrap to be accurate.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearnbench.results import t_quantile_975

__all__ = [
    "Interval", "PairedDifference", "bootstrap_interval", "paired_difference", "stratified_bootstrap", "t_interval",
]  # fmt: skip

#: Elements of resampled data materialised at once by the vectorised bootstrap (about 128 MB of float64).
_BATCH_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval (``low``/``high`` None where undefined)."""

    estimate: float
    low: float | None
    high: float | None
    n: int
    confidence: float

    @property
    def half_width(self) -> float | None:
        """Half the interval's length (None where the interval is undefined)."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2.0


@dataclass(frozen=True)
class PairedDifference(Interval):
    """Mean of paired differences ``a - b`` with its t-interval and the two-sided paired t-test p-value."""

    p_value: float | None = None


def _check_confidence(confidence: float) -> float:
    level = float(confidence)
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return level


def _t_quantile(confidence: float, dof: int) -> float:
    """The two-sided critical value of Student's t; at 95 % the exact value ``summarise`` uses."""
    if confidence == 0.95:
        return t_quantile_975(dof)
    from scipy import special  # stats.t.ppf's own kernel, without importing scipy.stats

    return float(special.stdtrit(dof, (1.0 + confidence) / 2.0))


def _finite_values(values: Sequence[float] | np.ndarray, what: str) -> list[float]:
    clean = [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
    if not clean:
        raise ValueError(f"{what} needs at least one value, got none")
    bad = sum(1 for v in clean if not math.isfinite(v))
    if bad:
        raise ValueError(f"{what} got {bad} non-finite value(s) (NaN or inf)")
    return clean


def _mean_std(clean: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1), summed with ``math.fsum`` as ``summarise`` does."""
    n = len(clean)
    mean = math.fsum(clean) / n
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in clean) / (n - 1))


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Mean ± t_{(1+c)/2, n−1} · s/√n over replicate values (s: sample standard deviation).

    The Student-t interval assumes roughly normal values and is exact for them at any n ≥ 2; it is the
    right interval for a handful of seeds, where resampling methods cannot see the tails. With one value
    the interval is undefined (``low``/``high`` None). At 95 % the bounds equal those of
    :func:`unlearnbench.results.summarise` exactly.
    """
    level = _check_confidence(confidence)
    clean = _finite_values(values, "t_interval")
    n = len(clean)
    if n == 1:
        return Interval(estimate=clean[0], low=None, high=None, n=1, confidence=level)
    mean, std = _mean_std(clean)
    half = _t_quantile(level, n - 1) * std / math.sqrt(n)
    return Interval(estimate=mean, low=mean - half, high=mean + half, n=n, confidence=level)


def paired_difference(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> PairedDifference:
    """Mean of ``a[i] - b[i]`` over paired values (same seeds) with its t-interval and paired t-test p.

    This is :func:`t_interval` of the differences, so it inherits its assumptions; the p-value is that
    of ``scipy.stats.ttest_rel(a, b)`` (two-sided). When every difference is equal the standard error is
    0: the interval collapses to the point and p is 1.0 if the difference is 0, else 0.0 (where scipy
    returns NaN). With one pair, interval and p are None.
    """
    first = _finite_values(a, "paired_difference (a)")
    second = _finite_values(b, "paired_difference (b)")
    if len(first) != len(second):
        raise ValueError(f"paired values must have equal lengths, got {len(first)} and {len(second)}")
    diffs = [x - y for x, y in zip(first, second, strict=True)]
    base = t_interval(diffs, confidence)
    p_value: float | None = None
    if base.n >= 2:
        _, std = _mean_std(diffs)
        if std == 0.0:
            p_value = 1.0 if base.estimate == 0.0 else 0.0
        else:
            from scipy import special  # stats.t.sf's own kernel, without importing scipy.stats

            t_stat = base.estimate / (std / math.sqrt(base.n))
            p_value = float(2.0 * special.stdtr(base.n - 1, -abs(t_stat)))
    return PairedDifference(
        estimate=base.estimate, low=base.low, high=base.high, n=base.n, confidence=base.confidence,
        p_value=p_value,
    )  # fmt: skip


def _accepts_axis(statistic: Callable[..., Any]) -> bool:
    """Whether ``statistic`` takes an ``axis`` argument (numpy reductions and ufunc-style functions do)."""
    try:
        return "axis" in inspect.signature(statistic).parameters
    except (TypeError, ValueError):  # builtins and some C functions expose no signature
        return False


def bootstrap_interval(
    statistic: Callable[..., Any],
    samples: Sequence[Any] | np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    *,
    vectorized: bool | None = None,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over the rows (examples) of ``samples``.

    Each resample draws n rows with replacement (the rows of a 2-D array stay together, so paired
    columns remain paired); the interval is the α = (1−c)/2 and 1 − α quantiles (numpy's "linear" rule)
    of the B resampled statistics, and ``estimate`` is the statistic of the data itself. The percentile
    method suits the bench's per-example statistics: n is in the hundreds or thousands and statistics
    such as an AUC are bounded and skewed, where a symmetric normal interval would spill past the bounds.

    Resample indices come from ``np.random.default_rng(seed).integers(0, n, (B, n))`` row after row,
    the draws ``scipy.stats.bootstrap(..., method="percentile", rng=np.random.default_rng(seed))`` makes
    for one 1-D sample, so both give the same interval. The result depends only on the seed, never on
    how the work is batched.

    ``statistic`` is called as ``statistic(batch, axis=1)`` on batches of shape (b, n, ...) returning
    (b,) values when ``vectorized`` (default: when it has an ``axis`` parameter, like ``np.mean``),
    else as ``statistic(resample)`` once per resample.
    """
    level = _check_confidence(confidence)
    data, b_total = _bootstrap_data(samples, n_resamples)
    use_axis = _accepts_axis(statistic) if vectorized is None else bool(vectorized)
    values = _resampled_statistics(statistic, data, b_total, seed, use_axis)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"the statistic was not finite on {bad} of {b_total} bootstrap resamples")
    if use_axis:
        estimate = float(np.asarray(statistic(data[None], axis=1), dtype=np.float64).reshape(-1)[0])
    else:
        estimate = float(statistic(data))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Interval(estimate=estimate, low=float(low), high=float(high), n=int(data.shape[0]), confidence=level)


def _bootstrap_data(samples: Sequence[Any] | np.ndarray, n_resamples: int) -> tuple[np.ndarray, int]:
    """The samples as an array with at least one example, and the number of resamples (≥ 1)."""
    data = np.asarray(samples)
    if data.ndim == 0:
        raise ValueError("bootstrap samples must have at least one axis of examples")
    n = int(data.shape[0])
    if n == 0:
        raise ValueError("bootstrap needs at least one example, got none")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples!r}")
    return data, int(n_resamples)


def _resampled_statistics(
    statistic: Callable[..., Any], data: np.ndarray, b_total: int, seed: int, use_axis: bool
) -> np.ndarray:
    """The statistic of ``b_total`` resamples of the rows of ``data``, drawn in batches from one stream."""
    n = int(data.shape[0])
    rng = np.random.default_rng(seed)
    row_size = max(1, int(np.prod(data.shape[1:], dtype=np.int64)))
    batch = max(1, min(b_total, _BATCH_ELEMENTS // (n * row_size)))
    values = np.empty(b_total, dtype=np.float64)
    for start in range(0, b_total, batch):
        count = min(batch, b_total - start)
        # Consecutive draws continue one stream, so batching does not change the indices.
        index = rng.integers(0, n, (count, n))
        if use_axis:
            values[start : start + count] = _vectorised_statistic(statistic, data[index], count)
        else:
            for k in range(count):
                values[start + k] = float(statistic(data[index[k]]))
    return values


def _vectorised_statistic(statistic: Callable[..., Any], batch: np.ndarray, count: int) -> np.ndarray:
    """``statistic(batch, axis=1)`` as ``count`` float64 values; ValueError for any other shape."""
    out = np.asarray(statistic(batch, axis=1), dtype=np.float64).reshape(-1)
    if out.shape != (count,):
        raise ValueError(
            f"a vectorised statistic must return one value per resample ({count}), got shape "
            f"{out.shape}; pass vectorized=False for a statistic of one sample"
        )
    return out


def stratified_bootstrap(
    statistic: Callable[..., Mapping[str, float]],
    groups: Sequence[np.ndarray],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile bootstrap of a multi-column statistic of several groups of examples, resampled per group.

    Each resample draws the rows of every group with replacement, independently per group (a stratified
    bootstrap: e.g. forget and test examples keep their counts, as in the experiment), in group order
    from ``np.random.default_rng(seed)``; ``statistic(*resampled_groups)`` returns column → value. For
    one group the indices are those of :func:`bootstrap_interval` with the same seed, so a statistic that
    is a mean gives the same interval. Returns column → :class:`Interval` (``estimate``: the statistic of
    the data itself; ``n``: the size of the first group). Non-finite resampled values raise ValueError.
    """
    level = _check_confidence(confidence)
    arrays = [np.asarray(g) for g in groups]
    if not arrays or any(a.ndim == 0 or a.shape[0] == 0 for a in arrays):
        raise ValueError("stratified_bootstrap needs at least one group, each with at least one example")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples!r}")
    estimate = {str(k): float(v) for k, v in statistic(*arrays).items()}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in estimate}
    for _ in range(int(n_resamples)):
        resampled = [a[rng.integers(0, a.shape[0], a.shape[0])] for a in arrays]
        resampled_values = statistic(*resampled)
        for column in estimate:
            draws[column].append(float(resampled_values[column]))
    alpha = (1.0 - level) / 2.0
    out: dict[str, Interval] = {}
    for column, values_list in draws.items():
        column_values = np.asarray(values_list, dtype=np.float64)
        bad = int(np.count_nonzero(~np.isfinite(column_values)))
        if bad:
            raise ValueError(f"column {column!r} was not finite on {bad} of {n_resamples} bootstrap resamples")
        low, high = np.quantile(column_values, [alpha, 1.0 - alpha])
        out[column] = Interval(estimate[column], float(low), float(high), int(arrays[0].shape[0]), level)
    return out
