"""Every hook a plugin may implement, documented.

A plugin is a module (or object) with functions decorated by :data:`unlearnbench.hookimpl` whose names
are the hook names below. All hooks may be used in local plugins (``./plugins/*.py``), entry-point
plugins (group ``unlearnbench``) and ``-p module`` plugins. A hook implementation may accept any subset
of the arguments a spec names; an unknown hook name or argument is a plugin error (exit code 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from unlearnbench.config import Config
    from unlearnbench.results import ItemResult, RunResults
    from unlearnbench.session import Item, Session

PROJECT = "unlearnbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def unlearnbench_configure(config: Config, pluginmanager: pluggy.PluginManager) -> None:
    """Called once after all plugins are registered and before collection.

    :param config: the run's resolved :class:`~unlearnbench.config.Config` (read-only).
    :param pluginmanager: the run's plugin manager; register reporters here.
    """


@hookspec
def unlearnbench_add_methods() -> list[type]:
    """Return unlearning method classes (see :class:`unlearnbench.api.Method`).

    Each class needs ``name``, ``description`` and ``unlearn(self, model, ctx) -> model``; optional
    ``defaults`` (dict) and ``grid`` (dict of lists, or list of dicts).
    """
    return []


@hookspec
def unlearnbench_add_metrics() -> list[type]:
    """Return metric classes (see :class:`unlearnbench.api.Metric`).

    Each class needs ``name``, ``description``, ``higher_is_better`` and ``compute(self, ctx)``;
    optional ``scope`` (``"model"`` or ``"population"``) and ``needs``.
    """
    return []


@hookspec
def unlearnbench_add_datasets() -> list[type]:
    """Return dataset classes (see :class:`unlearnbench.api.Dataset`)."""
    return []


@hookspec
def unlearnbench_add_models() -> list[type]:
    """Return model-architecture classes (see :class:`unlearnbench.api.ModelFactory`)."""
    return []


@hookspec
def unlearnbench_add_executors() -> list[type]:
    """Return executor classes (see :mod:`unlearnbench.executors`): where a run's jobs execute.

    Each class needs ``name``, ``description`` and ``prefetch(self, plan, ctx) -> PrefetchReport``; it is
    chosen with ``--executor NAME`` (config key ``executor``).
    """
    return []


@hookspec
def unlearnbench_add_presets() -> dict[str, dict[str, Any]]:
    """Return named presets: ``{name: {option: value}}`` with the keys of the TOML config."""
    return {}


@hookspec
def unlearnbench_collection_modifyitems(session: Session, config: Config, items: list[Item]) -> None:
    """Called after collection; may filter or re-order ``items`` in place."""


@hookspec
def unlearnbench_runreport(report: ItemResult) -> None:
    """Called with each finished item's frozen result, as soon as it is complete."""


@hookspec
def unlearnbench_sessionfinish(session: Session, results: RunResults, exitstatus: int) -> None:
    """Called once at the end of a run (also after Ctrl-C), with the final results."""
