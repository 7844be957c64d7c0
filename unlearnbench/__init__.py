"""unlearnbench: a plugin-based machine-unlearning benchmark.

The public API: :data:`hookimpl` for plugins, the contracts in :mod:`unlearnbench.api`, the results
objects and :class:`ExitCode`.
"""

from __future__ import annotations

from unlearnbench._version import __version__
from unlearnbench.api import (
    Dataset,
    EvalContext,
    Method,
    Metric,
    ModelFactory,
    ModelOutputs,
    RawDataset,
    Splits,
    UnlearnContext,
)
from unlearnbench.errors import ExitCode, MetricNotApplicable, PluginError, UsageError
from unlearnbench.hookspec import hookimpl
from unlearnbench.results import ItemResult, RunResults, Summary

__all__ = [
    "Dataset",
    "EvalContext",
    "ExitCode",
    "ItemResult",
    "Method",
    "Metric",
    "MetricNotApplicable",
    "ModelFactory",
    "ModelOutputs",
    "PluginError",
    "RawDataset",
    "RunResults",
    "Splits",
    "Summary",
    "UnlearnContext",
    "UsageError",
    "__version__",
    "hookimpl",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv``; returns the exit code."""
    from unlearnbench.cli import main as cli_main

    return cli_main(argv)
