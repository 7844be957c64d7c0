"""Registers the built-in executors (``local``, ``processes``, ``ray``) through the plugin hook."""

from __future__ import annotations

from unlearnbench.executors.local import LocalExecutor
from unlearnbench.executors.processes import ProcessesExecutor
from unlearnbench.executors.ray_executor import RayExecutor
from unlearnbench.hookspec import hookimpl


@hookimpl
def unlearnbench_add_executors() -> list[type]:
    return [LocalExecutor, ProcessesExecutor, RayExecutor]
