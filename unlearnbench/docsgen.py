"""Generate ``docs/methods.md`` and ``docs/metrics.md`` from the registry of built-in plugins.

``python -m unlearnbench.docsgen`` rewrites both files; ``--check`` exits 1 when they are out of date (a
test runs the check, so the references can never drift from the code). Each entry links to its page in
``docs/methods/<name>.md`` or ``docs/metrics/<name>.md`` (paper, algorithm, choices the paper leaves open).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unlearnbench.fidelity import Fidelity, Source
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import Registry, build_registry
from unlearnbench.selection import expand_grid, format_value

DOCS = Path(__file__).resolve().parent.parent / "docs"


def builtin_registry() -> Registry:
    """The registry of built-in plugins only (no entry points, no local folder)."""
    return build_registry(build_plugin_manager(use_entry_points=False, plugins_dir=Path("/nonexistent")))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _params(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in values.items()) or "—"


def render_methods(registry: Registry) -> str:
    """The methods reference as Markdown."""
    lines = [
        "# Methods",
        "",
        "Generated from the registry by `python -m unlearnbench.docsgen`; do not edit by hand.",
        "Each method's page (linked) gives its paper, algorithm, defaults and the choices the paper leaves open.",
        "",
        "| method | description | defaults | grid points | class-wise only |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, entry in sorted(registry.methods.items()):
        cls = entry.cls
        points = expand_grid(getattr(cls, "grid", None))
        link = f"[`{name}`](methods/{name}.md)" if (DOCS / "methods" / f"{name}.md").is_file() else f"`{name}`"
        lines.append(
            f"| {link} | {_cell(entry.description)} | {_cell(_params(dict(getattr(cls, 'defaults', {}) or {})))} "
            f"| {len(points) or 1} | {'yes' if getattr(cls, 'requires_class_forget', False) else ''} |"
        )
    lines += render_fidelity(registry.methods, "methods")
    return "\n".join(lines) + "\n"


def _direction(value: Any) -> str:
    return {True: "higher", False: "lower", None: "closest to retrain"}.get(value, str(value))


def render_metrics(registry: Registry) -> str:
    """The metrics reference as Markdown."""
    lines = [
        "# Metrics",
        "",
        "Generated from the registry by `python -m unlearnbench.docsgen`; do not edit by hand.",
        "Each metric's page (linked) gives its definition, source, range and its value under perfect unlearning.",
        "",
        "| metric | description | columns (better) | scope |",
        "| --- | --- | --- | --- |",
    ]
    for name, entry in sorted(registry.metrics.items()):
        cls = entry.cls
        hib = getattr(cls, "higher_is_better", None)
        columns = getattr(cls, "columns", None) or (name,)
        shown = ", ".join(
            f"{c} ({_direction(hib.get(c) if isinstance(hib, dict) else hib)})" for c in columns
        )
        link = f"[`{name}`](metrics/{name}.md)" if (DOCS / "metrics" / f"{name}.md").is_file() else f"`{name}`"
        lines.append(f"| {link} | {_cell(entry.description)} | {_cell(shown)} | {getattr(cls, 'scope', 'model')} |")
    lines += render_fidelity(registry.metrics, "metrics")
    return "\n".join(lines) + "\n"


def _place(record: Fidelity, source: Source) -> str:
    """``file:lines`` of ``source``, linked to its permanent URL where it has one."""
    where = "paper" if source.file == "paper" else f"`{source.file}`"
    where += f" {source.lines}" if source.lines else ""
    if source.repository and source.repository != record.repository:
        where = f"{source.repository}: {where}"
    url = record.url(source)
    return f"[{where}]({url})" if url else where


def _reference_value(source: Source) -> str:
    return "—" if source.value is None else f"`{format_value(source.value)}`"


def render_fidelity(entries: Mapping[str, Any], kind: str) -> list[str]:
    """The fidelity section: per plugin, the reference read, its loop, every default's source, differences."""
    lines = [
        "",
        "## Fidelity to the reference code",
        "",
        f"Each row below is the plugin's `fidelity` record (`unlearnbench/{kind}/<name>.py`): the authors'",
        "repository and the commit that was read, where the loop sits, the source of every default, and each",
        "remaining difference with why it remains and its measured effect.",
        "",
        "| " + kind[:-1] + " | reference | loop | differences |",
        "| --- | --- | --- | --- |",
    ]
    records = {name: getattr(entry.cls, "fidelity", None) for name, entry in sorted(entries.items())}
    for name, record in records.items():
        if not isinstance(record, Fidelity):
            lines.append(f"| `{name}` | no record | | |")
            continue
        reference = f"{record.repository}@{record.commit[:10]}" if record.repository and record.commit else "paper"
        loop = "; ".join(_place(record, source) for source in record.loop)
        lines.append(f"| `{name}` | {_cell(reference)} | {_cell(loop)} | {len(record.differences)} |")
    for name, record in records.items():
        if not isinstance(record, Fidelity):
            continue
        cls = entries[name].cls
        defaults = dict(getattr(cls, "defaults", {}) or {})
        lines += ["", f"### `{name}`", "", _cell(record.paper)]
        if record.repository:
            lines += ["", f"Reference code: `{record.repository}` at commit `{record.commit}`."]
        if defaults or record.defaults:
            lines += ["", "| parameter | ours | reference | source |", "| --- | --- | --- | --- |"]
            for key in sorted(set(defaults) | set(record.defaults)):
                source = record.defaults.get(key)
                ours = f"`{format_value(defaults[key])}`" if key in defaults else "(not a default)"
                if source is None:
                    lines.append(f"| `{key}` | {ours} | **uncited** | |")
                    continue
                cited = _place(record, source) + (f" ({source.note})" if source.note else "")
                lines.append(f"| `{key}` | {ours} | {_reference_value(source)} | {_cell(cited)} |")
        for difference in record.differences:
            about = f" (`{difference.parameter}`)" if difference.parameter else ""
            lines += [
                "",
                f"- **Differs{about}:** {_cell(difference.what)} **Why:** {_cell(difference.why)} "
                f"**Measured:** {_cell(difference.effect)}",
            ]
        for note in record.paper_over_code:
            lines += ["", f"- **Paper over code:** {_cell(note)}"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    args = parser.parse_args(argv)
    registry = builtin_registry()
    stale = []
    targets = ((DOCS / "methods.md", render_methods(registry)), (DOCS / "metrics.md", render_metrics(registry)))
    for path, text in targets:
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python -m unlearnbench.docsgen)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
