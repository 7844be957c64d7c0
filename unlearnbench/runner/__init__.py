"""The per-run resources and the per-item protocol: setup → unlearn → outputs → metrics → result.

The face of the ``runner`` wing; its rooms are :mod:`~unlearnbench.runner.bench` (the :class:`Bench` and
:func:`build_bench`), :mod:`~unlearnbench.runner.replicate` (one unlearned replicate, :func:`unlearn_once`),
:mod:`~unlearnbench.runner.item` (:func:`run_item` and its one catch point), :mod:`~unlearnbench.runner.metricrun`
(a metric's numbers once its inputs are at hand), :mod:`~unlearnbench.runner.shadows` (U-LiRA's shadow
models), :mod:`~unlearnbench.runner.diagnostics` (the report's pictures) and :mod:`~unlearnbench.runner.guards`
(timeouts, out-of-memory, the original kept untouched).
"""

from __future__ import annotations

from unlearnbench.cache import code_fingerprint, source_hash
from unlearnbench.registry import MetricSpec
from unlearnbench.runner.bench import RANDOM_MODEL_SEED, Bench, TrainedModel, build_bench, resolve_device
from unlearnbench.runner.item import Captured, call_and_capture, run_item
from unlearnbench.runner.metricrun import MetricValueError, columns_for
from unlearnbench.runner.replicate import UNLEARNED_ROLE, Replicate, unlearn_once, unlearned_replicate

__all__ = [
    "RANDOM_MODEL_SEED", "UNLEARNED_ROLE", "Bench", "Captured", "MetricSpec", "MetricValueError", "Replicate",
    "TrainedModel", "build_bench", "call_and_capture", "code_fingerprint", "columns_for", "resolve_device", "run_item",
    "source_hash", "unlearn_once", "unlearned_replicate",
]  # fmt: skip
