"""What the commands share: loading the plugins and the registry, KEY=VALUE options, the dataset options.

Torch-free at import, like the whole command line: the commands import their work when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from unlearnbench.config import find_config_file, read_config_file
from unlearnbench.errors import UsageError
from unlearnbench.plugins import PluginSet, build_plugin_manager
from unlearnbench.registry import Registry, build_registry
from unlearnbench.selection import parse_value

__all__ = ["dataset_options", "load_plugins", "parse_key_values", "plugin_options"]

_F = TypeVar("_F", bound=Callable[..., Any])


def parse_key_values(values: tuple[str, ...], option: str) -> dict[str, Any]:
    """``("a=1", "b=x")`` → ``{"a": 1, "b": "x"}`` (values parsed like grid values); one line on a bad one."""
    out: dict[str, Any] = {}
    for text in values:
        if "=" not in text:
            raise UsageError(f"{option} expects KEY=VALUE, got {text!r}")
        key, value = text.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


def load_plugins(
    cli_plugins: tuple[str, ...], plugins_dir: str | None, config_file: str | None
) -> tuple[PluginSet, Registry, Path | None]:
    """Read the config file's plugin options, build the plugin manager and the registry."""
    path = Path(config_file) if config_file else find_config_file(Path.cwd())
    if config_file and not Path(config_file).is_file():
        raise UsageError(f"config file {config_file} does not exist")
    file_opts = read_config_file(path) if path is not None else {}
    plugin_names = tuple(file_opts.get("plugins", ())) + tuple(cli_plugins)
    directory = plugins_dir or file_opts.get("plugins_dir")
    plugins = build_plugin_manager(plugin_names, Path(directory) if directory else None)
    return plugins, build_registry(plugins), path


def dataset_options(function: _F) -> _F:
    """``--data-path`` and the repeatable ``--dataset-option KEY=VALUE`` (``run`` and ``data`` share them)."""
    function = click.option(
        "--dataset-option", "dataset_option", multiple=True, metavar="KEY=VALUE",
        help="Option passed to the dataset loader (repeatable).",
    )(function)  # fmt: skip
    return click.option(
        "--data-path", type=click.Path(dir_okay=False), help="Local data file for the dataset (.npz)."
    )(function)


def plugin_options(function: _F) -> _F:
    """``-p NAME`` (repeatable; ``no:NAME`` blocks a plugin) and ``--plugins-dir``."""
    function = click.option(
        "--plugins-dir", type=click.Path(file_okay=False), help="Local plugins folder (default ./plugins)."
    )(function)
    return click.option(
        "-p", "plugins", multiple=True, metavar="NAME", help="Load a plugin module, or no:NAME to block one."
    )(function)
