"""MIA-efficacy of the SalUn line: the share of forget examples a confidence-based attack calls non-members.

Jia et al. (NeurIPS 2023, "Model sparsity can simplify machine unlearning") and Fan et al. (ICLR 2024,
SalUn) train a support-vector classifier (RBF kernel, C = 3, gamma "auto") on one feature, the softmax
probability of the true class, with retain examples as members (1) and test examples as non-members (0),
then report the fraction of forget examples it predicts to be non-members ("confidence" variant of their
``SVC_MIA``, used as ``SVC_MIA_forget_efficacy``). Higher means the forget set looks less seen, but the
target is the retrained model's value (it generalises to most forget examples), so the column is not
ranked.

Their code takes the first n_test retain examples and the whole test set; here the larger side is
subsampled with a seeded permutation to the smaller side's size, so the attack's training set is balanced
whatever the split sizes. Values are fractions in [0, 1] (the papers print percentages).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import softmax

__all__ = [
    "MIAEfficacy",
    "balanced_subsample",
    "mia_efficacy_of",
    "svc_mia_efficacy",
    "true_class_confidence",
]

#: SVC settings of SalUn's ``SVC_fit_predict``.
SVC_C = 3.0
SVC_GAMMA = "auto"

_CACHE: dict[str, float] = {}
_CACHE_SIZE = 64


def true_class_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax probability of the labelled class per example, float64 of shape (n,)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"need logits (n, classes) and labels (n,), got shapes {z.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1] - 1}]")
    if z.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    return softmax(z)[np.arange(z.shape[0]), y]


def _as_feature(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} features must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what} features are empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} features contain non-finite values")
    return arr


def balanced_subsample(
    first: np.ndarray, second: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the larger of two 1-D arrays to the smaller's size with ``default_rng(seed).permutation``.

    The smaller side is returned whole and in order; with equal sizes both are returned unchanged.
    """
    n = min(first.size, second.size)
    rng = np.random.default_rng(seed)
    if first.size > n:
        return rng.permutation(first)[:n], second
    if second.size > n:
        return first, rng.permutation(second)[:n]
    return first, second


def svc_mia_efficacy(
    members: np.ndarray, non_members: np.ndarray, target: np.ndarray, seed: int = 0
) -> float:
    """Share of ``target`` predicted non-member by ``SVC(C=3, gamma="auto", kernel="rbf")``.

    The classifier is fit on ``members`` (label 1) and ``non_members`` (label 0) after
    :func:`balanced_subsample`; all three are 1-D per-example features (here: true-class confidence).
    """
    from sklearn.svm import SVC

    member = _as_feature(members, "member")
    non_member = _as_feature(non_members, "non-member")
    tgt = _as_feature(target, "target")
    member, non_member = balanced_subsample(member, non_member, seed)
    x = np.concatenate((member, non_member)).reshape(-1, 1)
    y = np.concatenate((np.ones(member.size), np.zeros(non_member.size)))
    clf = SVC(C=SVC_C, gamma=SVC_GAMMA, kernel="rbf")
    clf.fit(x, y)
    return float(1.0 - np.mean(clf.predict(tgt.reshape(-1, 1))))


def mia_efficacy_of(outputs: ModelOutputs, labels: Mapping[str, np.ndarray], seed: int = 0) -> float:
    """MIA-efficacy of one model's outputs: retain (member) vs test (non-member), evaluated on forget.

    ``labels`` maps split names to labels. Results are memoised on the confidences themselves, so the
    oracles' values, which every row of a run compares against, are fitted once.
    """
    conf = {s: true_class_confidence(outputs[s], labels[s]) for s in ("retain", "test", "forget")}
    digest = hashlib.sha1(str(seed).encode())
    for split in ("retain", "test", "forget"):
        digest.update(split.encode())
        digest.update(np.ascontiguousarray(conf[split]).tobytes())
    key = digest.hexdigest()
    if key not in _CACHE:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = svc_mia_efficacy(conf["retain"], conf["test"], conf["forget"], seed=seed)
    return _CACHE[key]


class MIAEfficacy:
    """SalUn's MIA-efficacy: share of forget examples a confidence SVC (retain vs test) calls non-member.

    Not ranked: the target is the retrained model's value, not 0 or 1.
    """

    name: ClassVar[str] = "mia_efficacy"
    description: ClassVar[str] = (
        "Share of forget examples predicted non-member by an RBF SVC on true-class confidence, retain vs "
        "test (SalUn, Fan et al. ICLR 2024; Jia et al. NeurIPS 2023)"
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs"})
    higher_is_better: ClassVar[bool | None] = None
    #: Fixed, not the replicate seed: the attack's own randomness must not add variance between rows.
    attack_seed: ClassVar[int] = 0

    def compute(self, ctx: EvalContext) -> float:
        """MIA-efficacy of the evaluated model."""
        return mia_efficacy_of(ctx.outputs, ctx.labels, seed=self.attack_seed)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`MIAEfficacy`."""
    return [MIAEfficacy]
