"""Executors: where the jobs of a run execute (``local``, ``processes``, ``ray``, or a plugin's).

See docs/executors.md. The session makes one call, :func:`prefetch` (with a :class:`RunPlan`), before its local pass;
a non-local executor runs the planned jobs ahead (each writes its artifact to the shared cache) so that
the local pass only assembles results.
"""

from __future__ import annotations

from unlearnbench.executors.base import (
    ExecutorContext,
    PrefetchReport,
    RunPlan,
    WaveExecutor,
    pinned_threads,
    prefetch,
)
from unlearnbench.executors.jobs import Job, JobOutcome, JobPlan, WorkSpec, plan_jobs, run_job

__all__ = [
    "ExecutorContext",
    "Job",
    "JobOutcome",
    "JobPlan",
    "PrefetchReport",
    "WaveExecutor",
    "WorkSpec",
    "pinned_threads",
    "plan_jobs",
    "RunPlan",
    "prefetch",
    "run_job",
]
