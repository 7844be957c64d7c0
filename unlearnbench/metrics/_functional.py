"""The metrics' numpy building blocks, at the path the built-in metrics import them from.

They live in :mod:`unlearnbench.functional`, below the contract (``EvalContext.losses`` uses them).
"""

from __future__ import annotations

from unlearnbench.functional import accuracy, cross_entropy, log_softmax, softmax

__all__ = ["accuracy", "cross_entropy", "log_softmax", "softmax"]
