"""Plugin discovery and the per-run plugin manager.

Order (later plugins' hook implementations run first, as in pluggy):

1. built-ins: every public module of ``unlearnbench.data``, ``unlearnbench.models``,
   ``unlearnbench.methods`` and ``unlearnbench.metrics`` that implements a hook;
2. installed distributions' entry points of group ``unlearnbench``;
3. local plugins: ``*.py`` files in ``./plugins/`` of the working directory (or ``--plugins-dir``);
4. ``-p module`` plugins named on the command line.

``-p no:NAME`` blocks a plugin by its registered name (or the last dotted part of a built-in's module name).
Every failure names the plugin's file or distribution and raises :class:`~unlearnbench.errors.PluginError`.
There is no global plugin manager: each run builds its own.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pluggy

from unlearnbench import hookspec
from unlearnbench._version import __version__
from unlearnbench.errors import PluginError

ENTRY_POINT_GROUP = "unlearnbench"
BUILTIN_PACKAGES: tuple[str, ...] = (
    "unlearnbench.data",
    "unlearnbench.models",
    "unlearnbench.methods",
    "unlearnbench.metrics",
    "unlearnbench.executors",
)
LOCAL_MODULE_PREFIX = "unlearnbench_local_plugins"


@dataclass(frozen=True)
class PluginInfo:
    """Where a registered plugin came from, for ``unlearnbench plugins`` and error messages."""

    name: str
    origin: str  # "built-in", "entry point", "local file", "-p"
    location: str  # module name, distribution, or file path
    version: str = ""
    hooks: tuple[str, ...] = ()


@dataclass
class PluginSet:
    """A run's plugin manager plus the provenance of every plugin registered in it."""

    manager: pluggy.PluginManager
    infos: dict[str, PluginInfo] = field(default_factory=dict)

    def info_for(self, plugin: object) -> PluginInfo | None:
        name = self.manager.get_name(plugin)
        return None if name is None else self.infos.get(name)

    def describe(self, plugin: object) -> str:
        """A short human description of a plugin ("local file plugins/x.py")."""
        info = self.info_for(plugin)
        if info is None:
            return repr(plugin)
        return f"{info.origin} {info.location}"


def builtin_module_names() -> list[str]:
    """Every public module of the built-in plugin packages, sorted (deterministic order)."""
    names: list[str] = []
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for mod in pkgutil.iter_modules(package.__path__):
            if not mod.name.startswith("_") and not mod.ispkg:
                names.append(f"{package_name}.{mod.name}")
    return sorted(names)


def _implements_hooks(module: ModuleType) -> bool:
    return any(name.startswith("unlearnbench_") for name in vars(module))


def _is_blocked(name: str, blocked: Iterable[str]) -> bool:
    return any(name == b or name.rsplit(".", 1)[-1] == b for b in blocked)


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    callers = pm.get_hookcallers(plugin) or []
    return tuple(sorted(c.name for c in callers))


def _register(
    plugins: PluginSet, module: object, name: str, origin: str, location: str, version: str = ""
) -> None:
    pm = plugins.manager
    if pm.is_registered(module):
        other = plugins.info_for(module)
        where = f"{other.origin} {other.location}" if other else str(pm.get_name(module))
        raise PluginError(
            f"plugin {origin} {location} is already loaded as {where}; load it only once "
            "(e.g. drop the -p option for an installed plugin)"
        )
    if pm.has_plugin(name) or name in plugins.infos:
        other = plugins.infos.get(name)
        where = f" (already registered from {other.origin} {other.location})" if other else ""
        raise PluginError(f"plugin name {name!r} from {origin} {location} is used twice{where}")
    _check_unmarked(module, pm, f"{origin} {location}")
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        problem = _argument_problem(pm, module) or str(exc).splitlines()[0]
        raise PluginError(f"plugin {origin} {location} breaks the hook contract: {problem}") from None
    except ValueError as exc:
        raise PluginError(f"plugin {origin} {location} could not be registered: {exc}") from None
    plugins.infos[name] = PluginInfo(name, origin, location, version, _hooks_of(pm, module))


def _hook_functions(module: object) -> dict[str, Callable[..., object]]:
    """The plugin's callables whose names look like hooks (``unlearnbench_*``)."""
    found: dict[str, Callable[..., object]] = {}
    for attr in dir(module):
        if attr.startswith("unlearnbench_"):
            value = getattr(module, attr, None)
            if inspect.isfunction(value) or inspect.ismethod(value):
                found[attr] = value
    return found


