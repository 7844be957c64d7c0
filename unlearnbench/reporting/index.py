"""Pages about several runs: the index of an output folder and the side-by-side comparison of two runs.

``reports/index.html`` lists every run folder beside it (each holding a ``results.json``) with its date,
dataset and the best method per headline metric; the session rewrites it after every run.
:func:`render_compare` puts two runs side by side in one self-contained page: their provenance, the
configuration keys that differ, every metric of every item with the change from A to B, and both
forgetting-vs-utility pictures. Both pages render from the ``results.json`` files alone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unlearnbench.errors import UsageError
from unlearnbench.reporting import (
    direction_symbol,
    format_duration,
    format_gap,
    format_number,
    ordered_items,
    summary_text,
)
from unlearnbench.reporting.figures import pareto_figure
from unlearnbench.reporting.html import figure_view, render_template
from unlearnbench.results import (
    Column,
    ResultsFormatError,
    RunResults,
    atomic_write_text,
    best_per_column,
    load,
)

__all__ = [
    "HEADLINE_COLUMNS",
    "best_methods",
    "headline_columns",
    "render_compare",
    "render_index",
    "resolve_results",
    "write_compare",
    "write_index",
]

#: The columns the index names a best method for, where a run has them (in this order).
HEADLINE_COLUMNS: tuple[str, ...] = (
    "unlearning_score",
    "forgetting_quality.F",
    "accuracy.TA",
    "runtime.ratio",
)
INDEX_NAME = "index.html"


def headline_columns(results: RunResults) -> list[Column]:
    """The ranked columns of :data:`HEADLINE_COLUMNS` in ``results``; else its first four ranked ones."""
    ranked = [c for c in results.columns if c.higher_is_better is not None]
    by_key = {c.key: c for c in ranked}
    chosen = [by_key[key] for key in HEADLINE_COLUMNS if key in by_key]
    return chosen or ranked[:4]


def best_methods(results: RunResults) -> dict[str, list[tuple[str, float]]]:
    """Per headline column key: the best item ids (reference rows excluded) with their mean."""
    best = best_per_column(results)
    out: dict[str, list[tuple[str, float]]] = {}
    for column in headline_columns(results):
        ids = best.get(column.key)
        if ids:
            out[column.key] = [(i, results.item(i).summary[column.key].mean) for i in sorted(ids)]
    return out


#: Per run folder, the index's row and the (mtime, size) of the results.json it was read from: rewriting
#: the index after a run re-reads only the runs that changed, not every earlier one.
ROW_CACHE_NAME = ".index-rows.json"
_ROW_CACHE_FORMAT = 1


def _run_row(results: RunResults, folder: str, report: str | None) -> dict[str, Any]:
    """Everything the index shows of one run (JSON-serialisable, so it can be cached)."""
    dataset = results.dataset if isinstance(results.dataset, Mapping) else {}
    best = best_methods(results)
    return {
        "folder": folder,
        "report": report,
        "run_id": results.run_id,
        "started": results.started_at,
        "dataset": str(dataset.get("name") or results.config.get("dataset", "?")),
        "forget": str(dataset.get("forget") or results.config.get("forget", "")),
        "model": str(dataset.get("model") or results.config.get("model") or ""),
        "summary": summary_text(results),
        "status": _status(results),
        "duration": format_duration(results.duration),
        "seconds": results.duration,
        "headline": [[c.key, f"{c.label} {direction_symbol(c)}".strip()] for c in headline_columns(results)],
        "best": {key: [[i, format_number(v)] for i, v in pairs] for key, pairs in best.items()},
    }


def _read_row_cache(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / ROW_CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _ROW_CACHE_FORMAT or not isinstance(data.get("runs"), dict):
        return {}
    return data["runs"]


def index_rows(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of every ``<folder>/*/results.json`` that reads, newest first.

    A row is taken from the folder's row cache when its results.json has the same modification time and
    size as when the row was made; otherwise the results are read again. The cache is rewritten
    (atomically) when anything changed; a cache that cannot be read or written only costs time.
    """
    root = Path(folder)
    cached = _read_row_cache(root)
    rows: dict[str, Any] = {}
    changed = False
    for path in sorted(root.glob("*/results.json")):
        name = path.parent.name
        try:
            stat = path.stat()
        except OSError:
            continue
        signature = [stat.st_mtime_ns, stat.st_size, path.with_name("report.html").is_file()]
        entry = cached.get(name)
        if isinstance(entry, dict) and entry.get("signature") == signature and isinstance(entry.get("row"), dict):
            rows[name] = entry
            continue
        changed = True
        try:
            results = load(path)
        except ResultsFormatError:
            continue
        link = f"{name}/report.html" if signature[2] else None
        rows[name] = {"signature": signature, "row": _run_row(results, name, link)}
    if changed or set(rows) != set(cached):
        with contextlib.suppress(OSError):
            atomic_write_text(root / ROW_CACHE_NAME, json.dumps({"format": _ROW_CACHE_FORMAT, "runs": rows}))
    ordered = [entry["row"] for entry in rows.values()]
    ordered.sort(key=lambda row: (str(row.get("started", "")), str(row.get("folder", ""))), reverse=True)
    return ordered


