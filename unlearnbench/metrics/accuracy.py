"""Accuracy on every split: RA (retain), FA (forget), UA = 1 - FA, TA (test) and VA (validation).

RA/TA/VA should be high. FA and UA are deliberately not ranked: a good unlearning method brings forget
accuracy close to that of the model retrained without the forget set (which still generalises to it),
not to 0 or 1, so "higher" or "lower" is wrong in general; compare them with the retrained row instead.
UA is stored beside FA because papers use "UA" for either quantity.

Reference code: unlearning-challenge/starting-kit@901e784c4243, ``unlearning-CIFAR10.ipynb`` cell 9
(``accuracy``: arg-max of the eval-mode logits against the label); nothing differs in the computation.
"""

from __future__ import annotations

from typing import ClassVar

from unlearnbench.api import EvalContext
from unlearnbench.fidelity import Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import accuracy as _accuracy

__all__ = ["Accuracy", "split_accuracies"]

#: Column name → the split it is measured on (UA is derived from FA).
_SPLIT_OF: dict[str, str] = {"RA": "retain", "FA": "forget", "TA": "test", "VA": "val"}


def split_accuracies(ctx: EvalContext) -> dict[str, float]:
    """RA, FA, UA, TA, VA of ``ctx.outputs`` as fractions in [0, 1]."""
    acc = {col: _accuracy(ctx.outputs[split], ctx.labels[split]) for col, split in _SPLIT_OF.items()}
    return {"RA": acc["RA"], "FA": acc["FA"], "UA": 1.0 - acc["FA"], "TA": acc["TA"], "VA": acc["VA"]}


class Accuracy:
    """Top-1 accuracy on retain, forget, test and validation, plus UA = 1 - FA.

    FA and UA have no direction (``None``): the target is the retrained model's value, not an extreme.
    """

    name: ClassVar[str] = "accuracy"
    description: ClassVar[str] = (
        "Top-1 accuracy RA/FA/TA/VA on retain/forget/test/val, UA = 1 - FA (Jia et al. 2023 naming)"
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs"})
    columns: ClassVar[tuple[str, ...]] = ("RA", "FA", "UA", "TA", "VA")
    higher_is_better: ClassVar[dict[str, bool | None]] = {
        "RA": True,
        "FA": None,
        "UA": None,
        "TA": True,
        "VA": True,
    }
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="NeurIPS 2023 Machine Unlearning Challenge starting kit (retain / forget / test accuracy); UA = 1 − FA "
        'after Jia et al., "Model sparsity can simplify machine unlearning", NeurIPS 2023',
        repository="unlearning-challenge/starting-kit",
        commit="901e784c4243eee541a5748a075d132c1724f5ed",
        loop=(
            Source(
                "unlearning-CIFAR10.ipynb", "cell 9",
                note="accuracy(net, loader): outputs.max(1) arg-max equals the target, correct / total",
            ),
            Source("unlearning-CIFAR10.ipynb", "cells 14, 28", note="retain, test and forget accuracies of a model"),
            Source(
                "paper", "Jia et al. 2023, evaluation metrics", note="UA, unlearning accuracy, = 1 − forget accuracy"
            ),
        ),
        defaults={},
    )

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """Accuracies of the evaluated model on its four splits."""
        return split_accuracies(ctx)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`Accuracy`."""
    return [Accuracy]