def _check_unmarked(module: object, pm: pluggy.PluginManager, where: str) -> None:
    """A hook-named function without ``@hookimpl`` would be ignored silently: make it an error."""
    for attr in _hook_functions(module):
        if pm.parse_hookimpl_opts(module, attr) is None:
            raise PluginError(
                f"{where}: function {attr} is not marked as a hook implementation; decorate it with "
                "@hookimpl (from unlearnbench import hookimpl)"
            )


def _argument_problem(pm: pluggy.PluginManager, module: object) -> str | None:
    """One line naming the hook implementation that asks for an argument its hook does not provide."""
    for attr, function in _hook_functions(module).items():
        caller = getattr(pm.hook, attr, None)
        spec = getattr(caller, "spec", None)
        if spec is None:
            continue
        try:
            asked = [p for p in inspect.signature(function).parameters if p != "self"]
        except (TypeError, ValueError):
            continue
        extra = [a for a in asked if a not in spec.argnames]
        if extra:
            return (
                f"{attr}({', '.join(asked)}) asks for {', '.join(map(repr, extra))}, which the hook does "
                f"not provide; {attr} provides ({', '.join(spec.argnames)})"
            )
    return None


def _import_error(origin: str, location: str, exc: BaseException) -> PluginError:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return PluginError(f"could not import {origin} plugin {location}: {last}")


def load_local_plugins(plugins: PluginSet, directory: Path, blocked: Sequence[str]) -> None:
    """Import every ``*.py`` in ``directory`` (sorted) as a local plugin named after its file stem."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_") or _is_blocked(path.stem, blocked):
            continue
        module_name = f"{LOCAL_MODULE_PREFIX}.{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:  # any error inside a plugin is the plugin's, reported by file
            sys.modules.pop(module_name, None)
            raise _import_error("local", str(path), exc) from None
        _register(plugins, module, path.stem, "local file", str(path))


def load_entry_point_plugins(plugins: PluginSet, blocked: Sequence[str]) -> None:
    """Load the entry points of group ``unlearnbench`` of every installed distribution."""
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if _is_blocked(ep.name, blocked):
            continue
        dist = getattr(ep, "dist", None)
        dist_name = f"{dist.name} {dist.version}" if dist is not None else ep.value
        try:
            module = ep.load()
        except Exception as exc:
            raise _import_error("entry point", f"{ep.name} ({dist_name})", exc) from None
        version = dist.version if dist is not None else ""
        _register(plugins, module, ep.name, "entry point", dist_name, version)


def build_plugin_manager(
    cli_plugins: Sequence[str] = (),
    plugins_dir: Path | None = None,
    use_entry_points: bool = True,
    extra: Sequence[tuple[str, object]] = (),
) -> PluginSet:
    """Create and fill a fresh plugin manager for one run.

    ``cli_plugins`` are the ``-p`` values: module names to import, or ``no:NAME`` to block.
    ``plugins_dir`` defaults to ``./plugins``. ``extra`` registers objects directly (tests, reporters).
    """
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    plugins = PluginSet(pm)
    blocked = [p[3:] for p in cli_plugins if p.startswith("no:")]
    wanted = [p for p in cli_plugins if not p.startswith("no:")]
    for name in blocked:
        pm.set_blocked(name)

    for module_name in builtin_module_names():
        if _is_blocked(module_name, blocked):
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise _import_error("built-in", module_name, exc) from None
        if _implements_hooks(module):
            _register(plugins, module, module_name, "built-in", module_name, __version__)

    if use_entry_points:
        load_entry_point_plugins(plugins, blocked)
    load_local_plugins(plugins, plugins_dir if plugins_dir is not None else Path.cwd() / "plugins", blocked)

    for module_name in wanted:
        if _is_blocked(module_name, blocked):
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise _import_error("-p", module_name, exc) from None
        _register(plugins, module, module_name, "-p", module_name)

    for name, obj in extra:
        _register(plugins, obj, name, "-p", name)

    check_pending(plugins)
    return plugins


def check_pending(plugins: PluginSet) -> None:
    """Fail, naming the plugin, for hook implementations whose name matches no hook spec."""
    from unlearnbench.selection import did_you_mean

    pm = plugins.manager
    known = [n for n in dir(hookspec) if n.startswith("unlearnbench_")]
    for name, caller in sorted(vars(pm.hook).items()):
        if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                raise PluginError(
                    f"{plugins.describe(impl.plugin)}: unknown hook {name!r}{did_you_mean(name, known)}"
                )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin = getattr(exc, "plugin", None)
        where = plugins.describe(plugin) if plugin is not None else "a plugin"
        raise PluginError(f"{where}: {exc}") from None
