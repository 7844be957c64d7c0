"""The HTML report: one self-contained file (inline CSS, SVG and script, no network) rendered from RunResults.

This is the only module of unlearnbench that imports jinja2; the index and comparison pages
(:mod:`~unlearnbench.reporting.index`) and the dataset page render through :func:`render_template`.
Autoescaping is on and every value reaches a template as plain data, so any string a plugin provides
(descriptions, parameters, error messages, dataset fields) appears as text. The only markup passed through
unescaped is the SVG built by :mod:`~unlearnbench.reporting.svg`, which escapes every text itself. The
table is sortable by one static inline script that attaches its listeners with ``addEventListener`` and
reads numbers from ``data-value`` attributes.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from unlearnbench.reporting import (
    BEST_MARKER,
    ambiguous_labels,
    direction_symbol,
    format_duration,
    format_gap,
    format_number,
    seed_word,
    short_error,
    summary_text,
    table_cells,
)
from unlearnbench.reporting.data_figures import channel_names, dataset_figures
from unlearnbench.reporting.figures import FIGURE_GUIDES, Figure, item_figures, pareto_figure, pareto_zoom_figure
from unlearnbench.reporting.ranking import distance_text, quantity_text, rank, tie_text
from unlearnbench.reporting.svg import CHART_CSS
from unlearnbench.reporting.verdict import verdict_headline, verdict_rows
from unlearnbench.reproduction import judge, reproduction_for_preset
from unlearnbench.resources import item_peaks_text, run_peaks_text
from unlearnbench.results import Column, ItemResult, RunResults, atomic_write_text
from unlearnbench.runner.access import ACCESS_NOTE

__all__ = ["TEMPLATE_NAME", "dataset_view", "figure_view", "render_html", "render_template", "write_html"]

TEMPLATE_NAME = "report.html.j2"
_TEMPLATES = Path(__file__).parent / "templates"
#: Dataset fields drawn as pictures or tables of their own rather than listed as text.
_DATASET_DRAWN = frozenset({"stats"})


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["chart_css"] = Markup(CHART_CSS)  # a constant of this package, not data
    return env


def render_template(template: str, /, **context: Any) -> str:
    """Render one of the package's templates (autoescaped) with ``context``."""
    return _environment().get_template(template).render(**context)


def render_html(results: RunResults, rank_by: Sequence[str] | None = None) -> str:
    """The whole report as one HTML document; ``rank_by`` replaces the ranking's quantities (column keys)."""
    return render_template(TEMPLATE_NAME, **_context(results, rank_by))


def write_html(results: RunResults, path: str | os.PathLike[str], rank_by: Sequence[str] | None = None) -> Path:
    """Render and write the report atomically; returns the path written."""
    target = Path(path)
    atomic_write_text(target, render_html(results, rank_by))
    return target


# --------------------------------------------------------------------------- view model


def figure_view(figure: Figure) -> dict[str, Any]:
    """A figure for the templates; its SVG is trusted markup (every text in it escaped by svg.py)."""
    return {
        "anchor": figure.anchor,
        "title": figure.title,
        "caption": figure.caption,
        "svg": Markup(figure.svg),
        "wide": figure.wide,
        "guide": f"guide-{figure.guide}" if figure.guide else None,
    }


