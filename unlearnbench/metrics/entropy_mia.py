"""Entropy MIA of the bad-teacher / SSD line: mean predicted membership of forget examples.

Chundawat et al. (AAAI 2023, "Can bad teaching induce forgetting?") and Foster et al. (AAAI 2024,
selective synaptic dampening; their evaluation code takes it from the former) fit a logistic regression
on one feature, the entropy of the softmax prediction, with retain examples as members (1) and test
examples as non-members (0), weighting the two classes by their inverse frequency
(``class_weight="balanced"``), and report the mean of its hard predictions on the forget set: the share
of forget examples still called members. The target is the retrained model's value, so the column is not
ranked. (SCRUB's own attack, Kurmanji et al. NeurIPS 2023, is a cross-validated logistic regression on
the loss, forget vs test: the bench's ``simple_mia``.)

Their classifier is scikit-learn's two-class *multinomial* logistic regression with default settings
(C = 1). With two classes its weights settle at ±w/2 for the binary weight w, so its L2 penalty is half
the binary one: it is exactly the binary model with C = 2, which is what is fitted here (scikit-learn ≥ 1.8
no longer offers the two-class multinomial form).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import log_softmax

__all__ = ["EQUIVALENT_C", "EntropyMIA", "entropy_attack", "entropy_mia_of", "prediction_entropy"]

#: The binary regularisation strength equal to a two-class multinomial model with C = 1.
EQUIVALENT_C = 2.0


def prediction_entropy(logits: np.ndarray) -> np.ndarray:
    """Entropy −Σ p log p (nats) of each row's softmax, float64 of shape (n,); 0·log 0 counts as 0."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n, classes), got shape {z.shape}")
    if z.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    log_p = log_softmax(z)
    # exp(log p) underflows to exactly 0 where p log p → 0, so the product is 0 there, never NaN.
    return np.maximum(-np.sum(np.exp(log_p) * log_p, axis=1), 0.0)


def _as_feature(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} entropies must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} entropies contain non-finite values")
    return arr


def entropy_attack(members: np.ndarray, non_members: np.ndarray, target: np.ndarray) -> float:
    """Mean hard prediction on ``target`` of a class-balanced logistic regression, members (1) vs not (0)."""
    from sklearn.linear_model import LogisticRegression

    member = _as_feature(members, "member")
    non_member = _as_feature(non_members, "non-member")
    tgt = _as_feature(target, "target")
    x = np.concatenate((member, non_member)).reshape(-1, 1)
    y = np.concatenate((np.ones(member.size), np.zeros(non_member.size)))
    clf = LogisticRegression(C=EQUIVALENT_C, class_weight="balanced", solver="lbfgs")
    clf.fit(x, y)
    return float(np.mean(clf.predict(tgt.reshape(-1, 1))))


def entropy_mia_of(outputs: ModelOutputs) -> float:
    """The entropy attack on one model: fit on retain vs test entropies, mean prediction on forget."""
    return entropy_attack(
        prediction_entropy(outputs["retain"]),
        prediction_entropy(outputs["test"]),
        prediction_entropy(outputs["forget"]),
    )


class EntropyMIA:
    """Share of forget examples a balanced entropy logistic regression (retain vs test) calls members.

    Not ranked: the target is the retrained model's value.
    """

    name: ClassVar[str] = "entropy_mia"
    description: ClassVar[str] = (
        "Mean membership predicted on forget by a balanced logistic regression on prediction entropy, "
        "retain vs test (bad teacher, Chundawat et al. AAAI 2023; SSD, Foster et al. AAAI 2024)"
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs"})
    higher_is_better: ClassVar[bool | None] = None

    def compute(self, ctx: EvalContext) -> float:
        """The entropy attack on the evaluated model."""
        return entropy_mia_of(ctx.outputs)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`EntropyMIA`."""
    return [EntropyMIA]
