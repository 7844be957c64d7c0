"""Executors: where the jobs of a run execute (``local``, ``processes``, ``ray``, or a plugin's).

See docs/executors.md. The session makes one call, :func:`prefetch_for_session`, before its local pass;
a non-local executor runs the planned jobs ahead (each writes its artifact to the shared cache) so that
the local pass only assembles results.
"""

from __future__ import annotations

from unlearnbench.executors.base import (
    ExecutorContext,
    PrefetchReport,
    WaveExecutor,
    pinned_threads,
    prefetch_for_session,
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
    "prefetch_for_session",
    "run_job",
]
