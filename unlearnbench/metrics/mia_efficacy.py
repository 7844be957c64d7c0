"""MIA-efficacy of the SalUn line: the share of forget examples a confidence-based attack calls non-members.

Jia et al. (NeurIPS 2023, "Model sparsity can simplify machine unlearning") and Fan et al. (ICLR 2024,
SalUn) train a support-vector classifier (RBF kernel, C = 3, gamma "auto") on one feature, the softmax
probability of the true class, with retain examples as members (1) and test examples as non-members (0),
then report the fraction of forget examples it predicts to be non-members (the ``"confidence"`` entry of
``SVC_MIA_forget_efficacy``). Higher means the forget set looks less seen, but the target is the retrained
model's value (it generalises to most forget examples), so the column is not ranked.

Reference: OPTML-Group/Unlearn-Saliency@a6e89fd1 ``Classification/evaluation/SVC_MIA.py`` and
``main_random.py`` 161-186 (the same code as OPTML-Group/Unlearn-Sparse@80ba55d3). As there, the attack is
trained on the first n_test retain examples (in the split's order) and the whole test set. Only where the
retain split is smaller than the test split (the reference code fails there) is the test side cut to its
first n_retain examples instead. Values are fractions in [0, 1] (the papers print percentages).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import softmax

__all__ = [
    "MIAEfficacy",
    "mia_efficacy_of",
    "shadow_sets",
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


def shadow_sets(members: np.ndarray, non_members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The attack's training sets: the first ``min(n_members, n_non_members)`` entries of each side.

    With at least as many members as non-members this is the reference's
    ``Subset(retain_dataset, range(len(test)))`` beside the whole test set.
    """
    n = min(members.size, non_members.size)
    return members[:n], non_members[:n]


def svc_mia_efficacy(members: np.ndarray, non_members: np.ndarray, target: np.ndarray) -> float:
    """Share of ``target`` predicted non-member by ``SVC(C=3, gamma="auto", kernel="rbf")``.

    The classifier is fit on ``members`` (label 1) and ``non_members`` (label 0) cut by
    :func:`shadow_sets`; all three are 1-D per-example features (here: true-class confidence).
    """
    from sklearn.svm import SVC

    member = _as_feature(members, "member")
    non_member = _as_feature(non_members, "non-member")
    tgt = _as_feature(target, "target")
    member, non_member = shadow_sets(member, non_member)
    x = np.concatenate((member, non_member)).reshape(-1, 1)
    y = np.concatenate((np.ones(member.size), np.zeros(non_member.size)))
    clf = SVC(C=SVC_C, gamma=SVC_GAMMA, kernel="rbf")
    clf.fit(x, y)
    return float(1.0 - np.mean(clf.predict(tgt.reshape(-1, 1))))


def mia_efficacy_of(outputs: ModelOutputs, labels: Mapping[str, np.ndarray]) -> float:
    """MIA-efficacy of one model's outputs: retain (member) vs test (non-member), evaluated on forget.

    ``labels`` maps split names to labels. Results are memoised on the confidences themselves, so the
    oracles' values, which every row of a run compares against, are fitted once.
    """
    conf = {s: true_class_confidence(outputs[s], labels[s]) for s in ("retain", "test", "forget")}
    digest = hashlib.sha1(b"first-n")
    for split in ("retain", "test", "forget"):
        digest.update(split.encode())
        digest.update(np.ascontiguousarray(conf[split]).tobytes())
    key = digest.hexdigest()
    if key not in _CACHE:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = svc_mia_efficacy(conf["retain"], conf["test"], conf["forget"])
    return _CACHE[key]


_SALUN = "OPTML-Group/Unlearn-Saliency"
_SALUN_COMMIT = "a6e89fd17ff737c24c6aa16c9574469a234ffd91"
_SPARSE = "OPTML-Group/Unlearn-Sparse"
_SPARSE_COMMIT = "80ba55d36d0871465c2d3e3896db26a98070e065"


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

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper=(
            "Fan et al., SalUn: Empowering machine unlearning via gradient-based weight saliency, ICLR 2024 "
            "(MIA-Efficacy); Jia et al., Model sparsity can simplify machine unlearning, NeurIPS 2023, App. C.3"
        ),
        repository=_SALUN,
        commit=_SALUN_COMMIT,
        loop=(
            Source(
                "Classification/main_random.py", "161-186",
                note="shadow_train = Subset(retain_dataset, range(len(test))) (the first n_test retain "
                "examples, unshuffled), shadow_test = the whole test loader, target_test = forget, "
                "target_train = None",
            ),
            Source(
                "Classification/evaluation/SVC_MIA.py", "53-82",
                note="SVC_fit_predict: members 1 / non-members 0, SVC(C=3, gamma='auto', kernel='rbf'); with "
                "only a target_test the value is 1 - mean(predict(forget)), the share called non-member",
            ),
            Source(
                "Classification/evaluation/SVC_MIA.py", "85-148",
                note="SVC_MIA: the feature is the softmax probability of the label (torch.gather, 105-108); "
                "of the five entries the papers report 'confidence' (130-132, 142-148)",
            ),
            Source(
                "Classification/README.md", "37",
                note="'MIA corresponds to multiplying SVC_MIA_forget_efficacy['confidence'] by 100'",
            ),
            Source(
                "main_forget.py", "172-197", repository=_SPARSE, commit=_SPARSE_COMMIT,
                note="Jia et al.'s code: the same sets and the same evaluation/SVC_MIA.py",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="Where the retain split has fewer examples than the test split, the test side is cut to "
                "its first n_retain examples.",
                why="The reference's Subset(retain_dataset, range(len(test))) raises IndexError there (its "
                "CIFAR splits always have retain > test); cutting the other side keeps the attack's training "
                "set balanced, as it always is in the reference.",
                effect="none on the bench's built-in datasets (retain > test: digits 1,078 vs 300, CIFAR-10 "
                "45,000 vs 5,000), so no run changes",
            ),
            Difference(
                what="Confidences are computed in float64 from the stored float32 logits; the reference takes "
                "the float32 softmax of the model's output.",
                why="The bench stores logits; the metrics' shared softmax works in float64.",
                effect="not measured: below float32 rounding, it can only flip an SVC decision at a tie",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> float:
        """MIA-efficacy of the evaluated model."""
        return mia_efficacy_of(ctx.outputs, ctx.labels)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`MIAEfficacy`."""
    return [MIAEfficacy]
