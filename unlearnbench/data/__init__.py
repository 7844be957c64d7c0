"""Datasets, splits and the tensor pipeline.

The built-in dataset plugins live in :mod:`~unlearnbench.data.digits`, :mod:`~unlearnbench.data.cifar10`,
:mod:`~unlearnbench.data.cifar100`, :mod:`~unlearnbench.data.cifar5`,
:mod:`~unlearnbench.data.cifar10_salun` and :mod:`~unlearnbench.data.fake`; :mod:`~unlearnbench.data.splits`
turns a loaded :class:`~unlearnbench.api.RawDataset` into forget / retain / test / validation splits, and
:mod:`~unlearnbench.data.pipeline` serves them as batches.
"""

from __future__ import annotations

from unlearnbench.data.pipeline import TensorData
from unlearnbench.data.splits import fingerprint, make_splits, split_tensors, splits_fingerprint

__all__ = ["TensorData", "fingerprint", "make_splits", "split_tensors", "splits_fingerprint"]
