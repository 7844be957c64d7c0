"""Accuracy on every split: RA (retain), FA (forget), UA = 1 - FA, TA (test) and VA (validation).

RA/TA/VA should be high. FA and UA are deliberately not ranked: a good unlearning method brings forget
accuracy close to that of the model retrained without the forget set (which still generalises to it),
not to 0 or 1, so "higher" or "lower" is wrong in general; compare them with the retrained row instead.
UA is stored beside FA because papers use "UA" for either quantity.
"""

from __future__ import annotations

from typing import ClassVar

from unlearnbench.api import EvalContext
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

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """Accuracies of the evaluated model on its four splits."""
        return split_accuracies(ctx)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`Accuracy`."""
    return [Accuracy]
