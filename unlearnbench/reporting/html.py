"""The HTML report: one self-contained file (inline CSS and script, no network) rendered from RunResults.

This is the only module of unlearnbench that imports jinja2. Autoescaping is on for the template and
every value reaches it as plain data, so any string a plugin provides (descriptions, parameters, error
messages, dataset fields) appears as text. The table is sortable by a small inline script that attaches
its listeners with ``addEventListener`` and reads numbers from ``data-value`` attributes.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

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
from unlearnbench.results import Column, ItemResult, RunResults, atomic_write_text

__all__ = ["TEMPLATE_NAME", "render_html", "write_html"]

TEMPLATE_NAME = "report.html.j2"
_TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(results: RunResults) -> str:
    """The whole report as one HTML document."""
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(**_context(results))


def write_html(results: RunResults, path: str | os.PathLike[str]) -> Path:
    """Render and write the report atomically; returns the path written."""
    target = Path(path)
    atomic_write_text(target, render_html(results))
    return target


# --------------------------------------------------------------------------- view model


def _context(results: RunResults) -> dict[str, Any]:
    counts = results.counts()
    return {
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
        "columns": _columns(results),
        "rows": _rows(results),
        "items": [_item(results, index, item) for index, item in enumerate(results.items)],
        "dataset": [(str(k), _node(v)) for k, v in results.dataset.items()],
        "best_marker": BEST_MARKER,
    }


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
                "cells": [
                    {
                        "kind": cell.kind,
                        "text": cell.text,
                        "value": "" if cell.value is None else repr(float(cell.value)),
                        "best": cell.best,
                        "gap": None if cell.gap is None else format_gap(cell.gap, cell.value),
                    }
                    for cell in cells
                ],
            }
        )
    return rows


def _item(results: RunResults, index: int, item: ItemResult) -> dict[str, Any]:
    labels = {column.key: column.label for column in results.columns}
    order = [column.key for column in results.columns]
    present = {key for seed in item.seeds for key in seed.values}
    keys = [key for key in order if key in present] + sorted(present.difference(order))
    return {
        "id": item.item_id,
        "anchor": f"item-{index}",
        "method": item.method,
        "description": item.description,
        "outcome": item.outcome,
        "duration": format_duration(item.duration),
        "skip_reason": item.skip_reason,
        "params": [(str(k), _param_text(v)) for k, v in item.params.items()],
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
        "errors": [
            {"where": where, "short": short_error(message), "full": message.rstrip()}
            for where, message in item.errors.items()
        ],
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
