"""The ``processes`` executor: N local worker processes, for CPU machines with many cores.

Workers are started with the *spawn* method (forking a process that has initialised torch is unsafe)
and ignore Ctrl-C, which the driver handles by cancelling what is queued and terminating the workers.
Each worker pins torch to ``threads`` intra-op threads (default: the driver's count, so numbers equal the
local executor's), and ``cores // threads`` workers start by default, so they never oversubscribe the
machine. A worker that dies (killed, out of memory) breaks the pool: the pool is rebuilt and the jobs that
were in flight are resubmitted, each at most ``retries`` times.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from unlearnbench.executors.base import ExecutorContext, WaveExecutor
from unlearnbench.executors.jobs import Job, JobOutcome, run_job
from unlearnbench.hookspec import hookimpl
from unlearnbench.threads import idle_cores


def _init_worker(threads: int) -> None:
    """Worker start-up: leave Ctrl-C to the driver, pin torch's threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)


class ProcessesExecutor(WaveExecutor):
    """A pool of spawned worker processes on this machine (``--workers N``, default: every idle core)."""

    name = "processes"
    description = "N local worker processes (--workers, default: the idle cores), for many-core CPU machines"

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._workers = 1
        self._threads = 1

    def start(self, ctx: ExecutorContext) -> None:
        self._threads = ctx.threads or 1
        self._workers = ctx.workers or max(1, idle_cores() // self._threads)  # workers × threads ≤ idle cores
        ctx.announce(f"processes executor: {self._workers} workers × {self._threads} threads")

    def _new_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self._threads,),
            )  # fmt: skip
        return self._pool

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())  # the executor's own workers only
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def run_wave(self, jobs: Sequence[Job], ctx: ExecutorContext) -> list[JobOutcome]:
        # At most one job per worker is submitted, so a broken pool charges only the jobs that were running.
        outcomes: dict[str, JobOutcome] = {}
        attempts: dict[str, int] = {job.job_id: 0 for job in jobs}
        queue = list(jobs)
        running: dict[Future[JobOutcome], Job] = {}
        try:
            while queue or running:
                pool = self._new_pool()
                while queue and len(running) < self._workers:
                    job = queue.pop(0)
                    running[pool.submit(run_job, ctx.spec, job)] = job
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    job = running.pop(future)
                    try:
                        outcomes[job.job_id] = future.result()
                    except BrokenProcessPool:
                        broken = True
                        running[future] = job
                if broken:
                    victims = list(running.values())
                    running.clear()
                    self._discard_pool()
                    for job in victims:
                        attempts[job.job_id] += 1
                        if attempts[job.job_id] > ctx.retries:
                            outcomes[job.job_id] = JobOutcome(
                                job.job_id, ok=False,
                                error=f"its worker process died ({attempts[job.job_id]} attempts)",
                            )  # fmt: skip
                        else:
                            queue.insert(0, job)
                    resubmitted = sum(job.job_id not in outcomes for job in victims)
                    ctx.announce(f"a worker process died: {resubmitted} jobs resubmitted")
        except KeyboardInterrupt:
            self._discard_pool()
            raise
        return [outcomes[job.job_id] for job in jobs]


@hookimpl
def unlearnbench_add_executors() -> list[type]:
    return [ProcessesExecutor]
