"""The report's pictures, built from a :class:`~unlearnbench.results.RunResults` alone.

Each builder reads the small data the run stored (``item.diagnostics``, ``results.dataset["stats"]``, the
summary table) and returns :class:`Figure` objects: an inline SVG from :mod:`~unlearnbench.reporting.svg`
with a title and a caption that says what to read from it. A builder whose data is absent (an old
results.json, a metric that was not selected) returns nothing rather than an empty frame.

The dataset pictures are in :mod:`~unlearnbench.reporting.data_figures`. One palette holds across every
picture: a colour per split (forget, test, retain, val) and one per method,
assigned in run order, with grey for ``original`` and near-black for ``retrain``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unlearnbench.reporting import format_number
from unlearnbench.reporting.svg import (
    WIDE,
    WIDTH,
    Axis,
    Bar,
    Point,
    Series,
    bar_svg,
    histogram_svg,
    line_svg,
    scatter_svg,
)
from unlearnbench.results import ItemResult, RunResults

__all__ = [
    "FIGURE_GUIDES",
    "SPLIT_COLORS",
    "Figure",
    "item_figures",
    "method_colors",
    "pareto_figure",
    "pareto_front",
    "pareto_zoom_figure",
]

SPLIT_COLORS: dict[str, str] = {"forget": "#e8590c", "test": "#1c7ed6", "retain": "#2f9e44", "val": "#9c36b5"}
REFERENCE_COLORS: dict[str, str] = {"original": "#868e96", "retrain": "#212529"}
_PALETTE = (
    "#4263eb",
    "#f08c00",
    "#0ca678",
    "#d6336c",
    "#7048e8",
    "#1098ad",
    "#74b816",
    "#e8590c",
    "#ae3ec9",
    "#5c940d",
    "#c92a2a",
    "#1864ab",
)
_DIAGNOSTICS_VERSION = 1


@dataclass(frozen=True)
class Figure:
    """One picture: ``svg`` is markup built with every text escaped; ``anchor`` is its HTML id."""

    anchor: str
    title: str
    caption: str
    svg: str
    wide: bool = False
    #: The figure's kind when its explanation is shared by every item (:data:`FIGURE_GUIDES`): the report
    #: then prints the explanation once and ``caption`` holds only what is particular to this figure.
    guide: str | None = None


#: How to read each kind of per-item figure, printed once in the report (the captions keep the numbers).
FIGURE_GUIDES: dict[str, tuple[str, str]] = {
    "loss": ("Loss distributions", "The per-example cross-entropy loss (log scale) under the first replicate, "
             "as a fraction of its split. After good unlearning the forget curve lies on the test curve "
             "(examples never trained on), not on the retain curve; values beyond the range are counted in "
             "the edge bins."),
    "confidence": ("Confidence distributions", "The logit-scaled confidence log(p_y / (1 − p_y)) of every "
                   "example under the first replicate, read as the loss distributions: the forget curve "
                   "should lie on the test curve."),
    "roc": ("Membership attack (loss threshold)", "An attacker calls an example a member when its loss is "
            "below a threshold; forget examples are the members, test examples the non-members. Log-log axes "
            "show the low false-positive region where an attack is trustworthy. The closer the forget curve "
            "to the retrained model's (dashed) and to the dotted chance line, the less the model reveals; "
            "retain vs test is what the attack achieves on data still trained on."),
    "classes": ("Forget accuracy per class", "Accuracy on the forget examples of each class, averaged over "
                "replicates, beside the retrained models' (the target) and the original's. A method that "
                "only looks good on average shows up here as classes far from the target."),
    "epsilon": ("Per-example ε behind F", "For each forget example, ε is how well the best attack tells the "
                "item's replicates from the retrained models; the buckets earn the points shown, from left to "
                "right, and F is their mean: mass on the left is good forgetting, mass in the last bucket "
                "scores nothing."),
}  # fmt: skip


def method_colors(results: RunResults) -> dict[str, str]:
    """A colour per method name: the palette in run order, fixed colours for the reference methods."""
    colors = dict(REFERENCE_COLORS)
    for item in results.items:
        if item.method not in colors:
            colors[item.method] = _PALETTE[(len(colors) - len(REFERENCE_COLORS)) % len(_PALETTE)]
    return colors


def _mean(item: ItemResult, key: str) -> float | None:
    summary = item.summary.get(key)
    if summary is None or not math.isfinite(summary.mean):
        return None
    return summary.mean


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (x lower is better, y higher is better).

    Returned in increasing x; of exact duplicates only the first is kept.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    best_y = -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front


# --------------------------------------------------------------------------- forgetting vs utility vs time


_PARETO_X = "|FA − FA(retrain)|: distance to the oracle's forget accuracy"
_PARETO_LEGEND = [
    ("Pareto front: dark outline, dashed line", "#1f2328", "dash"),
    ("original / retrain (anchors)", "#495057", "ring"),
]


def _pareto_points(results: RunResults) -> tuple[list[Point], list[tuple[float, float]]] | None:
    """One marker per item with FA and TA (front members highlighted) and the front, or None."""
    try:
        oracle_fa = _mean(results.item("retrain"), "accuracy.FA")
    except KeyError:
        return None
    if oracle_fa is None:
        return None
    colors = method_colors(results)
    points: list[Point] = []
    for item in results.items:
        fa, ta = _mean(item, "accuracy.FA"), _mean(item, "accuracy.TA")
        if fa is None or ta is None:
            continue
        x, ratio = abs(fa - oracle_fa), _mean(item, "runtime.ratio")
        radius = 4.0 if ratio is None else 4.0 + 11.0 * math.sqrt(min(max(ratio, 0.0), 1.5) / 1.5)
        ratio_text = "n/a" if ratio is None else format_number(ratio)
        tip = f"{item.item_id}: |ΔFA| {format_number(x)}, TA {format_number(ta)}, runtime ratio {ratio_text}"
        points.append(Point(x, ta, item.item_id, colors[item.method], radius, item.is_reference, tip))
    if not points:
        return None
    contestants = [i for i, p in enumerate(points) if not p.hollow]
    front_idx = [contestants[i] for i in pareto_front([(points[i].x, points[i].y) for i in contestants])]
    points = [dataclasses.replace(p, highlight=i in front_idx) for i, p in enumerate(points)]
    return points, [(points[i].x, points[i].y) for i in front_idx]


def _axes(points: Sequence[Point]) -> tuple[Axis, Axis]:
    xs, ys = [p.x for p in points], [p.y for p in points]
    pad = max((max(ys) - min(ys)) * 0.15, 0.01)
    top = min(1.0, max(ys) + pad) if max(ys) <= 1 else max(ys) + pad
    return Axis(0.0, max(max(xs) * 1.1, 0.01), _PARETO_X), Axis(
        max(0.0, min(ys) - pad), top, "TA: test accuracy"
    )


def pareto_figure(results: RunResults, wide: bool = True) -> Figure | None:
    """Forgetting (|FA − FA_retrain|) against utility (TA), sized by the runtime ratio; front highlighted.

    ``wide`` draws it to span the page; otherwise it is sized for a column (e.g. two runs side by side).
    """
    found = _pareto_points(results)
    if found is None:
        return None
    points, front = found
    x_axis, y_axis = _axes(points)
    size = WIDE if wide else (WIDTH, 340)
    svg = scatter_svg(
        points, x_axis, y_axis, "forgetting vs utility vs time", front, _PARETO_LEGEND, True, size
    )
    return Figure(
        "pareto",
        "Forgetting vs utility vs time",
        "Each marker is an item: left is closer to the retrained oracle's forget accuracy, up is higher test "
        "accuracy, and a larger marker took longer relative to retraining (area grows with the runtime "
        "ratio). Methods with a dark outline, joined by the dashed line, form the Pareto front: no other "
        "method beats them on both axes. Hollow markers are the original and retrain anchors; labels that "
        "do not fit are left out, and hovering a marker shows its name and numbers.",
        svg,
        wide=wide,
    )


def pareto_zoom_figure(results: RunResults) -> Figure | None:
    """The crowded corner of :func:`pareto_figure` enlarged, when a few far-off items squeeze the rest.

    The window keeps the items up to the 75th percentile of the distance and down to the 25th percentile
    of test accuracy, widened to hold the whole front; None when it would leave no item out or would not
    enlarge either axis at least twofold.
    """
    found = _pareto_points(results)
    if found is None or len(found[0]) < 6:  # a handful of markers is legible at any spread
        return None
    points, front = found
    xs, ys = sorted(p.x for p in points), sorted(p.y for p in points)
    x_cut = max([xs[(3 * len(xs)) // 4] * 1.3] + [x for x, _ in front])
    y_cut = min([ys[len(ys) // 4] - 0.005] + [y for _, y in front])
    inside = [p for p in points if p.x <= x_cut and p.y >= y_cut]
    if len(inside) == len(points) or len(inside) < 2:
        return None
    # Worth a second picture only where the corner fills less than half of the full picture's range.
    x_share = max(p.x for p in inside) / max(xs[-1], 1e-12)
    y_share = (ys[-1] - min(p.y for p in inside)) / max(ys[-1] - ys[0], 1e-12)
    if min(x_share, y_share) >= 0.5:
        return None
    x_axis, y_axis = _axes(inside)
    svg = scatter_svg(
        inside, x_axis, y_axis, "forgetting vs utility, enlarged", front, _PARETO_LEGEND, True, WIDE
    )
    left_out = len(points) - len(inside)
    return Figure(
        "pareto-zoom",
        "The crowded corner, enlarged",
        f"The same picture without the {left_out} item{'s' if left_out != 1 else ''} farthest from the "
        "oracle or lowest in test accuracy, so the methods that compete for the front can be told apart.",
        svg,
        wide=True,
    )


# --------------------------------------------------------------------------- per item


def _diagnostics(item: ItemResult) -> Mapping[str, Any] | None:
    data = item.diagnostics
    if not isinstance(data, Mapping) or data.get("version") != _DIAGNOSTICS_VERSION:
        return None
    return data


def item_figures(results: RunResults, item: ItemResult, anchor: str) -> list[Figure]:
    """The pictures of one item's section: loss and confidence distributions, ROC, per-class, ε."""
    data = _diagnostics(item)
    if data is None:
        return []
    figures: list[Figure] = []
    for key, label, what in (
        ("loss", "per-example cross-entropy loss (log scale)", "Loss"),
        ("confidence", "logit-scaled confidence log(p_y / (1 − p_y))", "Confidence"),
    ):
        dist = data.get("distributions", {}).get(key)
        if not dist:
            continue
        series = [
            Series(split, counts, SPLIT_COLORS.get(split, "#868e96"))
            for split, counts in dist["counts"].items()
        ]
        figures.append(
            Figure(
                f"{anchor}-{key}",
                f"{what} distributions",
                "",
                histogram_svg(
                    float(dist["lo"]),
                    float(dist["hi"]),
                    series,
                    label,
                    f"{item.item_id}: {what.lower()}",
                    log=dist.get("scale") == "log10",
                ),
                guide=key,
            )
        )
    roc = _roc_figure(results, item, data, anchor)
    if roc is not None:
        figures.append(roc)
    per_class = _per_class_figure(results, item, data, anchor)
    if per_class is not None:
        figures.append(per_class)
    epsilon = data.get("epsilon")
    if epsilon:
        figures.append(_epsilon_figure(item, epsilon, anchor))
    return figures


