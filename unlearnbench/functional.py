"""Pure numpy building blocks shared by the metrics: cross-entropy, softmax and accuracy.

Everything is computed in float64 whatever the dtype of the logits (the bench stores float32), so that
per-example losses of confident models do not round to zero or overflow.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "cross_entropy", "log_softmax", "softmax"]


def _check_logits_labels(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and label range; return float64 logits and int64 labels."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n, classes), got shape {z.shape}")
    if y.ndim != 1 or y.shape[0] != z.shape[0]:
        raise ValueError(f"labels must have shape ({z.shape[0]},), got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1] - 1}], got range [{y.min()}, {y.max()}]")
    return z, y


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities along the last axis, float64, via the max-shifted log-sum-exp."""
    z = np.asarray(logits, dtype=np.float64)
    # Shifting by the row maximum keeps exp() in (0, 1], so nothing overflows; the shift cancels.
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities along the last axis, float64, numerically stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return shifted / np.sum(shifted, axis=-1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-example cross-entropy ``logsumexp(z) - z[y]`` (natural log), float64 of shape (n,).

    This is ``torch.nn.CrossEntropyLoss(reduction="none")`` computed in double precision.
    """
    z, y = _check_logits_labels(logits, labels)
    if z.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    return -log_softmax(z)[np.arange(z.shape[0]), y]


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction in [0, 1] of examples whose arg-max logit is the label (ties go to the lowest class)."""
    z, y = _check_logits_labels(logits, labels)
    if z.shape[0] == 0:
        raise ValueError("accuracy of an empty split is undefined")
    return float(np.mean(np.argmax(z, axis=1) == y))
