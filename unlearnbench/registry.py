"""The registry of one run: every method, metric, dataset, model, executor and preset the plugins provide.

Each ``unlearnbench_add_*`` implementation is called on its own so every class is attributed to the
plugin that provided it; contracts are validated at registration, and every violation is a
:class:`~unlearnbench.errors.PluginError` naming the plugin.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from unlearnbench.api import NEED_KINDS, Metric
from unlearnbench.errors import PluginError
from unlearnbench.plugins import PluginSet

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

#: Required callables per kind (attribute name).
_REQUIRED_CALLABLE = {
    "method": "unlearn", "metric": "compute", "dataset": "load", "model": "build", "executor": "prefetch",
}  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One registered class and where it came from."""

    name: str
    cls: type
    kind: str
    origin: str
    location: str

    @property
    def description(self) -> str:
        return str(getattr(self.cls, "description", ""))


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric with its instance (constructed once per run)."""

    entry: Entry
    instance: Metric

    @property
    def name(self) -> str:
        return self.entry.name


@dataclass(frozen=True)
class Item:
    """One collected unit of work: a method at one parameter point."""

    item_id: str
    entry: Entry
    params: dict[str, Any] = field(default_factory=dict)
    #: The run's dataset, for the method's per-dataset defaults.
    dataset: str = ""
    #: Defaults given in the config (``[method_options.NAME] defaults = {...}``), over the method's own.
    config_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.entry.name

    @property
    def merged_params(self) -> dict[str, Any]:
        """The method's defaults, then its ``dataset_defaults`` for this dataset, then the item's parameters."""
        return merge_params(self.entry.cls, self.dataset, self.params, self.config_defaults)


def merge_params(
    cls: type, dataset: str, params: dict[str, Any], config_defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``defaults`` < ``dataset_defaults[dataset]`` < config defaults < explicit parameters (grid point or id)."""
    per_dataset = dict((getattr(cls, "dataset_defaults", {}) or {}).get(dataset, {}))
    return {**dict(getattr(cls, "defaults", {}) or {}), **per_dataset, **(config_defaults or {}), **params}


@dataclass
class Registry:
    """Name → entry, per kind; plus presets."""

    methods: dict[str, Entry] = field(default_factory=dict)
    metrics: dict[str, Entry] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)
    models: dict[str, Entry] = field(default_factory=dict)
    executors: dict[str, Entry] = field(default_factory=dict)
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_kind(self, kind: str) -> dict[str, Entry]:
        return {
            "method": self.methods,
            "metric": self.metrics,
            "dataset": self.datasets,
            "model": self.models,
            "executor": self.executors,
        }[kind]


def validate_class(cls: Any, kind: str, where: str) -> str:
    """Check one plugin class against its contract; returns its name."""
    if not isinstance(cls, type):
        raise PluginError(f"{where}: unlearnbench_add_{kind}s must return classes, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(
            f"{where}: {kind} class {cls.__name__} needs a 'name' string (letters, digits, _ . -)"
        )
    description = getattr(cls, "description", None)
    if not isinstance(description, str) or not description.strip():
        raise PluginError(f"{where}: {kind} {name!r} needs a non-empty 'description' string")
    attr = _REQUIRED_CALLABLE[kind]
    if not callable(getattr(cls, attr, None)):
        raise PluginError(f"{where}: {kind} {name!r} needs a method '{attr}'")
    required = _required_init_arguments(cls)
    if required:
        raise PluginError(
            f"{where}: {kind} {name!r} must be instantiable with no arguments, but __init__ requires "
            + ", ".join(repr(a) for a in required)
        )
    if kind == "metric":
        _validate_metric(cls, name, where)
    if kind == "method":
        _validate_method(cls, name, where)
    return name


