"""The tensor data pipeline's public path: :class:`TensorData` and :func:`augment_batch`.

Both live in :mod:`unlearnbench.tensordata`, below the contract that names them; this module keeps the
import path plugins use (``from unlearnbench.data.pipeline import TensorData``).
"""

from __future__ import annotations

from unlearnbench.tensordata import TensorData, augment_batch

__all__ = ["TensorData", "augment_batch"]
