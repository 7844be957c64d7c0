"""Jensen–Shannon divergence between the unlearned model's and the retrained models' predictions.

Per example, JS(P ‖ Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M) with M = (P + Q)/2, P and Q the two models' softmax
distributions, in nats, so it lies in [0, ln 2]. It is averaged over the examples of a split and then over
the R retrained models. A model that predicts like retraining scores about what two retrained models score
against each other; 0 means identical predictions. Lower is better on both columns: on the forget split
(``js_forget``) it measures how far forgetting is from retraining, on the test split (``js_test``) how much
the method disturbed the model on unseen data.

This is the divergence of the output distributions the catalogue asks for ("distribution-level
indistinguishability"). It is computed from log-probabilities, so confident predictions whose probabilities
underflow do not produce NaN. (The bad-teacher code's ``JSDiv``, behind its ZRF score, passes arguments
to ``kl_div`` the other way round and averages over classes too; it is not this quantity.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import log_softmax

__all__ = ["JSToOracle", "js_divergence", "mean_js_to_oracles"]

LN2 = math.log(2.0)
#: The splits compared, one column each (``js_<split>``).
_SPLITS: tuple[str, ...] = ("forget", "test")


def _log_probs(logits: np.ndarray, what: str) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"{what} logits must have shape (n, classes), got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{what} logits contain non-finite values")
    return log_softmax(z)


def js_divergence(logits_p: np.ndarray, logits_q: np.ndarray) -> np.ndarray:
    """Per-row JS divergence (nats, in [0, ln 2]) between ``softmax(logits_p)`` and ``softmax(logits_q)``."""
    log_p = _log_probs(logits_p, "first")
    log_q = _log_probs(logits_q, "second")
    if log_p.shape != log_q.shape:
        raise ValueError(f"logits must have equal shapes, got {log_p.shape} and {log_q.shape}")
    log_m = np.logaddexp(log_p, log_q) - LN2
    # p·(log p − log m) is 0 where p underflows to 0; log p stays finite, so no 0·inf appears.
    kl_pm = np.sum(np.exp(log_p) * (log_p - log_m), axis=1)
    kl_qm = np.sum(np.exp(log_q) * (log_q - log_m), axis=1)
    return np.clip(0.5 * (kl_pm + kl_qm), 0.0, LN2)


def mean_js_to_oracles(outputs: ModelOutputs, oracles: Sequence[ModelOutputs], split: str) -> float:
    """Mean over ``oracles`` of the mean over ``split``'s examples of JS(outputs ‖ oracle)."""
    if not oracles:
        raise MetricNotApplicable("js_to_oracle needs at least one retrained model, got none")
    if outputs[split].shape[0] == 0:
        raise ValueError(f"the {split} split is empty")
    return float(np.mean([np.mean(js_divergence(outputs[split], o[split])) for o in oracles]))


class JSToOracle:
    """Mean JS divergence of the model's predictions to the retrained models', on forget and on test."""

    name: ClassVar[str] = "js_to_oracle"
    description: ClassVar[str] = (
        "Jensen-Shannon divergence (nats) between the model's and the retrained models' softmax outputs on "
        "forget and test, mean over examples and oracles (Lin 1991; distribution-level indistinguishability)"
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    columns: ClassVar[tuple[str, ...]] = ("js_forget", "js_test")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"js_forget": False, "js_test": False}

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """Mean JS divergence to the oracles on the forget and test splits."""
        oracles = ctx.oracle_outputs
        return {f"js_{split}": mean_js_to_oracles(ctx.outputs, oracles, split) for split in _SPLITS}


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`JSToOracle`."""
    return [JSToOracle]
