"""The NeurIPS 2023 Machine Unlearning Challenge starting kit's membership-inference attack ("simple MIA").

A logistic regression on the per-example cross-entropy loss tries to tell forget examples (label 1) from
test examples (label 0), on a class-balanced sample, scored by the mean accuracy over 10 stratified
shuffle splits. 0.5 means the attacker cannot tell them apart; the meaningful target is the retrained
model's value (see the ``gold_standard`` metric), so the column is not ranked.

Reference code: unlearning-challenge/starting-kit@901e784c4243, ``unlearning-CIFAR10.ipynb`` (cell 19
``simple_mia``, cell 21 the balancing, cell 16 the losses). The one departure: the kit cuts the forget
losses to the test set's size after an unseeded ``np.random.shuffle`` (and never subsamples the test side);
here whichever side is larger is subsampled with a seeded permutation, so equal inputs give equal scores
and a forget set smaller than the test set is balanced too (see ``SimpleMIA.fidelity``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext
from unlearnbench.fidelity import Difference, Fidelity, Source
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
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="NeurIPS 2023 Machine Unlearning Challenge starting kit (Triantafillou et al. 2023): the simple MIA",
        repository="unlearning-challenge/starting-kit",
        commit="901e784c4243eee541a5748a075d132c1724f5ed",
        loop=(
            Source(
                "unlearning-CIFAR10.ipynb", "cell 19",
                note="simple_mia: LogisticRegression() with defaults, StratifiedShuffleSplit(n_splits=10, "
                "random_state=0) (test_size default 0.1), cross_val_score(scoring='accuracy')",
            ),
            Source(
                "unlearning-CIFAR10.ipynb", "cell 21",
                note="balance: np.random.shuffle(forget_losses), cut to len(test_losses); samples (test, forget) "
                "labelled 0 / 1; the score is the mean of the 10 accuracies",
            ),
            Source(
                "unlearning-CIFAR10.ipynb", "cell 16",
                note="per-example nn.CrossEntropyLoss(reduction='none') of the eval-mode model",
            ),
            Source("unlearning-CIFAR10.ipynb", "cells 23-24", note="the unlearned model's MIA (equal sizes asserted)"),
        ),
        defaults={},
        differences=(
            Difference(
                what="Balancing: the larger side (forget or test) is cut to the smaller one after "
                "np.random.default_rng(0).permutation; the kit cuts only the forget side, after an unseeded "
                "np.random.shuffle (cell 21), and assumes forget ≥ test (CIFAR-10: 5,000 each).",
                why="Equal inputs give equal scores; with fewer forget than test examples the kit's cut leaves "
                "the classes unbalanced, and the attack then scores the majority-class rate.",
                effect="Digits (120 forget, 300 test, mean of 3 seeds): finetune[epochs=5,lr=0.1] 0.508 ours vs "
                "0.714 with the kit's literal cut (= 300/420, nothing learnt); the subsample seed 0 / 1 / 2 gives "
                "0.508 / 0.508 / 0.507 (finetune) and 0.554 / 0.538 / 0.521 (original).",
            ),
            Difference(
                what="Losses in float64 from the stored float32 logits; the kit's are float32.",
                why="Confident models' losses do not round to 0.",
                effect="Digits: simple_mia identical to every digit shown (e.g. finetune[epochs=5,lr=0.1] "
                "0.508333 both, original 0.554167 both).",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> float:
        """simple_mia(forget losses, test losses) of the evaluated model."""
        return simple_mia(ctx.losses("forget"), ctx.losses("test"), seed=self.attack_seed)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`SimpleMIA`."""
    return [SimpleMIA]
