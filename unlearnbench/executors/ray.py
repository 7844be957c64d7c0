"""The ``ray`` executor: jobs as Ray tasks, on a local Ray instance or an existing cluster.

``--address`` is passed to ``ray.init``: ``auto`` joins the cluster this machine belongs to (e.g. started
with ``ray start`` under Slurm), ``ray://host:port`` connects through Ray Client; without it, a Ray
instance already initialised in this process is used, else a local one is started. Each task asks for
``threads`` CPUs (default 1) and, where the cluster has GPUs and the device is not ``cpu``, one GPU for
the jobs that train. A task whose worker dies is retried by Ray at most ``retries`` times
(``max_retries``); an exception inside a job is not retried (it would fail again) but reported. Ctrl-C
cancels every outstanding task. Artifacts travel through the cache dir, which every worker must see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unlearnbench.errors import UsageError
from unlearnbench.executors.base import ExecutorContext, WaveExecutor
from unlearnbench.executors.jobs import Job, JobOutcome, WorkSpec, run_job
from unlearnbench.hookspec import hookimpl

INSTALL_HINT = 'the ray executor needs Ray: pip install "unlearnbench[ray]"'


def _ray_job(spec: WorkSpec, job: Job) -> JobOutcome:
    """The task body (a plain module-level function, so workers import it rather than unpickle code)."""
    return run_job(spec, job)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line usage error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


class RayExecutor(WaveExecutor):
    """Ray tasks with resource requests; results come back through the shared cache dir."""

    name = "ray"
    description = "Ray tasks on a local instance or a cluster (--address auto|ray://host:port); extra [ray]"

    def __init__(self) -> None:
        self._ray: Any = None
        self._owns = False
        self._task: Any = None
        self._gpus = False

    def start(self, ctx: ExecutorContext) -> None:
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=ctx.address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(f"cannot start or reach Ray at {ctx.address or 'a local instance'}: {exc}") from None
            self._owns = True
        self._task = ray.remote(_ray_job)
        device = ctx.spec.config.device
        self._gpus = device != "cpu" and float(ray.cluster_resources().get("GPU", 0)) > 0
        cpus = int(ray.cluster_resources().get("CPU", 0))
        ctx.announce(f"ray executor: {cpus} CPUs, {'GPUs' if self._gpus else 'no GPU'} in the cluster")

    def stop(self) -> None:
        if self._owns and self._ray is not None:
            self._ray.shutdown()
        self._owns = False

    def _options(self, job: Job, ctx: ExecutorContext) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": ctx.threads or 1, "max_retries": ctx.retries,
                                   "retry_exceptions": False}  # fmt: skip
        if self._gpus and job.kind in ("train", "unlearn"):
            options["num_gpus"] = 1
        return options

    def run_wave(self, jobs: Sequence[Job], ctx: ExecutorContext) -> list[JobOutcome]:
        ray = self._ray
        spec_ref = ray.put(ctx.spec)
        refs = {self._task.options(**self._options(job, ctx)).remote(spec_ref, job): job for job in jobs}
        outcomes: dict[str, JobOutcome] = {}
        waiting = list(refs)
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    job = refs[ref]
                    try:
                        outcomes[job.job_id] = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # worker lost beyond max_retries, task cancelled
                        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        outcomes[job.job_id] = JobOutcome(job.job_id, ok=False, error=f"{type(exc).__name__}: {reason}")
        except KeyboardInterrupt:
            for ref in waiting:
                ray.cancel(ref, force=True)
            raise
        return [outcomes[job.job_id] for job in jobs]


@hookimpl
def unlearnbench_add_executors() -> list[type]:
    return [RayExecutor]
