"""The results table and the figures for papers: LaTeX (booktabs), CSV, Markdown and standalone SVG.

Every export reads a :class:`~unlearnbench.results.RunResults` alone (``unlearnbench report RUN --format``):

* :func:`to_latex`: a ``booktabs`` table, one row per item and one column per metric column, each cell
  ``mean ± half-width`` of its 95 % interval (``^{+a}_{-b}`` where the interval is not symmetric), the best
  non-reference value of each ranked column in bold, ↑ / ↓ in the header; labels escaped for LaTeX;
* :func:`to_csv`: one row per item, per column its mean, interval ends and ``n`` written with ``repr`` so
  that reading the file back gives the stored floats exactly;
* :func:`to_markdown`: the same table as the LaTeX one in GitHub Markdown (best in ``**bold**``);
* :func:`figure_files`: every figure of the HTML report as a standalone ``.svg`` document.

``columns`` (fnmatch patterns over column keys) picks the columns; by default every model-scope and
population column in the run's order.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import math
import re
from collections.abc import Sequence

from unlearnbench.reporting.figures import item_figures, pareto_figure, pareto_zoom_figure
from unlearnbench.reporting.svg import standalone
from unlearnbench.results import Column, ItemResult, RunResults, Summary, best_per_column

__all__ = ["FORMATS", "figure_files", "select_columns", "to_csv", "to_latex", "to_markdown"]

#: The export formats of ``unlearnbench report --format`` besides ``html``.
FORMATS: tuple[str, ...] = ("latex", "csv", "markdown", "svg")

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def select_columns(results: RunResults, patterns: Sequence[str] = ()) -> list[Column]:
    """The columns whose key matches one of ``patterns`` (all without patterns), in the run's order."""
    if not patterns:
        return list(results.columns)
    return [c for c in results.columns if any(fnmatch.fnmatchcase(c.key, p) for p in patterns)]


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def _digits(summary: Summary) -> int:
    """Decimals that show the interval's first significant digit (3 by default, at most 6)."""
    half = _half_widths(summary)
    width = max(half) if half is not None else 0.0
    if width <= 0 or not math.isfinite(width):
        return 3
    return min(6, max(3, 1 - math.floor(math.log10(width))))


def _half_widths(summary: Summary) -> tuple[float, float] | None:
    """(above, below) the mean of the interval, or None without one (one value, or an interval of zero
    width: a single model such as the original)."""
    if summary.ci_low is None or summary.ci_high is None or summary.n < 2:
        return None
    above, below = summary.ci_high - summary.mean, summary.mean - summary.ci_low
    if max(above, below) <= 1e-12 * max(1.0, abs(summary.mean)):
        return None
    return above, below


def _cell(summary: Summary | None, best: bool, style: str) -> str:
    """One table cell in ``style`` (``latex`` or ``markdown``)."""
    if summary is None or not math.isfinite(summary.mean):
        return "--" if style == "latex" else "—"
    digits = _digits(summary)
    mean = f"{summary.mean:.{digits}f}"
    half = _half_widths(summary)
    if style == "latex":
        value = rf"\mathbf{{{mean}}}" if best else mean
        if half is not None:
            above, below = half
            if math.isclose(above, below, rel_tol=1e-6, abs_tol=10.0 ** -(digits + 2)):
                value += rf" \pm {above:.{digits}f}"
            else:
                value += rf"^{{+{above:.{digits}f}}}_{{-{below:.{digits}f}}}"
        return f"${value}$"
    text = mean if half is None else f"{mean} ± {max(half):.{digits}f}"
    return f"**{text}**" if best else text


def _arrow(column: Column, style: str) -> str:
    if column.higher_is_better is None:
        return ""
    if style == "latex":
        return r" $\uparrow$" if column.higher_is_better else r" $\downarrow$"
    return " ↑" if column.higher_is_better else " ↓"


def _rows(results: RunResults, columns: Sequence[Column], style: str) -> list[list[str]]:
    best = best_per_column(results)
    rows = []
    for item in results.items:
        if item.outcome == "skipped":
            continue
        name = latex_escape(item.item_id) if style == "latex" else item.item_id.replace("|", r"\|")
        rows.append([name, *(_cell(item.summary.get(c.key), item.item_id in best.get(c.key, set()), style)
                             for c in columns)])  # fmt: skip
    return rows


def to_latex(results: RunResults, columns: Sequence[Column] | None = None) -> str:
    """The results table as a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    chosen = list(results.columns) if columns is None else list(columns)
    head = ["method", *(latex_escape(c.label) + _arrow(c, "latex") for c in chosen)]
    lines = [
        f"% unlearnbench run {latex_escape(results.run_id)}, commit {latex_escape(results.git_commit)}: mean "
        "+/- half-width of the 95 % interval over seeds; bold: the best method per column (reference rows "
        "excluded)",
        r"\begin{tabular}{l" + "r" * len(chosen) + "}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(row) + r" \\" for row in _rows(results, chosen, "latex")]
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def to_markdown(results: RunResults, columns: Sequence[Column] | None = None) -> str:
    """The results table in GitHub Markdown (best per column in bold)."""
    chosen = list(results.columns) if columns is None else list(columns)
    head = ["method", *(c.label.replace("|", r"\|") + _arrow(c, "markdown") for c in chosen)]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * len(chosen)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results, chosen, "markdown")]
    return "\n".join(lines) + "\n"


def to_csv(results: RunResults, columns: Sequence[Column] | None = None) -> str:
    """One row per item: id, method, outcome, then per column ``KEY``, ``KEY.ci_low``, ``KEY.ci_high``,
    ``KEY.n`` (floats written exactly; empty where there is no value)."""
    chosen = list(results.columns) if columns is None else list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["item", "method", "outcome"]
    for column in chosen:
        header += [column.key, f"{column.key}.ci_low", f"{column.key}.ci_high", f"{column.key}.n"]
    writer.writerow(header)
    for item in results.items:
        writer.writerow([item.item_id, item.method, item.outcome, *_csv_values(item, chosen)])
    return buffer.getvalue()


def _csv_values(item: ItemResult, columns: Sequence[Column]) -> list[str]:
    values: list[str] = []
    for column in columns:
        summary = item.summary.get(column.key)
        if summary is None:
            values += ["", "", "", ""]
            continue
        values += [repr(summary.mean), "" if summary.ci_low is None else repr(summary.ci_low),
                   "" if summary.ci_high is None else repr(summary.ci_high), str(summary.n)]  # fmt: skip
    return values


def figure_files(results: RunResults) -> dict[str, str]:
    """Every figure of the HTML report as ``{file name: standalone SVG document}``; an item's figures are
    named after the item (``finetune_epochs=5_lr=0.1-roc.svg``)."""
    files = {f"{f.anchor}.svg": standalone(f.svg) for f in (pareto_figure(results), pareto_zoom_figure(results)) if f}
    for index, item in enumerate(results.items):
        anchor = f"item-{index}"
        name = re.sub(r"[^A-Za-z0-9.=-]+", "_", item.item_id).strip("_")
        for figure in item_figures(results, item, anchor):
            files[f"{name}{figure.anchor[len(anchor):]}.svg"] = standalone(figure.svg)
    return files
