"""The plugin docs are executable and exact.

docs/writing-plugins.md: a ```python block right after ``<!-- file: PATH -->`` is written to PATH in a
fresh project folder; every other ```python block runs there, in order, in one namespace; the test files
it wrote then pass under pytest. docs/hooks.md: every hook of hookspec.py appears with its exact
signature and the first paragraph of its docstring, and nothing else is documented as a hook.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from unlearnbench import hookspec
from unlearnbench.scaffold import plugin_names, render
from unlearnbench.testing_store import TESTING_CACHE_ENV, source_digest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FILE_MARK = re.compile(r"^<!-- file: (\S+) -->$")


def python_blocks(text: str) -> list[tuple[str | None, str]]:
    """(target path or None, code) of every ```python block, in document order."""
    lines = text.splitlines()
    blocks: list[tuple[str | None, str]] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```python":
            i += 1
            continue
        end = lines.index("```", i + 1)
        previous = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
        mark = FILE_MARK.match(previous)
        blocks.append((mark.group(1) if mark else None, "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return blocks


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


WRITING = (DOCS / "writing-plugins.md").read_text()
BLOCKS = python_blocks(WRITING)


def test_the_guide_has_plugin_files_tests_and_snippets() -> None:
    targets = [target for target, _ in BLOCKS if target is not None]
    assert targets == ["plugins/shrink.py", "tests/test_shrink.py", "plugins/notify.py"]
    assert sum(target is None for target, _ in BLOCKS) >= 2
    for target, code in BLOCKS:
        compile(code, target or "<docs snippet>", "exec")


def forget_local_plugins() -> None:
    for name in [m for m in sys.modules if m.startswith("unlearnbench_local_plugins.")]:
        sys.modules.pop(name, None)


def test_the_guides_python_runs_in_order(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    printed = io.StringIO()
    try:
        for target, code in BLOCKS:
            if target is not None:
                (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / target).write_text(code)
                continue
            with contextlib.redirect_stdout(printed):
                exec(compile(code, "<writing-plugins.md>", "exec"), namespace)  # noqa: S102 - the docs' own code
    finally:
        forget_local_plugins()
    assert "('unlearnbench_add_methods', 'unlearnbench_add_metrics')" in printed.getvalue()
    assert set(namespace["values"]) == {"forget_confidence.forget", "forget_confidence.test"}


def test_the_guides_entry_point_is_what_new_plugin_writes() -> None:
    toml = fenced(WRITING, "toml")
    assert len(toml) == 1
    assert toml[0].strip() in render(plugin_names("my-method"))["pyproject.toml"]


@pytest.mark.slow
def test_the_guides_test_file_passes_with_the_pytest_plugin(tmp_path: Path, unlearnbench_store: Path) -> None:
    for target, code in BLOCKS:
        if target is not None:
            (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / target).write_text(code)
    if unlearnbench_store.name == source_digest():  # reuse this session's trained tiny models
        store_root = unlearnbench_store.parent
    else:
        store_root = tmp_path / "store"
        store_root.mkdir()
        (store_root / source_digest()).symlink_to(unlearnbench_store)
    installed = any(
        ep.group == "pytest11" and ep.value == "unlearnbench.pytest_plugin"
        for dist in importlib.metadata.distributions()
        for ep in dist.entry_points
    )
    plugin_args = [] if installed else ["-p", "unlearnbench.pytest_plugin"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         *plugin_args, "tests"],
        cwd=tmp_path, env={**os.environ, TESTING_CACHE_ENV: str(store_root)}, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "4 passed" in proc.stdout.strip().splitlines()[-1]
    log = (tmp_path / "unlearnbench-items.log").read_text().splitlines()  # the notify plugin listened
    assert log[0].startswith("original\tpassed") and log[-1].startswith("run ")


# --------------------------------------------------------------------------- hooks.md


def documented_hooks() -> dict[str, tuple[str, str]]:
    """Hook name → (the signature in its heading, the text of its section)."""
    text = (DOCS / "hooks.md").read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    found: dict[str, tuple[str, str]] = {}
    for section in sections:
        heading, _, body = section.partition("\n")
        match = re.fullmatch(r"`((unlearnbench_\w+)\(.*\) -> .+)`", heading.strip())
        if match is None:
            assert "unlearnbench_" not in heading, f"malformed hook heading: {heading}"
            continue
        assert match.group(2) not in found, f"{match.group(2)} is documented twice"
        found[match.group(2)] = (match.group(1), body)
    return found


def declared_hooks() -> dict[str, Any]:
    marker = f"{hookspec.PROJECT}_spec"  # what pluggy's HookspecMarker sets on every declared hook
    return {name: fn for name, fn in vars(hookspec).items() if callable(fn) and hasattr(fn, marker)}


def signature_text(name: str, fn: Any) -> str:
    signature = inspect.signature(fn)
    arguments = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{name}({arguments}) -> {signature.return_annotation}"


def plain(text: str) -> str:
    """Docstring reST as the markdown writes it: roles dropped, double backticks single, spaces collapsed."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    return " ".join(text.split())


def test_hooks_md_documents_exactly_the_declared_hooks() -> None:
    declared, documented = declared_hooks(), documented_hooks()
    assert len(declared) >= 9 and "unlearnbench_add_methods" in declared
    assert set(documented) == set(declared)
    for name, fn in declared.items():
        heading, body = documented[name]
        assert heading == signature_text(name, fn)
        first_paragraph = (inspect.getdoc(fn) or "").split("\n\n")[0]
        assert plain(first_paragraph) in plain(body), f"the doc of {name} differs from hookspec.py"


def test_signature_check_would_catch_a_renamed_argument() -> None:
    def unlearnbench_runreport(result: int) -> None:
        """Called with each finished item's frozen result, as soon as it is complete."""

    heading, _ = documented_hooks()["unlearnbench_runreport"]
    assert heading != signature_text("unlearnbench_runreport", unlearnbench_runreport)
    assert heading == "unlearnbench_runreport(report: ItemResult) -> None"
