"""``retrain``: the exact oracle, a model trained from scratch on the retain set only.

The replicate for seed ``s`` is a retrained model with training seed ``R + s`` (trained, or loaded from the
cache, with the same recipe as the original model), disjoint from the R models of the reference pool, so
population metrics compare independent retrained models. Its runtime is charged as that model's training
time, so the ``runtime`` ratio of this row is about 1.

As the NeurIPS 2023 unlearning challenge's starting kit (unlearning-challenge/starting-kit at commit
901e784c4243eee541a5748a075d132c1724f5ed, ``unlearning-CIFAR10.ipynb`` cells 27-28: "a model trained
exclusively on the retain set", the gold standard), except that the kit ships one such model and every
replicate here is its own.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl


class Retrain:
    """Retraining from scratch on the retain set: the gold standard every method is judged against."""

    name = "retrain"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("oracle",)
    description = "Reference: retrain from scratch on the retain set, the exact unlearning oracle"
    defaults: dict[str, object] = {}
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="NeurIPS 2023 Machine Unlearning Challenge starting kit; the CS354 report's \"retrained\" oracle "
        "(shared/docs/seed-protocol.md 25-26)",
        repository="unlearning-challenge/starting-kit",
        commit="901e784c4243eee541a5748a075d132c1724f5ed",
        loop=(
            Source("unlearning-CIFAR10.ipynb", "cell 27", note="the gold standard: trained only on the retain set"),
            Source("unlearning-CIFAR10.ipynb", "cell 28", note="its weights loaded and evaluated (eval mode)"),
        ),
        differences=(
            Difference(
                what="Every replicate seed s gets its own retrained model (training seed R + s, the bench's "
                "recipe); the kit ships a single retrained checkpoint.",
                why="Population metrics (forgetting quality F) compare the distribution of unlearned models "
                "with that of independently retrained ones, which one checkpoint cannot give.",
                effect="None on what a retrained model is; across seeds the row shows the spread of retraining "
                "itself (on digits, 10 % random forget: TA 0.981 with std 0.004 over 3 seeds).",
            ),
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        return ctx.oracle_model()


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    return [Retrain]
