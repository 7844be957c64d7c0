"""Generate ``docs/methods.md``, ``docs/metrics.md`` and ``docs/hooks.md`` from the code.

``python -m unlearnbench.docsgen`` rewrites all three files; ``--check`` exits 1 when one is out of date (a
test runs the check, so the references can never drift from the code). The methods and metrics references
come from the registry of built-in plugins; each entry links to its page in ``docs/methods/<name>.md`` or
``docs/metrics/<name>.md`` (paper, algorithm, choices the paper leaves open). The hook reference comes from
the docstrings of :mod:`unlearnbench.hookspec` (reST fields and roles rendered as Markdown).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from unlearnbench import hookspec
from unlearnbench.fidelity import Fidelity, Source
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import Registry, build_registry
from unlearnbench.selection import expand_grid, format_value

DOCS = Path(__file__).resolve().parent.parent / "docs"


def builtin_registry() -> Registry:
    """The registry of built-in plugins only (no entry points, no local folder)."""
    return build_registry(build_plugin_manager(use_entry_points=False, plugins_dir=Path("/nonexistent")))


def _cell(text: Any) -> str:
    """``text`` as one Markdown table cell (pipes escaped, on one line)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _params(values: dict[str, Any]) -> str:
    """``key=value, ...`` of ``values``, or a dash when there are none."""
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
    """A ``higher_is_better`` value in words."""
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
    """The reference code's value of a default, as a code span (a dash when it has none)."""
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


HOOKS_HEADER = (
    "<!-- Generated from unlearnbench/hookspec.py by `python -m unlearnbench.docsgen`; do not edit by hand. -->"
)

#: An inline reST construct: a ``literal``, a :role:`target` (optionally :role:`title <target>` or
#: :role:`~a.b.C`), or a hyperlink `text <url>`_.
_INLINE = re.compile(
    r"``(?P<literal>.+?)``"
    r"|:(?:\w+:)?\w+:`(?P<role>[^`]+)`"
    r"|`(?P<text>[^`<]+?)\s*<(?P<url>[^>]+)>`__?"
)
_FIELD = re.compile(r"^:param\s+(?:[\w\[\], .]+\s+)?(?P<name>\w+):\s*(?P<text>.*)$")
_CODE_BLOCK = re.compile(r"^\.\.\s+code-block::\s*(?P<lang>\S*)\s*$")
_UNDERLINE = re.compile(r"^([=\-~^\"'])\1+$")


def hook_specs(module: ModuleType = hookspec) -> list[tuple[str, Callable[..., Any]]]:
    """(name, function) of every hook spec of ``module`` (pluggy's spec marker set), in source order."""
    marker = f"{hookspec.PROJECT}_spec"  # the attribute pluggy.HookspecMarker(PROJECT) sets on each spec
    specs = [(name, fn) for name, fn in vars(module).items() if inspect.isfunction(fn) and hasattr(fn, marker)]
    return sorted(specs, key=lambda spec: spec[1].__code__.co_firstlineno)


def hook_signature(name: str, fn: Callable[..., Any]) -> str:
    """``name(arg: Annotation, ...) -> Return``, with the annotations as written in the source."""
    signature = inspect.signature(fn)  # string annotations (``from __future__ import annotations``) stay as is
    arguments = ", ".join(
        p.name if p.annotation is p.empty else f"{p.name}: {p.annotation}" for p in signature.parameters.values()
    )
    returns = "" if signature.return_annotation is signature.empty else f" -> {signature.return_annotation}"
    return f"{name}({arguments}){returns}"


def _inline_match(match: re.Match[str]) -> str:
    """The Markdown of one inline reST construct matched by ``_INLINE``."""
    if match.group("literal") is not None:
        return f"`{match.group('literal')}`"
    if match.group("role") is not None:
        target = match.group("role").strip()
        titled = re.fullmatch(r"(.+?)\s*<([^>]+)>", target)
        if titled:
            return f"`{titled.group(1)}`"
        return f"`{target[1:].rsplit('.', 1)[-1]}`" if target.startswith("~") else f"`{target}`"
    return f"[{match.group('text')}]({match.group('url')})"


