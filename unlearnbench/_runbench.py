"""In-process plugin loading and bench runs for tests: :func:`load_plugin` and :func:`run_bench`.

Re-exported by :mod:`unlearnbench.testing`, where plugin authors find them; kept apart because they need
none of the tiny-bench machinery.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from unlearnbench.errors import PluginError
from unlearnbench.results import RunResults

#: Replicate seeds S and oracles R of the tiny run (:func:`run_bench`, ``testing.warm_up``).
TINY_SEEDS = 2
TINY_ORACLES = 2


@dataclass
class LoadedPlugin:
    """What one plugin provides, as registered next to the built-ins (see :func:`load_plugin`)."""

    name: str
    origin: str
    location: str
    hooks: tuple[str, ...]
    methods: dict[str, type] = field(default_factory=dict)
    metrics: dict[str, type] = field(default_factory=dict)
    datasets: dict[str, type] = field(default_factory=dict)
    models: dict[str, type] = field(default_factory=dict)
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_plugin(target: str | os.PathLike[str] | ModuleType) -> LoadedPlugin:
    """Register one plugin the way a run does, beside the built-ins only, and return what it provides.

    ``target`` is a plugin file (``plugins/mine.py``: loaded as a local plugin with the other files of
    its folder), a module, or a module name (``my_plugin.plugin``). Any :class:`PluginError` (import
    error, unknown hook, broken class, duplicate name) becomes an ``AssertionError`` with its message.
    """
    from unlearnbench.plugins import build_plugin_manager
    from unlearnbench.registry import build_registry

    with tempfile.TemporaryDirectory(prefix="unlearnbench-no-plugins-") as empty:
        try:
            if isinstance(target, ModuleType):
                plugins = build_plugin_manager((), Path(empty), use_entry_points=False,
                                               extra=[(target.__name__, target)])  # fmt: skip
                name = target.__name__
            elif str(target).endswith(".py"):
                path = Path(target).resolve()
                if not path.is_file():
                    raise AssertionError(f"plugin file {target} does not exist")
                plugins = build_plugin_manager((), path.parent, use_entry_points=False)
                name = path.stem
            else:
                plugins = build_plugin_manager((str(target),), Path(empty), use_entry_points=False)
                name = str(target)
            registry = build_registry(plugins)
        except PluginError as exc:
            raise AssertionError(f"plugin {target}: {exc}") from None
    info = plugins.infos[name]
    loaded = LoadedPlugin(info.name, info.origin, info.location, info.hooks)
    source = (info.origin, info.location)
    for kind in ("method", "metric", "dataset", "model"):
        entries = registry.of_kind(kind).items()
        getattr(loaded, f"{kind}s").update({n: e.cls for n, e in entries if (e.origin, e.location) == source})
    for impl in plugins.manager.hook.unlearnbench_add_presets.get_hookimpls():
        if impl.plugin_name == name:
            returned: Any = impl.function() or {}
            loaded.presets.update({str(k): dict(v) for k, v in returned.items()})
    return loaded


def _installed_entry_point_modules() -> set[str]:
    import importlib.metadata

    return {ep.value.split(":")[0] for ep in importlib.metadata.entry_points(group="unlearnbench")}


def bench_argv(
    args: Sequence[str] = (),
    *,
    methods: Sequence[str] = (),
    metrics: Sequence[str] = (),
    plugins: Sequence[str] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    seeds: int = TINY_SEEDS,
    oracles: int = TINY_ORACLES,
    output_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> list[str]:
    """The ``unlearnbench`` arguments :func:`run_bench` runs (see there); ``args`` come last and win."""
    argv = ["run", "--preset", "fake", "-q", "--seeds", str(seeds), "--oracles", str(oracles)]
    argv += [a for m in methods for a in ("--method", m)] + [a for m in metrics for a in ("--metric", m)]
    installed = _installed_entry_point_modules() if plugins else set()
    argv += [a for p in plugins if p not in installed for a in ("-p", p)]
    argv += ["--cache-dir", os.fspath(cache_dir)] if cache_dir is not None else ["--no-cache"]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            values = value if isinstance(value, (list, tuple)) else [value]
            argv += [a for v in values for a in (flag, str(v))]
    if output_dir is not None:
        argv += ["--output-dir", os.fspath(output_dir)]
    return [*argv, *args]


def run_bench(
    args: Sequence[str] = (),
    *,
    methods: Sequence[str] = (),
    metrics: Sequence[str] = (),
    plugins: Sequence[str] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    seeds: int = TINY_SEEDS,
    oracles: int = TINY_ORACLES,
    output_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> RunResults:
    """Run ``unlearnbench run --preset fake`` in process and return its results.

    ``methods`` / ``metrics`` become ``--method`` / ``--metric``; ``plugins`` become ``-p`` (skipped for
    a module an installed entry point already loads); ``cache_dir`` is ``--cache-dir`` (e.g. the
    ``warm_cache`` fixture; None: ``--no-cache``, every model is trained); ``options`` become
    ``--key value`` flags (``forget="class:1"``; ``True``: a bare flag); ``args`` are appended verbatim
    and win. As on the command line, ``./plugins`` and the config file of the working directory apply.
    The output goes to a temporary folder unless ``output_dir`` is given. The console output is echoed
    on stdout (pytest shows it for failing tests). Exit codes 0 and 1 (some item failed) return
    the results; any other (usage error, nothing collected, crash) raises ``AssertionError`` with the
    output.
    """
    from unlearnbench.cli import main
    from unlearnbench.results import load

    with tempfile.TemporaryDirectory(prefix="unlearnbench-run-") as tmp:
        out = Path(output_dir) if output_dir is not None else Path(tmp) / "out"
        argv = bench_argv(args, methods=methods, metrics=metrics, plugins=plugins, cache_dir=cache_dir,
                          seeds=seeds, oracles=oracles, output_dir=out, **options)  # fmt: skip
        for i, arg in enumerate(argv[:-1]):
            if arg == "--output-dir":  # the last one wins, as in click
                out = Path(argv[i + 1])
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = main(argv)
        text = buffer.getvalue()
        sys.stdout.write(text)
        results_file = out / "results.json"
        if code not in (0, 1) or not results_file.is_file():
            tail = "\n".join(text.rstrip().splitlines()[-30:])
            raise AssertionError(f"unlearnbench {shlex.join(argv)} exited with code {code}:\n{tail}")
        return load(results_file)
