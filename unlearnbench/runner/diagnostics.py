"""The small, JSON-able data behind an item's pictures in the HTML report, computed from model outputs.

:func:`item_diagnostics` is a pure function of per-example logits: the report renders from
``results.json`` alone, so everything a picture needs is reduced here to a few kilobytes per item:

- ``distributions``: fixed-bin histograms (shared range across splits) of the per-example cross-entropy
  loss (bins equal in log10: trained models put most losses within a hair of 0) and of the logit-scaled
  confidence on forget, test and retain, for the first replicate;
- ``roc``: the loss-threshold membership attack (forget vs test, and retain vs test as the ceiling of what
  the attack can do on training data), its curve sampled on a log-spaced false-positive grid, AUC and the
  true-positive rate at 1 % and 0.1 % false positives, for the first replicate;
- ``per_class``: forget accuracy per class, averaged over replicates, beside the original's and the mean
  of the retrained models';
- ``epsilon``: the histogram of the per-example ε behind forgetting quality F, in F's own 0.5-wide
  buckets, when the replicate and oracle pools are large enough for F to exist;
- ``parameters``: the method's resolved parameters (defaults merged with the grid point).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from unlearnbench.api import ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics._functional import cross_entropy
from unlearnbench.metrics.forgetting_quality import (
    BUCKET_WIDTH,
    epsilon_points,
    forgetting_quality,
    logit_scaled_confidence,
    max_epsilon,
)

__all__ = [
    "DIAGNOSTICS_VERSION",
    "HISTOGRAM_BINS",
    "HISTOGRAM_SPLITS",
    "ROC_POINTS",
    "epsilon_histogram",
    "fixed_histogram",
    "item_diagnostics",
    "jsonable",
    "per_class_accuracy",
    "roc_curve",
    "roc_summary",
    "tpr_at_fpr",
]

#: Layout version of the ``diagnostics`` dict; the report ignores pictures of other versions.
DIAGNOSTICS_VERSION = 1
HISTOGRAM_BINS = 40
HISTOGRAM_SPLITS: tuple[str, ...] = ("forget", "test", "retain")
#: Most points of a stored ROC curve: ~33 per decade over three decades is smooth on a log axis.
ROC_POINTS = 100
#: False-positive rates the report quotes the attack's true-positive rate at.
LOW_FPRS: tuple[float, ...] = (0.01, 0.001)
#: Percentiles that set a histogram's shared range; the rare values beyond fall into the edge bins.
_RANGE_PERCENTILES = (1.0, 99.0)
#: Smallest loss the log-binned histogram resolves: the float64 loss of a confident model can be 1e-30,
#: and everything below this lands in the first bin anyway.
LOSS_FLOOR = 1e-8


def _round(values: Any, digits: int = 6) -> list[float]:
    return [float(f"{float(v):.{digits}g}") for v in np.asarray(values, dtype=np.float64).ravel()]


# --------------------------------------------------------------------------- histograms


def fixed_histogram(values: np.ndarray, lo: float, hi: float, bins: int) -> list[int]:
    """Counts in ``bins`` equal bins over [lo, hi]; values outside fall into the first or last bin.

    Bin i is [lo + i·w, lo + (i + 1)·w) with the last bin closed, w = (hi − lo) / bins. Clipping instead
    of dropping keeps every example counted, so each split's counts sum to its size.
    """
    if bins < 1 or not hi > lo:
        raise ValueError(f"need bins >= 1 and hi > lo, got bins={bins}, lo={lo}, hi={hi}")
    x = np.asarray(values, dtype=np.float64).ravel()
    index = np.floor((x - lo) / (hi - lo) * bins)
    index = np.clip(np.nan_to_num(index, nan=0.0), 0, bins - 1).astype(np.int64)
    return [int(c) for c in np.bincount(index, minlength=bins)]


def _shared_range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    """[lowest 1st percentile, highest 99th percentile] over the arrays, widened where degenerate."""
    filled = [a for a in arrays if a.size]
    if not filled:
        return (0.0, 1.0)
    lo = min(float(np.percentile(a, _RANGE_PERCENTILES[0])) for a in filled)
    hi = max(float(np.percentile(a, _RANGE_PERCENTILES[1])) for a in filled)
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def _distribution(per_split: Mapping[str, np.ndarray], log: bool = False) -> dict[str, Any]:
    """Shared-range histograms of each split; with ``log`` the bins are equal in log10 and whole decades.

    ``lo`` and ``hi`` are always in the values' own units, so a reader needs only ``scale`` to redraw it.
    """
    if log:
        values = {s: np.log10(np.maximum(v, LOSS_FLOOR)) for s, v in per_split.items()}
        low, high = _shared_range(list(values.values()))
        low, high = float(np.floor(low)), float(np.ceil(high))
        high = high if high > low else low + 1.0
        lo, hi = 10.0**low, 10.0**high
    else:
        values = dict(per_split)
        lo, hi = _round(_shared_range(list(values.values())))
        hi = hi if hi > lo else lo + 1.0
        low, high = lo, hi
    return {
        "scale": "log10" if log else "linear",
        "lo": lo,
        "hi": hi,
        "bins": HISTOGRAM_BINS,
        "counts": {split: fixed_histogram(v, low, high, HISTOGRAM_BINS) for split, v in values.items()},
        "n": {split: int(v.size) for split, v in values.items()},
    }


# --------------------------------------------------------------------------- ROC


def roc_curve(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ROC of the attack "member if score ≥ t" over every threshold: (fpr, tpr) from (0, 0) to (1, 1).

    ``positive`` are the members' scores, ``negative`` the non-members'. Tied scores move both rates in
    one step, so the curve is the one whose trapezoid area is the Mann–Whitney AUC.
    """
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"a ROC curve needs both groups, got {pos.size} members and {neg.size} non-members")
    thresholds = np.unique(np.concatenate((pos, neg)))[::-1]
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    tp = pos.size - np.searchsorted(pos_sorted, thresholds, side="left")
    fp = neg.size - np.searchsorted(neg_sorted, thresholds, side="left")
    fpr = np.concatenate(([0.0], fp / neg.size))
    tpr = np.concatenate(([0.0], tp / pos.size))
    return fpr, tpr


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """The best true-positive rate among thresholds whose false-positive rate is at most ``target``."""
    allowed = np.asarray(fpr) <= target + 1e-12
    return float(np.max(np.asarray(tpr)[allowed])) if allowed.any() else 0.0