def rest_inline(text: str) -> str:
    """Inline reST as Markdown: ``x`` and :role:`a.b.C` become code spans (``~`` keeps only ``C``), links links."""
    return _INLINE.sub(_inline_match, text)


def _code_intro(line: str) -> tuple[str, str] | None:
    """(text kept before the block, language) when ``line`` opens a literal block, else None."""
    directive = _CODE_BLOCK.match(line.strip())
    if directive:
        return "", directive.group("lang")
    if not line.rstrip().endswith("::") or line.lstrip().startswith(".."):
        return None
    text = line.rstrip()[:-2]  # "text::" -> "text:", "text ::" and "::" -> "text" and nothing
    return (text + ":" if text and not text[-1].isspace() else text.rstrip()), ""


def _indented_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """The dedented indented lines from ``start`` (leading blank lines skipped) and the index after them."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    end = i
    while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
        i += 1
        if lines[i - 1].strip():
            end = i
    return textwrap.dedent("\n".join(lines[start:end])).strip("\n").splitlines(), end


def _field(lines: list[str], start: int) -> tuple[list[str], int] | None:
    """A ``:param name: text`` field (with its indented continuation) as a Markdown bullet, and the next index."""
    match = _FIELD.match(lines[start])
    if match is None:
        return None
    out = [f"- `{match.group('name')}`: {rest_inline(match.group('text'))}"]
    i = start + 1
    while i < len(lines) and lines[i].strip() and lines[i][:1].isspace():
        out.append("  " + rest_inline(lines[i].strip()))
        i += 1
    return out, i


def _is_title(lines: list[str], i: int) -> bool:
    """Whether ``lines[i]`` is a section title: unindented text over an underline of ``=``, ``-``, ``~`` ..."""
    line = lines[i]
    return bool(line.strip()) and not line[:1].isspace() and i + 1 < len(lines) and bool(_UNDERLINE.match(lines[i + 1]))


def rest_to_markdown(text: str) -> str:
    """A reST docstring as Markdown.

    ``:param name: text`` fields become bullets ``- `name`: text``; literals and roles (``:class:``,
    ``:func:``, ``:data:``, ...) become code spans; ``text::`` and ``.. code-block:: LANG`` blocks become
    fenced blocks; underlined section titles become ``##`` headings. Everything else is kept as written
    (lists, emphasis and paragraphs read the same in both).
    """
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        intro = _code_intro(lines[i])
        field = None if intro is not None else _field(lines, i)
        if intro is not None:
            if intro[0]:
                out.append(rest_inline(intro[0]))
            block, i = _indented_block(lines, i + 1)
            out += ([""] if out and out[-1] else []) + [f"```{intro[1]}", *block, "```"]
        elif field is not None:
            bullet, i = field
            out += bullet
        elif _is_title(lines, i):
            out.append(f"## {rest_inline(lines[i].strip())}")
            i += 2
        else:
            out.append(rest_inline(lines[i]))
            i += 1
    return "\n".join(out).strip("\n")


def render_hooks(module: ModuleType = hookspec) -> str:
    """The hook reference (``docs/hooks.md``) as Markdown, from the docstrings of ``module``."""
    lines = [HOOKS_HEADER, "", "# Hook reference", "", rest_to_markdown(inspect.getdoc(module) or "")]
    for name, fn in hook_specs(module):
        lines += ["", f"## `{hook_signature(name, fn)}`", "", rest_to_markdown(inspect.getdoc(fn) or "")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated references (or, with ``--check``, report the stale ones); returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    args = parser.parse_args(argv)
    registry = builtin_registry()
    stale = []
    targets = (
        (DOCS / "methods.md", render_methods(registry)),
        (DOCS / "metrics.md", render_metrics(registry)),
        (DOCS / "hooks.md", render_hooks()),
    )
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
