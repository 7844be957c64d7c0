"""Exit codes and the exceptions that map onto them (see the table in docs/architecture.md)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, pytest-style."""

    OK = 0
    ITEMS_FAILED = 1
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    USAGE_ERROR = 4
    NO_ITEMS_COLLECTED = 5


class UsageError(Exception):
    """Bad user input (option, name, config, data file, plugin): one line, exit code 4."""


class PluginError(UsageError):
    """A plugin failed to import or broke the contract; the message names the plugin."""


class MetricNotApplicable(ValueError):
    """Raised by a metric that cannot be computed for this run's configuration (e.g. too few models).

    The cell shows "n/a" with the reason instead of a value; unlike an error it does not fail the item.
    """
