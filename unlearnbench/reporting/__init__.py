"""Reporters that render a :class:`~unlearnbench.results.RunResults`: the terminal and the HTML report.

Both reporters read nothing but a ``RunResults``, so ``unlearnbench report results.json`` re-renders a run
without re-running it. :mod:`~unlearnbench.reporting.terminal` is the only module that imports rich and
:mod:`~unlearnbench.reporting.html` the only one that imports jinja2. This module holds what both share and
depends on neither: the row order, the cell of one item in one column, and the number and duration
formats, so the terminal table and the HTML table never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from unlearnbench.results import (
    INTERVAL_BOOTSTRAP,
    OUTCOMES,
    REFERENCE_METHODS,
    Column,
    ItemResult,
    RunResults,
    Summary,
    best_per_column,
    gap_to_oracle,
)

#: Significant digits of every mean shown in a table.
SIGNIFICANT_DIGITS = 4

#: Marks the best value of a ranked column; plain ASCII so it survives a terminal without colour. It goes
#: before the number so right-aligned numbers stay aligned whether marked or not.
BEST_MARKER = "*"

#: Shown in a cell that has no value and no error (e.g. a skipped item).
MISSING = "—"

#: Shown in a cell whose metric does not apply to the run (the item's ``notes`` say why).
NOT_APPLICABLE = "n/a"


def format_number(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` with ``digits`` significant digits in fixed notation (``0.9812``, ``12.35``, ``1235``).

    Values of 10^digits and above are shown as whole numbers and values below 1e-3 in scientific
    notation, so a column of accuracies, MIA scores and seconds stays readable.
    """
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{_decimals(value, digits)}f}"


def _decimals(value: float, digits: int) -> int:
    """Decimal places that give ``value`` ``digits`` significant digits (never negative)."""
    exponent = math.floor(math.log10(abs(value)))
    # Rounding can carry into the next power of ten (0.99996 -> 1.000); one fewer decimal then.
    decimals = max(0, digits - 1 - exponent)
    if decimals and abs(round(value, decimals)) >= 10 ** (exponent + 1):
        decimals -= 1
    return decimals


def format_half_width(mean: float, half_width: float) -> str:
    """The ± part of a cell, with the mean's decimal places so both read at the same precision.

    An interval narrower than the mean's last digit shows as ``0.0000``: identical seeds leave
    floating-point noise (3e-16) that is not worth printing. Where the mean has no fixed decimals
    (zero, or scientific notation) the half-width gets two significant digits of its own.
    """
    if not math.isfinite(half_width):
        return format_number(half_width)
    if math.isfinite(mean) and mean != 0 and abs(mean) >= 1e-3:
        return f"{half_width:.{_decimals(mean, SIGNIFICANT_DIGITS)}f}"
    return format_number(half_width, 2)


def format_value(mean: float, half_width: float | None) -> str:
    """``mean ± half-width``, or the mean alone where there is no interval (one seed, population value)."""
    if half_width is None:
        return format_number(mean)
    return f"{format_number(mean)} ± {format_half_width(mean, half_width)}"


def format_gap(gap: float, reference: float | None = None) -> str:
    """A signed difference to the oracle, e.g. ``+0.0123``.

    With ``reference`` (the value the gap belongs to) the gap gets that value's decimal places, so
    ``0.9100`` reads ``+0.0300`` rather than ``+0.03000``; otherwise four significant digits.
    """
    if gap == 0:
        return "±0"
    if reference is not None and math.isfinite(reference) and abs(reference) >= 1e-3 and math.isfinite(gap):
        text = f"{gap:.{_decimals(reference, SIGNIFICANT_DIGITS)}f}"
        if float(text) == 0:
            return "±0"
    else:
        text = format_number(gap)
    return text if text.startswith("-") else f"+{text}"


def format_duration(seconds: float) -> str:
    """``41.2s`` below a minute, ``2m 05.3s`` below an hour, ``1h 02m 05.3s`` beyond."""
    seconds = round(max(0.0, float(seconds)), 1)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    rest = seconds - 60 * minutes
    if minutes < 60:
        return f"{minutes}m {rest:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {rest:04.1f}s"


def summary_text(results: RunResults) -> str:
    """The inside of the summary line: ``4 passed, 1 failed, 1 error in 41.2s``."""
    counts = results.counts()
    # Like pytest: "1 error", "3 errors"; passed/failed/skipped read the same for any count.
    parts = [f"{counts[name]} {name}{'s' if name == 'error' and counts[name] > 1 else ''}"
             for name in OUTCOMES if counts.get(name)]  # fmt: skip
    head = ", ".join(parts) if parts else "no items ran"
    text = f"{head} in {format_duration(results.duration)}"
    if results.interrupted:
        text += " (interrupted)"
    return text


def summary_line(results: RunResults) -> str:
    """The pytest-like last line of a run: ``== 4 passed, 1 failed, 1 error in 41.2s ==``."""
    return f"== {summary_text(results)} =="


def ordered_items(results: RunResults) -> list[ItemResult]:
    """The table's rows: ``original`` and ``retrain`` first (where present), then every item in run order."""
    by_id = {item.item_id: item for item in results.items}
    head = [by_id[name] for name in REFERENCE_METHODS if name in by_id]
    return head + [item for item in results.items if item.item_id not in REFERENCE_METHODS]