def _roc_figure(results: RunResults, item: ItemResult, data: Mapping[str, Any], anchor: str) -> Figure | None:
    roc = data.get("roc", {})
    forget, retain = roc.get("forget_vs_test"), roc.get("retain_vs_test")
    if not forget:
        return None
    lo = min([0.001, *forget["fpr"]])
    series = [
        Series(
            f"forget vs test (AUC {forget['auc']:.3f})", forget["tpr"], SPLIT_COLORS["forget"], forget["fpr"]
        )
    ]
    if retain:
        series.append(Series("retain vs test: ceiling", retain["tpr"], SPLIT_COLORS["retain"], retain["fpr"]))
    target = _retrain_roc(results) if item.item_id != "retrain" else None
    if target:
        series.append(Series("retrain: forget vs test", target["tpr"], "#212529", target["fpr"], dashed=True))
    svg = line_svg(
        series,
        Axis(lo, 1.0, "false-positive rate (test examples called members)", log=True),
        Axis(lo, 1.0, "true-positive rate", log=True),
        f"{item.item_id}: membership attack ROC",
        diagonal=True,
        guides=[(0.01, "1 %"), (0.001, "0.1 %")],
    )
    at = forget.get("tpr_at", {})
    numbers = f"TPR {_pct(at.get('0.01'))} at 1 % FPR and {_pct(at.get('0.001'))} at 0.1 % FPR"
    return Figure(
        f"{anchor}-roc",
        "Membership attack (loss threshold)",
        f"Forget vs test: {numbers}.",
        svg,
        guide="roc",
    )


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f} %"