def guides_view(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The explanation of each kind of item figure that the report shows, once, in :data:`FIGURE_GUIDES` order."""
    present = {f["guide"] for item in items for f in item["figures"] if f["guide"]}
    return [{"anchor": f"guide-{kind}", "title": title, "text": text}
            for kind, (title, text) in FIGURE_GUIDES.items() if f"guide-{kind}" in present]  # fmt: skip


def _context(results: RunResults, rank_by: Sequence[str] | None = None) -> dict[str, Any]:
    counts = results.counts()
    pareto = [f for f in (pareto_figure(results), pareto_zoom_figure(results)) if f is not None]
    items = [_item(results, index, item) for index, item in enumerate(results.items)]
    data = dataset_view(results.dataset)
    toc = [("summary", "Results")]
    ranking = _ranking_view(results, rank_by)
    if ranking is not None:
        toc.insert(0, ("ranking", "Ranking"))
    if pareto:
        toc.append(("pareto", "Forgetting vs utility vs time"))
    reproduction = _reproduction_view(results)
    if reproduction is not None:
        toc.insert(1, ("reproduction", "Reproduction"))
    toc += [("items", "Methods"), ("dataset", "Dataset")]
    return {
        "ranking": ranking,
        "reproduction": reproduction,
        "r": results,
        "title": f"unlearnbench report {results.run_id}".strip(),
        "summary": summary_text(results),
        "summary_class": _summary_class(results),
        "counts": [(name, n) for name, n in counts.items() if n],
        "duration": format_duration(results.duration),
        "config_json": json.dumps(results.config, indent=2, sort_keys=True, default=str, ensure_ascii=False),
        "seeds": ", ".join(str(s) for s in results.seeds) or "none",
        "oracle_seeds": ", ".join(str(s) for s in results.oracle_seeds) or "none",
        "seed_count": seed_word(len(results.seeds)),
        "versions": sorted(results.versions.items()),
        "peak_memory": run_peaks_text(results.resources),
        "columns": _columns(results),
        "rows": _rows(results),
        "items": items,
        "guides": guides_view(items),
        "dataset": data["fields"],
        "data": data,
        "pareto": [figure_view(f) for f in pareto],
        "toc": toc,
        "toc_methods": _toc_methods(results),
        "best_marker": BEST_MARKER,
    }


def _ranking_view(results: RunResults, rank_by: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The ranking by distance to retraining for the template (None where it cannot be computed)."""
    ranked = rank(results, rank_by)
    if ranked is None or not ranked.items:
        return None
    anchors = {item.item_id: f"item-{index}" for index, item in enumerate(results.items)}
    rows = [
        {
            "item_id": item.item_id, "anchor": anchors.get(item.item_id), "distance": distance_text(item),
            "tied": item.tied_with_above, "tie": tie_text(item).replace("≈", "not significantly different from the "
                                                                          "method above", 1),
            "ta": "—" if item.test_accuracy is None else f"{item.test_accuracy:.3f}",
            "seconds": "—" if item.seconds is None else format_number(item.seconds),
        }
        for item in ranked.items
    ]  # fmt: skip
    original = distance_text(ranked.original) if ranked.original is not None else None
    return {"rows": rows, "quantities": quantity_text(ranked), "test": ranked.test, "original": original}


def _reproduction_view(results: RunResults) -> dict[str, Any] | None:
    """The verdict against the published table when the run's preset reproduces one, else None."""
    reproduction = reproduction_for_preset(results.config.get("preset"))
    if reproduction is None:
        return None
    verdict = judge(reproduction, results)
    return {
        "r": reproduction, "rows": verdict_rows(verdict), "headline": verdict_headline(verdict),
        "passed": verdict.passed, "notes": list(verdict.notes),
        "context": list(verdict.context),
    }  # fmt: skip


def _toc_methods(results: RunResults) -> list[tuple[str, str, int]]:
    """(anchor of its first item, method, item count) per method, in run order: a contents line that
    stays short when a grid expands one method into many items."""
    first: dict[str, tuple[str, int]] = {}
    for index, item in enumerate(results.items):
        anchor, count = first.get(item.method, (f"item-{index}", 0))
        first[item.method] = (anchor, count + 1)
    return [(anchor, method, count) for method, (anchor, count) in first.items()]


def dataset_view(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset section: its fields as text, its statistics as figures and a channel table."""
    stats = dataset.get("stats") if isinstance(dataset.get("stats"), Mapping) else {}
    channels = stats.get("channels", {}) if stats else {}
    table = []
    if isinstance(channels, Mapping) and channels.get("train"):
        train, held = channels["train"], channels.get("heldout", {})
        for i, name in enumerate(channel_names(len(train["mean"]))):
            row = [name] + [_stat(train, key, i) for key in ("mean", "std", "min", "max")]
            row += [_stat(held, key, i) for key in ("mean", "std")]
            table.append(row)
    return {
        "fields": [(str(k), _node(v)) for k, v in dataset.items() if k not in _DATASET_DRAWN],
        "figures": [figure_view(f) for f in dataset_figures(stats)] if stats else [],
        "channels": table,
    }


def _stat(part: Mapping[str, Sequence[float]], key: str, index: int) -> str:
    values = part.get(key, ())
    return f"{values[index]:.4f}" if index < len(values) else "—"


def _summary_class(results: RunResults) -> str:
    counts = results.counts()
    if counts["failed"] or counts["error"]:
        return "bad"
    if results.interrupted or not counts["passed"]:
        return "warn"
    return "good"


def _columns(results: RunResults) -> list[dict[str, Any]]:
    ambiguous = ambiguous_labels(results.columns)
    return [
        {
            "label": column.label,
            "metric": column.metric,
            "show_metric": column.label in ambiguous,
            "direction": direction_symbol(column),
            "title": _column_title(column),
        }
        for column in results.columns
    ]


def _column_title(column: Column) -> str:
    direction = {True: "higher is better", False: "lower is better", None: "not ranked"}
    parts = [f"{column.key} ({column.metric}, {column.scope}, {direction[column.higher_is_better]})"]
    if column.description:
        parts.append(column.description)
    return ": ".join(parts)


def _item_index(results: RunResults) -> dict[str, int]:
    return {item.item_id: index for index, item in enumerate(results.items)}


def _rows(results: RunResults) -> list[dict[str, Any]]:
    index = _item_index(results)
    rows = []
    for item, cells in table_cells(results):
        rows.append(
            {
                "id": item.item_id,
                "anchor": f"item-{index[item.item_id]}",
                "reference": item.is_reference,
                "outcome": item.outcome,
                "skip_reason": item.skip_reason,
                "cells": [
                    {
                        "kind": cell.kind,
                        "text": cell.text,
                        "value": "" if cell.value is None else repr(float(cell.value)),
                        "best": cell.best,
                        "gap": None if cell.gap is None else format_gap(cell.gap, cell.value),
                        "note": cell.note,
                        "paired": cell.paired,
                    }
                    for cell in cells
                ],
            }
        )
    return rows


def _runtime_text(item: ItemResult) -> str:
    seconds, ratio = item.summary.get("runtime.seconds"), item.summary.get("runtime.ratio")
    if seconds is None or not math.isfinite(seconds.mean):
        return ""
    text = f"{format_number(seconds.mean)} s per replicate"
    if ratio is not None and math.isfinite(ratio.mean):
        text += f", {format_number(ratio.mean)} × the retraining time"
    return text


def _item(results: RunResults, index: int, item: ItemResult) -> dict[str, Any]:
    labels = {column.key: column.label for column in results.columns}
    order = [column.key for column in results.columns]
    present = {key for seed in item.seeds for key in seed.values}
    keys = [key for key in order if key in present] + sorted(present.difference(order))
    anchor = f"item-{index}"
    diagnostics = item.diagnostics if isinstance(item.diagnostics, Mapping) else {}
    resolved = diagnostics.get("parameters")
    return {
        "id": item.item_id,
        "peak_memory": item_peaks_text(results.resources, item.item_id),
        "anchor": anchor,
        "method": item.method,
        "description": item.description,
        "outcome": item.outcome,
        "duration": format_duration(item.duration),
        "runtime": _runtime_text(item),
        "skip_reason": item.skip_reason,
        "params": [(str(k), _param_text(v)) for k, v in item.params.items()],
        "resolved": [(str(k), _param_text(v), k in item.params) for k, v in resolved.items()]
        if isinstance(resolved, Mapping)
        else [],  # fmt: skip
        "seed_keys": [(key, labels.get(key, key)) for key in keys],
        "seeds": [
            {
                "seed": seed.seed,
                "numbers": [_number_or_dash(seed.values.get(key)) for key in keys],
                "seconds": format_number(seed.unlearn_seconds),
                "cached": seed.cached,
            }
            for seed in item.seeds
        ],
        "population": [(labels.get(k, k), _number_or_dash(v)) for k, v in item.population.items()],
        "notes": sorted((k, v) for k, v in item.notes.items() if k != ACCESS_NOTE),
        "access": item.notes.get(ACCESS_NOTE),
        "errors": [
            {"where": where, "short": short_error(message), "full": message.rstrip()}
            for where, message in item.errors.items()
        ],
        "figures": [figure_view(f) for f in item_figures(results, item, anchor)],
        "diagnostics_error": str(diagnostics.get("error", "")),
    }


def _number_or_dash(value: float | None) -> str:
    return "—" if value is None else format_number(value)


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _node(value: Any, depth: int = 0) -> dict[str, Any]:
    """A dataset field as a tree the template renders generically (mapping, list or text)."""
    if depth > 6:
        return {"kind": "text", "text": _param_text(value)}
    if isinstance(value, Mapping):
        return {"kind": "map", "entries": [(str(k), _node(v, depth + 1)) for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        if all(_is_scalar(v) for v in value):
            return {"kind": "text", "text": ", ".join(_scalar_text(v) for v in value)}
        return {"kind": "list", "entries": [_node(v, depth + 1) for v in value]}
    return {"kind": "text", "text": _scalar_text(value)}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "—"
    if isinstance(value, float):
        # Metadata, not measurements: show what was configured (0.1, 5e-4), not four significant digits.
        return f"{value:.6g}" if math.isfinite(value) else format_number(value)
    return str(value)