def roc_summary(positive: np.ndarray, negative: np.ndarray, points: int = ROC_POINTS) -> dict[str, Any]:
    """AUC, TPR at :data:`LOW_FPRS` and the curve sampled at ≤ ``points`` log-spaced false-positive rates.

    The grid runs from min(0.1 %, 1 / #non-members) to 1; at each grid rate the stored TPR is
    :func:`tpr_at_fpr`, so the sampled curve never claims more than the exact one.
    """
    fpr, tpr = roc_curve(positive, negative)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    n_neg = int(np.asarray(negative).size)
    start = min(min(LOW_FPRS), 1.0 / n_neg)
    grid = np.unique(np.concatenate((np.geomspace(start, 1.0, points - len(LOW_FPRS)), LOW_FPRS)))
    sampled = [tpr_at_fpr(fpr, tpr, g) for g in grid]
    return {
        "fpr": _round(grid, 5),
        "tpr": _round(sampled, 5),
        "auc": round(auc, 6),
        "tpr_at": {f"{target:g}": round(tpr_at_fpr(fpr, tpr, target), 6) for target in LOW_FPRS},
        "n_members": int(np.asarray(positive).size),
        "n_nonmembers": n_neg,
    }


# --------------------------------------------------------------------------- per class and ε


def per_class_accuracy(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> list[float | None]:
    """Top-1 accuracy among the examples of each class (None for a class with no examples)."""
    y = np.asarray(labels).astype(np.int64)
    correct = np.argmax(np.asarray(logits), axis=1) == y
    out: list[float | None] = []
    for c in range(num_classes):
        mask = y == c
        out.append(float(correct[mask].mean()) if mask.any() else None)
    return out


def _mean_per_class(rows: Sequence[Sequence[float | None]]) -> list[float | None]:
    out: list[float | None] = []
    for values in zip(*rows):
        present = [v for v in values if v is not None]
        out.append(round(float(np.mean(present)), 6) if present else None)
    return out


def epsilon_histogram(epsilons: np.ndarray, n_unlearned: int, n_retrained: int) -> dict[str, Any]:
    """Counts of ε per bucket of F: [0, 0.5), [0.5, 1), ... up to max_ε, and a last bucket "≥ max_ε".

    ``points`` is what one example of each bucket adds to F (1, 1/2, 1/4, ..., and 0 at or above max_ε),
    so F = Σ counts·points / n.
    """
    top = max_epsilon(n_unlearned, n_retrained)
    if top == 0:
        raise MetricNotApplicable("no ε bucket at these pool sizes")
    eps = np.asarray(epsilons, dtype=np.float64)
    buckets = int(round(top / BUCKET_WIDTH))
    index = np.where(eps >= top, buckets, np.floor(eps / BUCKET_WIDTH)).astype(np.int64)
    counts = np.bincount(np.clip(index, 0, buckets), minlength=buckets + 1)
    lows = [k * BUCKET_WIDTH for k in range(buckets)] + [float(top)]
    points = [float(p) for p in epsilon_points(np.asarray(lows), n_unlearned, n_retrained)]
    return {
        "lows": lows,
        "width": BUCKET_WIDTH,
        "max_epsilon": top,
        "counts": [int(c) for c in counts],
        "points": points,
        "n": int(eps.size),
    }


# --------------------------------------------------------------------------- the item


def jsonable(value: Any) -> Any:
    """``value`` reduced to JSON types (numbers, strings, lists, dicts); anything else becomes its repr."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def item_diagnostics(
    replicates: Sequence[ModelOutputs],
    oracles: Sequence[ModelOutputs],
    original: ModelOutputs,
    labels: Mapping[str, np.ndarray],
    num_classes: int,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the report draws for one item (see the module docstring); JSON-able and small.

    ``replicates`` are the item's unlearned models (the first one is drawn), ``oracles`` the retrained
    pool, ``original`` the model before unlearning.
    """
    if not replicates:
        raise ValueError("diagnostics need at least one replicate")
    first = replicates[0]
    losses = {s: cross_entropy(first[s], labels[s]) for s in HISTOGRAM_SPLITS}
    confidences = {s: logit_scaled_confidence(first[s], labels[s]) for s in HISTOGRAM_SPLITS}
    # The attack calls low-loss examples members: the score is the negated loss.
    roc = {
        "forget_vs_test": roc_summary(-losses["forget"], -losses["test"]),
        "retain_vs_test": roc_summary(-losses["retain"], -losses["test"]),
    }
    y_forget = labels["forget"]
    per_class = {
        "forget_accuracy": _mean_per_class(
            [per_class_accuracy(r["forget"], y_forget, num_classes) for r in replicates]
        ),
        "original": _mean_per_class([per_class_accuracy(original["forget"], y_forget, num_classes)]),
        "retrain": _mean_per_class([per_class_accuracy(o["forget"], y_forget, num_classes) for o in oracles])
        if oracles
        else [None] * num_classes,
        "counts": [int((np.asarray(y_forget) == c).sum()) for c in range(num_classes)],
    }
    out: dict[str, Any] = {
        "version": DIAGNOSTICS_VERSION,
        "replicates": len(replicates),
        "distributions": {
            "loss": _distribution(losses, log=True),
            "confidence": _distribution(confidences),
        },
        "roc": roc,
        "per_class": per_class,
    }
    if oracles:
        try:
            u = np.stack([logit_scaled_confidence(r["forget"], y_forget) for r in replicates])
            o = np.stack([logit_scaled_confidence(r["forget"], y_forget) for r in oracles])
            f_value, eps = forgetting_quality(u, o, backend="numpy")
            out["epsilon"] = {**epsilon_histogram(eps, u.shape[0], o.shape[0]), "F": round(f_value, 6)}
        except (MetricNotApplicable, ValueError):
            pass  # F needs pools with at least one ε bucket; without it there is nothing to draw
    if params is not None:
        out["parameters"] = jsonable(dict(params))
    return out
