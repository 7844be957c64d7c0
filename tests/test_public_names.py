"""Every import path that the docs, the scaffold templates and the plugins show keeps working.

Plugin authors copy these lines; a module moved behind a face must still answer to them. The names are
read from the files themselves, so a new example is checked the day it is written.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "unlearnbench"

#: ``from unlearnbench.x import a, b`` or ``from unlearnbench.x import (a, b)``, anywhere in a file.
_FROM_IMPORT = re.compile(r"^\s*from\s+(unlearnbench[\w.]*)\s+import\s+(\([^)]*\)|[^\n#]+)", re.MULTILINE)
#: ``import unlearnbench.x`` (optionally ``as y``).
_IMPORT = re.compile(r"^\s*import\s+(unlearnbench[\w.]*)", re.MULTILINE)

#: The face: what ``import unlearnbench`` promises.
FACE = (
    "hookimpl", "EvalContext", "UnlearnContext", "Method", "Metric", "Dataset", "ModelFactory", "ModelOutputs",
    "RawDataset", "Splits", "ItemResult", "RunResults", "Summary", "ExitCode", "MetricNotApplicable", "PluginError",
    "UsageError", "__version__", "main",
)  # fmt: skip


def _sources() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    files += sorted((PACKAGE / "scaffold_templates").glob("*.tmpl"))
    files += sorted((ROOT / "plugins").glob("*.py"))
    for package in ("methods", "metrics", "data", "models"):
        files += sorted((PACKAGE / package).glob("*.py"))
    return [f for f in files if f.is_file()]


def imported_names(text: str) -> set[tuple[str, str]]:
    """(module, name) of every ``from unlearnbench... import`` in ``text``; (module, "") for plain imports."""
    found: set[tuple[str, str]] = set()
    for module, names in _FROM_IMPORT.findall(text):
        for name in names.strip("()").replace("\n", ",").split(","):
            name = name.split("#")[0].strip().split(" as ")[0].strip()
            if name and name.isidentifier():
                found.add((module, name))
    found.update((module, "") for module in _IMPORT.findall(text))
    return found


def _all_imports() -> list[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for path in _sources():
        for module, name in imported_names(path.read_text(encoding="utf-8")):
            if "{" not in module:  # a template placeholder, not a path
                out.add((path.relative_to(ROOT).as_posix(), module, name))
    return sorted(out)


def test_the_parser_reads_single_and_parenthesised_imports() -> None:
    text = (
        "from unlearnbench.testing import (\n    check_method,\n    run_bench,  # x\n)\n"
        "from unlearnbench import hookimpl\n"
    )
    assert imported_names(text) == {
        ("unlearnbench.testing", "check_method"), ("unlearnbench.testing", "run_bench"), ("unlearnbench", "hookimpl"),
    }  # fmt: skip


def test_the_documents_show_imports_to_check() -> None:
    files = {where for where, _, _ in _all_imports()}
    assert "README.md" in files and "docs/writing-plugins.md" in files
    assert any(f.startswith("unlearnbench/scaffold_templates/") for f in files)


@pytest.mark.parametrize(("where", "module", "name"), _all_imports())
def test_every_shown_import_works(where: str, module: str, name: str) -> None:
    imported = importlib.import_module(module)
    if name:
        assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}") is not None, (
            f"{where}: from {module} import {name} no longer works"
        )


@pytest.mark.parametrize("name", FACE)
def test_the_face_offers_its_names(name: str) -> None:
    import unlearnbench

    assert hasattr(unlearnbench, name)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("unlearnbench.runner", "Bench"), ("unlearnbench.runner", "run_item"), ("unlearnbench.runner", "MetricSpec"),
        ("unlearnbench.runner", "source_hash"), ("unlearnbench.session", "Session"), ("unlearnbench.session", "Item"),
        ("unlearnbench.session", "merge_params"), ("unlearnbench.executors", "WaveExecutor"),
        ("unlearnbench.executors", "run_job"), ("unlearnbench.executors", "JobOutcome"),
        ("unlearnbench.executors", "ExecutorContext"), ("unlearnbench.data.pipeline", "TensorData"),
        ("unlearnbench.training", "Recipe"), ("unlearnbench.training", "Phase"), ("unlearnbench.training", "train"),
        ("unlearnbench.metrics.unlearning_score", "unlearning_score"), ("unlearnbench.cli", "main"),
        ("unlearnbench.hookspec", "hookimpl"), ("unlearnbench.config", "Config"), ("unlearnbench.errors", "ExitCode"),
    ],
)
def test_documented_engine_paths_keep_working(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_the_command_line_and_the_contract_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, unlearnbench, unlearnbench.api, unlearnbench.hookspec, unlearnbench.recipe, unlearnbench.cli; "
        "print(sorted(m for m in sys.modules if m == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
