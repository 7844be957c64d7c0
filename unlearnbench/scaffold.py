"""``unlearnbench new-plugin NAME``: a ready-to-install plugin package with a method, a metric and tests.

The package is rendered from the templates in ``scaffold_templates/`` (``string.Template``, ``$name``
placeholders). Everything generated runs as is: the method fine-tunes on the retain set, the metric is
the mean forget loss, and the tests pass with unlearnbench's pytest plugin. Existing files are never
overwritten.
"""

from __future__ import annotations

import keyword
import re
import string
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from unlearnbench._version import __version__
from unlearnbench.errors import PluginError, UsageError

TEMPLATE_DIR = Path(__file__).resolve().parent / "scaffold_templates"

#: Generated file (relative to the package folder; ``{package}`` is replaced) → template file.
FILES: dict[str, str] = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    ".gitignore": "gitignore.tmpl",
    "src/{package}/__init__.py": "__init__.py.tmpl",
    "src/{package}/plugin.py": "plugin.py.tmpl",
    "tests/test_plugin.py": "test_plugin.py.tmpl",
}

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

#: Package names that would shadow what the plugin itself imports, or its own folders.
_RESERVED = frozenset(
    {"unlearnbench", "torch", "torchvision", "numpy", "scipy", "sklearn", "pluggy", "pytest", "click",
     "rich", "jinja2", "platformdirs", "src", "test", "tests", "plugins"}
)  # fmt: skip


@dataclass(frozen=True)
class PluginNames:
    """Every name derived from the NAME argument (``my-method``)."""

    dist: str  # distribution (pip) name: my-method
    package: str  # import name: my_method
    method: str  # registered method name: my_method
    method_class: str  # MyMethod
    metric: str  # registered metric name: my_method_forget_loss
    metric_class: str  # MyMethodForgetLoss


def plugin_names(name: str) -> PluginNames:
    """Validate NAME and derive the package, class and registered names; :class:`UsageError` if bad."""
    if not _NAME.match(name):
        hint = ""
        suggestion = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
        if suggestion and suggestion != name and _NAME.match(suggestion):
            hint = f" (e.g. {suggestion})"
        raise UsageError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and single '-' or '_' between "
            f"them, starting with a letter{hint}"
        )
    package = name.replace("-", "_")
    if keyword.iskeyword(package):
        raise UsageError(f"invalid plugin name {name!r}: {package!r} is a Python keyword")
    if package in _RESERVED or package in sys.stdlib_module_names:
        raise UsageError(
            f"invalid plugin name {name!r}: the package {package!r} would shadow the module of the same name"
        )
    camel = "".join(part.capitalize() for part in package.split("_"))
    return PluginNames(
        dist=name,
        package=package,
        method=package,
        method_class=camel,
        metric=f"{package}_forget_loss",
        metric_class=f"{camel}ForgetLoss",
    )


def _check_free(names: PluginNames) -> None:
    """The method and metric names must not be taken by a built-in plugin (the run would refuse both)."""
    from unlearnbench.plugins import build_plugin_manager
    from unlearnbench.registry import build_registry

    try:  # the template folder holds no *.py: only the built-ins are loaded
        registry = build_registry(build_plugin_manager(use_entry_points=False, plugins_dir=TEMPLATE_DIR))
    except PluginError:  # a broken plugin elsewhere is reported by the commands that load it
        return
    for kind, wanted in (("method", names.method), ("metric", names.metric)):
        taken = registry.of_kind(kind).get(wanted)
        if taken is not None:
            raise UsageError(
                f"invalid plugin name {names.dist!r}: a {kind} named {wanted!r} already exists "
                f"({taken.origin} {taken.location}); choose another NAME"
            )


def render(names: PluginNames) -> dict[str, str]:
    """Relative path → text of every generated file."""
    values = {**asdict(names), "unlearnbench_version": __version__}
    out: dict[str, str] = {}
    for relative, template in FILES.items():
        text = (TEMPLATE_DIR / template).read_text(encoding="utf-8")
        out[relative.format(package=names.package)] = string.Template(text).substitute(values)
    return out


def scaffold(name: str, directory: str | Path | None = None, check_names: bool = True) -> list[Path]:
    """Create the plugin package ``name`` in ``directory`` (default ``./name``); returns the files written.

    Refuses (:class:`UsageError`, exit 4) a bad NAME, a method or metric name a built-in already uses
    (unless ``check_names`` is False), and any file that already exists: nothing is written then.
    """
    names = plugin_names(name)
    if check_names:
        _check_free(names)
    root = Path(directory) if directory is not None else Path(name)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory")
    files = {root / relative: text for relative, text in render(names).items()}
    existing = [path for path in files if path.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} already exists{more}; new-plugin never overwrites files")
    for path, text in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return list(files)


def next_steps(name: str, directory: str | Path | None, created: list[Path]) -> str:
    """What ``new-plugin`` prints: the files written and the commands that use them."""
    names = plugin_names(name)
    root = Path(directory) if directory is not None else Path(name)
    lines = [f"created the unlearnbench plugin package {names.dist} in {root}:"]
    lines += [f"  {path}" for path in created]
    lines += [
        "next:",
        f"  pip install -e {root}",
        f"  unlearnbench list methods                         # shows {names.method}",
        f"  cd {root} && pytest",
        f"  unlearnbench run --preset fake --method {names.method}",
    ]
    return "\n".join(lines)