def ambiguous_labels(columns: Iterable[Column]) -> set[str]:
    """Labels that more than one column uses; their headers also name the metric."""
    seen: dict[str, int] = {}
    for column in columns:
        seen[column.label] = seen.get(column.label, 0) + 1
    return {label for label, count in seen.items() if count > 1}


def direction_symbol(column: Column) -> str:
    """``↑`` (higher is better), ``↓`` (lower is better) or empty (not ranked)."""
    if column.higher_is_better is None:
        return ""
    return "↑" if column.higher_is_better else "↓"


@dataclass(frozen=True)
class Cell:
    """What one item shows in one column, already formatted.

    ``kind`` is ``"value"``, ``"error"`` (the metric raised or returned NaN, or the item itself errored),
    ``"na"`` (the metric does not apply to this run; ``note`` says why) or ``"missing"``. ``value`` is the
    mean (sort key), ``gap`` the difference to the ``retrain`` row; ``note`` is the error's or the n/a's
    one-line reason.
    """

    kind: str
    text: str
    value: float | None = None
    best: bool = False
    gap: float | None = None
    note: str = ""
    #: The paired difference to the retrain row with its interval, formatted (empty where there is none).
    paired: str = ""


def _column_error(item: ItemResult, column: Column) -> bool:
    return column.key in item.errors or column.metric in item.errors


def _column_note(item: ItemResult, column: Column) -> str | None:
    """Why ``column`` does not apply to ``item`` (its metric's n/a note), or None."""
    if column.key in item.notes:
        return item.notes[column.key]
    return item.notes.get(column.metric)


def make_cell(results: RunResults, item: ItemResult, column: Column, best: set[str]) -> Cell:
    """The cell of ``item`` in ``column``; ``best`` are the item ids marked best in that column."""
    summary = item.summary.get(column.key)
    mean: float | None = None
    half: float | None = None
    bounds: tuple[float, float] | None = None
    if summary is not None and math.isfinite(summary.mean):
        mean = summary.mean
        if summary.interval == INTERVAL_BOOTSTRAP and summary.ci_low is not None and summary.ci_high is not None:
            bounds = (summary.ci_low, summary.ci_high)  # percentile intervals are not symmetric
        elif column.scope != "population" and summary.half_width is not None:
            half = summary.half_width
    elif summary is None and math.isfinite(item.population.get(column.key, math.nan)):
        mean = item.population[column.key]
    if mean is None:
        # A NaN summary means the metric produced no usable number: that is an error, not a gap.
        if _column_error(item, column) or item.outcome == "error" or summary is not None:
            errors = item.errors
            message = errors.get(column.key) or errors.get(column.metric) or errors.get("unlearn")
            return Cell(kind="error", text="error", note=short_error(message) if message else "")
        note = _column_note(item, column)
        if note is not None:
            return Cell(kind="na", text=NOT_APPLICABLE, note=note)
        return Cell(kind="missing", text=MISSING)
    gap = None if item.item_id == "retrain" else gap_to_oracle(results, item.item_id, column.key)
    if gap is not None and not math.isfinite(gap):
        gap = None
    text = format_value(mean, half) if bounds is None else format_bounds(mean, *bounds)
    paired = item.paired.get(column.key)
    return Cell(
        kind="value",
        text=text,
        value=mean,
        best=item.item_id in best,
        gap=gap,
        paired="" if paired is None else format_paired(paired),
    )


def format_bounds(mean: float, low: float, high: float) -> str:
    """``mean [low, high]``: a value with an asymmetric (bootstrap) interval."""
    return f"{format_number(mean)} [{format_number(low)}, {format_number(high)}]"


def format_paired(paired: Summary) -> str:
    """A paired difference to retrain, e.g. ``+0.0300 ± 0.0100 (paired 95 % t, 3 seeds)``."""
    if paired.half_width is None:
        return f"{format_gap(paired.mean, paired.mean)} (paired, {seed_word(paired.n)})"
    half = format_half_width(paired.mean, paired.half_width)
    return f"{format_gap(paired.mean, paired.mean)} ± {half} (paired 95 % t, {seed_word(paired.n)})"


def table_cells(results: RunResults) -> list[tuple[ItemResult, list[Cell]]]:
    """Every row of the results table in display order, with one :class:`Cell` per column."""
    best = best_per_column(results)
    return [
        (item, [make_cell(results, item, column, best.get(column.key, set())) for column in results.columns])
        for item in ordered_items(results)
    ]


def short_error(text: str) -> str:
    """The one line of an error worth showing: the exception line of a traceback, else the first line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "error"
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return lines[0]


def seed_word(count: int) -> str:
    """``1 seed`` / ``3 seeds``."""
    return f"{count} seed" if count == 1 else f"{count} seeds"


__all__ = [
    "format_bounds",
    "format_paired",
    "BEST_MARKER",
    "MISSING",
    "NOT_APPLICABLE",
    "SIGNIFICANT_DIGITS",
    "Cell",
    "ambiguous_labels",
    "direction_symbol",
    "format_duration",
    "format_gap",
    "format_half_width",
    "format_number",
    "format_value",
    "make_cell",
    "ordered_items",
    "seed_word",
    "short_error",
    "summary_line",
    "summary_text",
    "table_cells",
]
