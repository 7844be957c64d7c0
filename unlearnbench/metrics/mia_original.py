"""``mia_original``: the starting kit's simple MIA on the ORIGINAL model (the CS354 report's "MIA O" column).

The same reference value on every row: how well the loss attack tells the forget set from the test set
before any unlearning. A method's ``simple_mia`` should move from this value towards ``gold_standard``.

Reference code: unlearning-challenge/starting-kit@901e784c4243, ``unlearning-CIFAR10.ipynb`` cell 21 (the
original model's MIA). Differs only by ``simple_mia``'s seeded balancing.
"""

from __future__ import annotations

from typing import ClassVar

from unlearnbench.api import EvalContext
from unlearnbench.fidelity import Difference, Fidelity, Source
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
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="NeurIPS 2023 Machine Unlearning Challenge starting kit (Triantafillou et al. 2023): the simple MIA "
        "of the original model; the CS354 report's MIA O",
        repository="unlearning-challenge/starting-kit",
        commit="901e784c4243eee541a5748a075d132c1724f5ed",
        loop=(
            Source(
                "unlearning-CIFAR10.ipynb", "cell 21",
                note="the pre-trained model's forget losses (cell 16) shuffled and cut to the test size, then "
                "simple_mia (cell 19), mean of the 10 accuracies",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="simple_mia's seeded balancing of the larger side; the kit shuffles the forget losses with "
                "the unseeded global RNG and cuts them to the test size.",
                why="Equal inputs give equal scores; a forget set smaller than the test set is balanced too.",
                effect="Digits (120 forget, 300 test): 0.554 (seed 0; seeds 1 / 2: 0.538 / 0.521) vs 0.714 with "
                "the kit's literal cut.",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> float:
        original = ctx.original_outputs
        forget = cross_entropy(original["forget"], ctx.labels["forget"])
        test = cross_entropy(original["test"], ctx.labels["test"])
        return simple_mia(forget, test, seed=0)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    return [MiaOriginal]
