"""The NeurIPS 2023 Machine Unlearning Challenge starting kit's membership-inference attack ("simple MIA").

A logistic regression on the per-example cross-entropy loss tries to tell forget examples (label 1) from
test examples (label 0), on a class-balanced sample, scored by the mean accuracy over 10 stratified
shuffle splits. 0.5 means the attacker cannot tell them apart; the meaningful target is the retrained
model's value (see the ``gold_standard`` metric), so the column is not ranked.

The one departure from the kit: it subsampled the larger side with an unseeded ``np.random.shuffle``; here
the shuffle is seeded so equal inputs give equal scores.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._memo import array_memo

__all__ = ["MIN_PER_SIDE", "SimpleMIA", "simple_mia"]

#: Fewest examples per side for which 10 stratified splits with test size 0.1 leave >= 1 of each class
#: in every test fold (ceil(0.1 * 2n) >= 2 needs n >= 6); below it scikit-learn refuses.
MIN_PER_SIDE = 6


def _as_losses(values: np.ndarray, what: str) -> np.ndarray:
    """Validate one side's losses: 1-D, non-empty, finite; return them as float64."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} losses must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what} losses are empty")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ValueError(f"{what} losses contain {bad} non-finite value(s) (NaN or inf)")
    return arr


@array_memo()
def simple_mia(forget_losses: np.ndarray, test_losses: np.ndarray, seed: int = 0) -> float:
    """Mean cross-validated accuracy of the kit's loss-based attack, forget (1) vs test (0).

    The larger side is subsampled to the smaller side's size with
    ``np.random.default_rng(seed).permutation``; samples are ordered test then forget; the attacker is
    ``LogisticRegression()`` with default settings under ``StratifiedShuffleSplit(n_splits=10,
    random_state=0)`` (test size 0.1). Raises ``ValueError`` for empty or non-finite losses and for fewer
    than :data:`MIN_PER_SIDE` examples on a side.
    """
    from sklearn import linear_model, model_selection

    forget = _as_losses(forget_losses, "forget")
    test = _as_losses(test_losses, "test")
    n = min(forget.size, test.size)
    if n < MIN_PER_SIDE:
        raise ValueError(
            f"simple_mia needs at least {MIN_PER_SIDE} forget and {MIN_PER_SIDE} test losses, "
            f"got {forget.size} forget and {test.size} test"
        )
    rng = np.random.default_rng(seed)
    if forget.size > n:
        forget = rng.permutation(forget)[:n]
    elif test.size > n:
        test = rng.permutation(test)[:n]

    samples = np.concatenate((test, forget)).reshape((-1, 1))
    members = np.array([0] * n + [1] * n)
    cv = model_selection.StratifiedShuffleSplit(n_splits=10, random_state=0)
    scores = model_selection.cross_val_score(
        linear_model.LogisticRegression(), samples, members, cv=cv, scoring="accuracy"
    )
    return float(np.mean(scores))


class SimpleMIA:
    """The starting kit's loss-based membership-inference attack on the evaluated model.

    Not ranked: the closer to the retrained model's value (``gold_standard``) the better; 0.5 means
    forget and test examples are indistinguishable by their loss.
    """

    name: ClassVar[str] = "simple_mia"
    description: ClassVar[str] = (
        "Logistic-regression MIA on per-example loss, forget vs test, mean of 10 stratified splits "
        "(NeurIPS 2023 Unlearning Challenge starting kit)"
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs"})
    higher_is_better: ClassVar[bool | None] = None
    #: Fixed, not the replicate seed: the attack's own randomness must not add variance between rows.
    attack_seed: ClassVar[int] = 0

    def compute(self, ctx: EvalContext) -> float:
        """simple_mia(forget losses, test losses) of the evaluated model."""
        return simple_mia(ctx.losses("forget"), ctx.losses("test"), seed=self.attack_seed)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`SimpleMIA`."""
    return [SimpleMIA]