def _retrain_roc(results: RunResults) -> Mapping[str, Any] | None:
    try:
        data = _diagnostics(results.item("retrain"))
    except KeyError:
        return None
    if data is None:
        return None
    target: Mapping[str, Any] | None = data.get("roc", {}).get("forget_vs_test")
    return target


def _class_names(results: RunResults, count: int) -> list[str]:
    names = [str(n) for n in results.dataset.get("class_names", [])]
    return names if len(names) == count else [str(i) for i in range(count)]


def _per_class_figure(
    results: RunResults, item: ItemResult, data: Mapping[str, Any], anchor: str
) -> Figure | None:
    per_class = data.get("per_class")
    if not per_class or not per_class.get("forget_accuracy"):
        return None
    values = per_class["forget_accuracy"]
    present = [i for i, v in enumerate(values) if v is not None]
    if not present:
        return None
    names = _class_names(results, len(values))
    bars = [Bar(item.item_id, [values[i] for i in present], method_colors(results)[item.method])]
    for key, label in (("retrain", "retrained models"), ("original", "original")):
        if key != item.item_id and per_class.get(key):
            bars.append(Bar(label, [per_class[key][i] for i in present], REFERENCE_COLORS[key]))
    svg = bar_svg(
        [names[i] for i in present],
        bars,
        Axis(0.0, 1.0, "forget accuracy"),
        "class",
        f"{item.item_id}: forget accuracy per class",
    )
    return Figure(
        f"{anchor}-classes",
        "Forget accuracy per class",
        "",
        svg,
        guide="classes",
    )


def _epsilon_figure(item: ItemResult, epsilon: Mapping[str, Any], anchor: str) -> Figure:
    counts = [int(c) for c in epsilon["counts"]]
    total = max(1, sum(counts))
    lows, width, top = epsilon["lows"], float(epsilon["width"]), epsilon["max_epsilon"]
    labels = [f"{lo:g}–{lo + width:g}" for lo in lows[:-1]] + [f"≥ {top:g}"]
    points = [f"{p:g}" for p in epsilon["points"]]
    svg = bar_svg(
        labels,
        [Bar("forget examples", [c / total for c in counts], SPLIT_COLORS["forget"])],
        Axis(0.0, max(c / total for c in counts) * 1.1 or 1.0, "fraction of forget examples"),
        "ε",
        f"{item.item_id}: per-example ε",
    )
    return Figure(
        f"{anchor}-epsilon",
        "Per-example ε behind F",
        f"Buckets earn {', '.join(points)} points from left to right; F = "
        f"{format_number(float(epsilon.get('F', math.nan)))}.",
        svg,
        guide="epsilon",
    )
