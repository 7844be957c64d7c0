"""The ``local`` executor (the default): everything runs in this process, in the session's local pass."""

from __future__ import annotations

from unlearnbench.executors.base import ExecutorContext, PrefetchReport
from unlearnbench.executors.jobs import JobPlan
from unlearnbench.hookspec import hookimpl


class LocalExecutor:
    """Runs nothing ahead: the session trains, unlearns and evaluates item after item, as it always did."""

    name = "local"
    description = "In this process, one job after another (the default)"
    #: Tells the session not to plan jobs at all: the local pass is the whole run.
    in_process = True

    def prefetch(self, plan: JobPlan, ctx: ExecutorContext) -> PrefetchReport:
        """Nothing to run ahead."""
        return PrefetchReport(skipped=plan.skipped)


@hookimpl
def unlearnbench_add_executors() -> list[type]:
    return [LocalExecutor]
