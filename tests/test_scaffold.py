"""``unlearnbench new-plugin``: derived names, bad names, no overwriting, and a generated package that works.

The end-to-end test stands in for ``pip install -e NAME``: the generated ``src`` goes on ``sys.path`` with
a dist-info folder holding the entry point, which is all an editable install contributes to discovery.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib

from unlearnbench import __version__
from unlearnbench.cli import main
from unlearnbench.errors import UsageError
from unlearnbench.scaffold import PluginNames, plugin_names, scaffold
from unlearnbench.testing import run_bench
from unlearnbench.testing_store import TESTING_CACHE_ENV, source_digest

GENERATED = [
    ".gitignore", "README.md", "pyproject.toml", "src/{p}/__init__.py", "src/{p}/plugin.py",
    "tests/test_plugin.py",
]  # fmt: skip


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_names_are_derived_from_the_argument() -> None:
    assert plugin_names("my-method") == PluginNames(
        dist="my-method", package="my_method", method="my_method", method_class="MyMethod",
        metric="my_method_forget_loss", metric_class="MyMethodForgetLoss",
    )  # fmt: skip
    assert plugin_names("salun2_plus").method_class == "Salun2Plus"


ALLOWED = "use lowercase letters, digits and single '-' or '_' between them, starting with a letter"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My-Method", f"invalid plugin name 'My-Method': {ALLOWED} (e.g. my-method)"),
        ("my method", f"invalid plugin name 'my method': {ALLOWED} (e.g. my-method)"),
        ("my--method", f"invalid plugin name 'my--method': {ALLOWED} (e.g. my-method)"),
        ("2fast", f"invalid plugin name '2fast': {ALLOWED}"),
        ("", f"invalid plugin name '': {ALLOWED}"),
        ("class", "invalid plugin name 'class': 'class' is a Python keyword"),
        ("json", "invalid plugin name 'json': the package 'json' would shadow the module of the same name"),
        ("torch", "invalid plugin name 'torch': the package 'torch' would shadow the module of the same "
                  "name"),
        ("finetune", "invalid plugin name 'finetune': a method named 'finetune' already exists (built-in "
                     "unlearnbench.methods.finetune); choose another NAME"),
    ],
)  # fmt: skip
def test_bad_names_are_one_line_usage_errors(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-plugin", name]) == 4
    assert capsys.readouterr().err == f"ERROR: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_existing_files_are_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-plugin", "keep-me"]) == 0
    plugin = tmp_path / "keep-me" / "src" / "keep_me" / "plugin.py"
    plugin.write_text("# my work\n")
    capsys.readouterr()
    assert main(["new-plugin", "keep-me"]) == 4
    assert capsys.readouterr().err == (
        "ERROR: keep-me/pyproject.toml already exists (and 5 more); new-plugin never overwrites files\n"
    )
    assert plugin.read_text() == "# my work\n"

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "README.md").write_text("my notes")
    assert main(["new-plugin", "other-plugin", "--directory", "mine"]) == 4
    assert "mine/README.md already exists; new-plugin never overwrites files" in capsys.readouterr().err
    assert files_under(tmp_path / "mine") == ["README.md"]  # nothing was written beside it

    (tmp_path / "a-file").write_text("")
    assert main(["new-plugin", "third-plugin", "-d", "a-file"]) == 4
    assert "Directory 'a-file' is a file" in capsys.readouterr().err
    with pytest.raises(UsageError, match="a-file exists and is not a directory"):
        scaffold("third-plugin", tmp_path / "a-file", check_names=False)


def test_generated_package_is_complete_and_tidy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, package = "tidy-plugin-with-a-rather-long-name", "tidy_plugin_with_a_rather_long_name"
    assert main(["new-plugin", name, "--directory", "out/tidy"]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "out" / "tidy"
    assert files_under(root) == sorted(f.format(p=package) for f in GENERATED)
    assert out.splitlines()[0] == f"created the unlearnbench plugin package {name} in out/tidy:"
    assert "  pip install -e out/tidy" in out and f"unlearnbench run --preset fake --method {package}" in out

    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == name
    assert project["project"]["dependencies"] == [f"unlearnbench>={__version__}"]
    assert project["project"]["entry-points"] == {"unlearnbench": {package: f"{package}.plugin"}}
    assert project["tool"]["setuptools"]["packages"]["find"] == {"where": ["src"]}
    assert project["tool"]["pytest"]["ini_options"]["pythonpath"] == ["src"]

    for path in root.rglob("*.py"):
        text = path.read_text()
        compile(text, str(path), "exec")
        assert "$" not in text, f"unfilled placeholder in {path}"
    plugin = (root / "src" / package / "plugin.py").read_text()
    assert f'name = "{package}"' in plugin and f'name = "{package}_forget_loss"' in plugin
    assert "class TidyPluginWithARatherLongName:" in plugin
    assert "class TidyPluginWithARatherLongNameForgetLoss:" in plugin
    if importlib.util.find_spec("ruff") is not None:  # long names must not break the style either
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "110",
             "--select", "E,F,W,I,UP,B", "--target-version", "py310", "."],
            cwd=root, capture_output=True, text=True,
        )  # fmt: skip
        assert lint.returncode == 0, lint.stdout + lint.stderr


def fake_install(site: Path, dist: str, package: str) -> None:
    """What ``pip install -e`` adds for discovery: a dist-info with the entry point (sources: sys.path)."""
    info = site / f"{package}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[unlearnbench]\n{package} = {package}.plugin\n")


def pytest_plugin_args() -> list[str]:
    """Inner sessions get the plugin from its entry point, or explicitly in an uninstalled checkout."""
    installed = any(
        ep.group == "pytest11" and ep.value == "unlearnbench.pytest_plugin"
        for dist in importlib.metadata.distributions()
        for ep in dist.entry_points
    )
    return [] if installed else ["-p", "unlearnbench.pytest_plugin"]


@pytest.mark.slow
def test_generated_plugin_is_listed_runs_in_the_bench_and_its_tests_pass(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    warm_cache: Path,
    unlearnbench_store: Path,
    tmp_path_factory: Any,
) -> None:
    assert main(["new-plugin", "e2e-forget"]) == 0
    root, site = tmp_path / "e2e-forget", tmp_path / "site"
    fake_install(site, "e2e-forget", "e2e_forget")
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    try:
        assert main(["list", "methods"]) == 0
        assert any("e2e_forget" in line and "entry point: e2e-forget" in line
                   for line in capsys.readouterr().out.splitlines())  # fmt: skip
        assert main(["plugins"]) == 0
        assert any(line.split("│")[1].strip() == "e2e_forget" and "e2e-forget 0.1.0" in line
                   for line in capsys.readouterr().out.splitlines() if "│" in line)  # fmt: skip

        metrics = ["accuracy", "e2e_forget_*"]
        results = run_bench(methods=["e2e_forget"], metrics=metrics, cache_dir=warm_cache)
        assert [i.item_id for i in results.items] == ["original", "retrain", "e2e_forget"]
        item = results.item("e2e_forget")
        assert item.outcome == "passed", item.errors
        assert item.summary["e2e_forget_forget_loss"].mean > 0
        assert results.versions["plugin e2e_forget"] == "0.1.0"
    finally:
        for module in ("e2e_forget", "e2e_forget.plugin"):
            sys.modules.pop(module, None)

    if unlearnbench_store.name == source_digest():  # the generated tests reuse this session's tiny models
        store_root = unlearnbench_store.parent
    else:
        store_root = tmp_path_factory.mktemp("store-root")
        (store_root / source_digest()).symlink_to(unlearnbench_store)
    path = os.pathsep.join([str(site), str(root / "src"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, TESTING_CACHE_ENV: str(store_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_plugin_args()],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "6 passed" in proc.stdout.strip().splitlines()[-1]
