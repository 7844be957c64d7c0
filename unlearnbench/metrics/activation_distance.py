"""Activation distance: mean L2 distance between the model's and the retrained models' softmax outputs.

Chundawat et al. (AAAI 2023, "Can bad teaching induce forgetting?") measure how close an unlearned model
is to the retrained one by the L2 norm of the difference of their probability vectors on each forget
example, averaged over the forget set (their ``actv_dist``; "activations" are the softmax outputs, not
hidden features). Here it is further averaged over the R retrained models. It lies in [0, √2]; 0 means the
same predictions as retraining, so lower is better (though a model that predicts like retraining scores
about what two retrained models score against each other, not 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import softmax

__all__ = ["ActivationDistance", "activation_distance", "mean_activation_distance"]


def activation_distance(logits_a: np.ndarray, logits_b: np.ndarray) -> np.ndarray:
    """Per-row ‖softmax(logits_a) − softmax(logits_b)‖₂, float64 of shape (n,), in [0, √2]."""
    a = np.asarray(logits_a, dtype=np.float64)
    b = np.asarray(logits_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"need two logit arrays of equal shape (n, classes), got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("logits contain non-finite values")
    if a.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    return np.linalg.norm(softmax(a) - softmax(b), axis=1)


def mean_activation_distance(
    outputs: ModelOutputs, oracles: Sequence[ModelOutputs], split: str = "forget"
) -> float:
    """Mean over ``oracles`` of the mean over ``split``'s examples of the activation distance."""
    if not oracles:
        raise MetricNotApplicable("activation_distance needs at least one retrained model, got none")
    if outputs[split].shape[0] == 0:
        raise ValueError(f"the {split} split is empty")
    return float(np.mean([np.mean(activation_distance(outputs[split], o[split])) for o in oracles]))


class ActivationDistance:
    """Mean L2 distance of the model's softmax outputs to the retrained models' on the forget set."""

    name: ClassVar[str] = "activation_distance"
    description: ClassVar[str] = (
        "Mean L2 distance between the model's and the retrained models' softmax outputs on forget "
        '(Chundawat et al. AAAI 2023, "Can bad teaching induce forgetting?")'
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    higher_is_better: ClassVar[bool | None] = False

    def compute(self, ctx: EvalContext) -> float:
        """Activation distance to the oracles on the forget split."""
        return mean_activation_distance(ctx.outputs, ctx.oracle_outputs, "forget")


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`ActivationDistance`."""
    return [ActivationDistance]