def _headers(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(key, label) of the headline columns over all runs, in the order of :data:`HEADLINE_COLUMNS`."""
    seen: dict[str, str] = {}
    for row in rows:
        for key, label in row["headline"]:
            seen.setdefault(key, label)
    order = {key: i for i, key in enumerate(HEADLINE_COLUMNS)}
    return sorted(seen.items(), key=lambda kv: order.get(kv[0], len(order)))


def render_index(folder: str | os.PathLike[str]) -> str:
    """The index page of an output folder."""
    rows = index_rows(folder)
    headers = _headers(rows)
    runs = [
        {**{k: v for k, v in row.items() if k not in ("headline", "best")},
         "best": [[tuple(pair) for pair in row["best"].get(key, [])] for key, _ in headers]}
        for row in rows
    ]  # fmt: skip
    return render_template(
        "index.html.j2", folder=str(Path(folder).resolve().name), headers=headers, runs=runs
    )


def _status(results: RunResults) -> str:
    counts = results.counts()
    if counts["failed"] or counts["error"]:
        return "bad"
    return "warn" if results.interrupted or not counts["passed"] else "good"


def write_index(folder: str | os.PathLike[str]) -> Path:
    """Write ``<folder>/index.html`` (atomically) and return its path."""
    target = Path(folder) / INDEX_NAME
    atomic_write_text(target, render_index(folder))
    return target


# --------------------------------------------------------------------------- compare


def resolve_results(path: str | os.PathLike[str]) -> Path:
    """A run folder (holding results.json) or a results.json path; UsageError when neither exists."""
    candidate = Path(path)
    if candidate.is_dir():
        candidate = candidate / "results.json"
    if not candidate.is_file():
        raise UsageError(f"{path}: no results.json there (give a run folder or its results.json)")
    return candidate


def _run_name(path: Path) -> str:
    return path.parent.name or path.stem


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


def _cell(results: RunResults, item_id: str, key: str) -> float | None:
    try:
        summary = results.item(item_id).summary.get(key)
    except KeyError:
        return None
    return summary.mean if summary is not None and math.isfinite(summary.mean) else None


def render_compare(a: RunResults, b: RunResults, name_a: str = "A", name_b: str = "B") -> str:
    """Two runs side by side in one self-contained page (B's change from A in every metric)."""
    columns: list[Column] = list(a.columns) + [
        c for c in b.columns if c.key not in {x.key for x in a.columns}
    ]
    ids = [i.item_id for i in ordered_items(a)]
    ids += [i.item_id for i in ordered_items(b) if i.item_id not in ids]
    rows = []
    for item_id in ids:
        cells = []
        for column in columns:
            va, vb = _cell(a, item_id, column.key), _cell(b, item_id, column.key)
            delta = vb - va if va is not None and vb is not None else None
            cells.append(
                {
                    "a": "—" if va is None else format_number(va),
                    "b": "—" if vb is None else format_number(vb),
                    "delta": None if delta is None else format_gap(delta, va),
                    "value": "" if delta is None else repr(delta),
                    "better": _better(column, delta),
                }
            )
        reference = item_id in ("original", "retrain")
        rows.append({"id": item_id, "cells": cells, "reference": reference})
    config_a, config_b = _flatten(a.config), _flatten(b.config)
    differences = [
        (k, config_a.get(k, "—"), config_b.get(k, "—"))
        for k in sorted(set(config_a) | set(config_b))
        if config_a.get(k) != config_b.get(k)
    ]
    runs = []
    for tag, name, r in (("a", name_a, a), ("b", name_b, b)):
        pareto = pareto_figure(r, wide=False)
        if pareto is not None:
            pareto = type(pareto)(
                f"{tag}-pareto",
                f"{name}: forgetting vs utility vs time",
                pareto.caption,
                pareto.svg,
                pareto.wide,
            )
        runs.append(
            {
                "tag": tag,
                "name": name,
                "r": r,
                "summary": summary_text(r),
                "status": _status(r),
                "duration": format_duration(r.duration),
                "pareto": None if pareto is None else figure_view(pareto),
            }
        )
    headers = [{"label": c.label, "direction": direction_symbol(c), "key": c.key} for c in columns]
    return render_template("compare.html.j2", runs=runs, headers=headers, rows=rows, differences=differences)


def _better(column: Column, delta: float | None) -> str:
    """``up``/``down`` where B improved/worsened on a ranked column, else empty."""
    if delta is None or delta == 0 or column.higher_is_better is None:
        return ""
    improved = delta > 0 if column.higher_is_better else delta < 0
    return "up" if improved else "down"


def write_compare(
    path_a: str | os.PathLike[str],
    path_b: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
) -> Path:
    """Render the comparison of two runs (folders or results.json paths) and write it; returns the path.

    The default output is ``compare-<a>-<b>.html`` in the working directory, named after the run folders.
    """
    file_a, file_b = resolve_results(path_a), resolve_results(path_b)
    try:
        a, b = load(file_a), load(file_b)
    except ResultsFormatError as exc:
        raise UsageError(str(exc)) from None
    name_a, name_b = _run_name(file_a), _run_name(file_b)
    target = Path(output) if output else Path.cwd() / f"compare-{name_a}-{name_b}.html"
    atomic_write_text(target, render_compare(a, b, name_a, name_b))
    return target