def _required_init_arguments(cls: type) -> list[str]:
    """Names of the constructor's parameters that have no default (plugins are built with ``cls()``)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return []
    return [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def _validate_metric(cls: type, name: str, where: str) -> None:
    if not hasattr(cls, "higher_is_better"):
        raise PluginError(f"{where}: metric {name!r} needs 'higher_is_better' (True, False or None)")
    scope = getattr(cls, "scope", "model")
    if scope not in ("model", "population"):
        raise PluginError(f"{where}: metric {name!r} has scope {scope!r}; use 'model' or 'population'")
    needs = getattr(cls, "needs", ("outputs",))
    if isinstance(needs, str) or not isinstance(needs, (list, tuple, set, frozenset)):
        raise PluginError(f"{where}: metric {name!r} has 'needs' = {needs!r}; use a set of strings")
    unknown = sorted(str(n) for n in set(needs) - NEED_KINDS)
    if unknown:
        raise PluginError(
            f"{where}: metric {name!r} needs unknown kind(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(sorted(NEED_KINDS))}"
        )
    if scope == "population" and "model" in needs:
        raise PluginError(
            f"{where}: metric {name!r} has scope 'population' but needs 'model'; only per-model metrics "
            "(scope 'model') receive the model"
        )
    columns = getattr(cls, "columns", None)
    if columns is not None and (
        isinstance(columns, str)
        or not isinstance(columns, (list, tuple))
        or not all(isinstance(c, str) and c for c in columns)
    ):
        raise PluginError(f"{where}: metric {name!r} has 'columns' = {columns!r}; use a tuple of strings")
    hib = getattr(cls, "higher_is_better", None)
    directions = hib.values() if isinstance(hib, Mapping) else [hib]
    if not all(d is None or isinstance(d, bool) for d in directions):
        raise PluginError(
            f"{where}: metric {name!r} has higher_is_better = {hib!r}; use True, False, None "
            "or a dict of column -> True/False/None"
        )
    if isinstance(hib, Mapping) and columns:
        missing = [c for c in columns if c not in hib]
        if missing:
            raise PluginError(
                f"{where}: metric {name!r} declares no higher_is_better for column(s) "
                + ", ".join(map(repr, missing))
            )


def _validate_method(cls: type, name: str, where: str) -> None:
    from unlearnbench.selection import expand_grid

    defaults = getattr(cls, "defaults", {})
    if not isinstance(defaults, Mapping):
        raise PluginError(f"{where}: method {name!r} has 'defaults' that is not a dict")
    grid = getattr(cls, "grid", None)
    if grid is not None and not isinstance(grid, (Mapping, list, tuple)):
        raise PluginError(f"{where}: method {name!r} has a 'grid' that is neither a dict of lists nor a list")
    if isinstance(grid, (list, tuple)) and not all(isinstance(point, Mapping) for point in grid):
        bad = next(point for point in grid if not isinstance(point, Mapping))
        raise PluginError(f"{where}: method {name!r} has a bad 'grid': its points must be dicts, not {bad!r}")
    try:
        expand_grid(grid)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{where}: method {name!r} has a bad 'grid': {exc}") from None


def _collect(plugins: PluginSet, hook_name: str, kind: str, target: dict[str, Entry]) -> None:
    hook = getattr(plugins.manager.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
        info = plugins.infos.get(impl.plugin_name)
        where = f"{info.origin} {info.location}" if info else impl.plugin_name
        try:
            returned = impl.function()
        except Exception as exc:
            raise PluginError(f"{where}: {hook_name} raised {type(exc).__name__}: {exc}") from None
        if returned is None:
            continue
        if not isinstance(returned, (list, tuple)):
            raise PluginError(
                f"{where}: {hook_name} must return a list of classes, got {type(returned).__name__}"
            )
        for cls in returned:
            name = validate_class(cls, kind, where)
            if name in target:
                other = target[name]
                raise PluginError(
                    f"{where}: {kind} name {name!r} is already registered by {other.origin} {other.location}"
                )
            target[name] = Entry(
                name, cls, kind, info.origin if info else "?", info.location if info else where
            )


def _collect_presets(plugins: PluginSet, target: dict[str, dict[str, Any]]) -> None:
    from unlearnbench.config import BUILTIN_PRESETS

    target.update({k: dict(v) for k, v in BUILTIN_PRESETS.items()})
    hook = plugins.manager.hook.unlearnbench_add_presets
    for impl in hook.get_hookimpls():
        info = plugins.infos.get(impl.plugin_name)
        where = f"{info.origin} {info.location}" if info else impl.plugin_name
        try:
            returned = impl.function()
        except Exception as exc:
            raise PluginError(
                f"{where}: unlearnbench_add_presets raised {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(returned, Mapping):
            raise PluginError(f"{where}: unlearnbench_add_presets must return a dict of presets")
        for name, options in returned.items():
            if not isinstance(options, Mapping):
                raise PluginError(f"{where}: preset {name!r} must be a dict of options")
            target[str(name)] = dict(options)


def build_registry(plugins: PluginSet) -> Registry:
    """Ask every plugin for its classes and validate them."""
    registry = Registry()
    hooks: list[tuple[str, str, Callable[[Registry], dict[str, Entry]]]] = [
        ("unlearnbench_add_methods", "method", lambda r: r.methods),
        ("unlearnbench_add_metrics", "metric", lambda r: r.metrics),
        ("unlearnbench_add_datasets", "dataset", lambda r: r.datasets),
        ("unlearnbench_add_models", "model", lambda r: r.models),
        ("unlearnbench_add_executors", "executor", lambda r: r.executors),
    ]
    for hook_name, kind, target in hooks:
        _collect(plugins, hook_name, kind, target(registry))
    _collect_presets(plugins, registry.presets)
    return registry
