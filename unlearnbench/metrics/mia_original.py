"""``mia_original``: the starting kit's simple MIA on the ORIGINAL model (the CS354 report's "MIA O" column).

The same reference value on every row: how well the loss attack tells the forget set from the test set
before any unlearning. A method's ``simple_mia`` should move from this value towards ``gold_standard``.
"""

from __future__ import annotations

from typing import ClassVar

from unlearnbench.api import EvalContext
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import cross_entropy
from unlearnbench.metrics.simple_mia import simple_mia


class MiaOriginal:
    """Simple MIA (forget vs test) of the original model: the "before" anchor of ``simple_mia``."""

    name: ClassVar[str] = "mia_original"
    description: ClassVar[str] = (
        "Simple MIA of the original model, forget vs test (NeurIPS 2023 challenge kit; CS354 report's MIA O)"
    )
    higher_is_better: ClassVar[None] = None
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"original_outputs"})

    def compute(self, ctx: EvalContext) -> float:
        original = ctx.original_outputs
        forget = cross_entropy(original["forget"], ctx.labels["forget"])
        test = cross_entropy(original["test"], ctx.labels["test"])
        return simple_mia(forget, test, seed=0)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    return [MiaOriginal]
