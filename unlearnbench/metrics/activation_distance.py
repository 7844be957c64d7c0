"""Activation distance: mean L2 distance between the model's and the retrained models' softmax outputs.

Chundawat et al. (AAAI 2023, "Can bad teaching induce forgetting?") measure how close an unlearned model
is to the retrained one by the L2 norm of the difference of their probability vectors on each forget
example, averaged over the forget set ("activations" are the softmax outputs, not hidden features). Here it
is further averaged over the R retrained models. It lies in [0, √2]; 0 means the same predictions as
retraining, so lower is better (though a model that predicts like retraining scores about what two
retrained models score against each other, not 0).

Reference: vikram2000b/bad-teaching-unlearning@f1aa988f ``metrics.py`` 62-75 (``actv_dist``; the same
function in if-loops/selective-synaptic-dampening ``src/metrics.py`` 86-106). Neither repository calls it,
and as written it raises ``NameError`` (``nn`` is not imported), so its formula, line 71, is what is
followed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.fidelity import Difference, Fidelity, Source
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

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper=(
            "Chundawat et al., Can bad teaching induce forgetting? Unlearning in deep networks using an "
            "incompetent teacher, AAAI 2023 (activation distance)"
        ),
        repository="vikram2000b/bad-teaching-unlearning",
        commit="f1aa988f71cccf1be6d50e0c6f7b2b905e4c9126",
        loop=(
            Source(
                "metrics.py", "62-75",
                note="actv_dist(model1, model2, dataloader): per example sqrt(sum((softmax1 - softmax2)^2)) "
                "(line 71), mean over every example of the loader (74-75); as committed it raises NameError "
                "(nn is not imported in metrics.py), so the formula is what is followed",
            ),
            Source(
                "src/metrics.py", "86-106", repository="if-loops/selective-synaptic-dampening",
                commit="cdfdc0e35c1908e032a6e150d882b0fa17833f85",
                note="SSD's copy, also never called",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="The distance is averaged over the R retrained models.",
                why="The bench has a pool of R oracles instead of one retrained model; with R = 1 the value "
                "is the reference's.",
                effect="none for R = 1; for R > 1 the mean over oracles of the reference's value",
            ),
            Difference(
                what="The forget split is scored; the reference function takes whatever loader it is given "
                "and is called nowhere in either repository.",
                why="The forget set is where an unlearned model should predict like the retrained one, and "
                "where methods differ from each other most.",
                effect="none: no call in the reference fixes another split",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> float:
        """Activation distance to the oracles on the forget split."""
        return mean_activation_distance(ctx.outputs, ctx.oracle_outputs, "forget")


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`ActivationDistance`."""
    return [ActivationDistance]
