"""``original``: the unchanged original model, the "nothing forgotten" anchor of every table.

As the NeurIPS 2023 unlearning challenge's starting kit (unlearning-challenge/starting-kit at commit
901e784c4243eee541a5748a075d132c1724f5ed, ``unlearning-CIFAR10.ipynb`` cells 4-5): the model trained on the
whole training set (retain ∪ forget), evaluated as it is. No parameters.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Fidelity, Source
from unlearnbench.hookspec import hookimpl


class Original:
    """Returns the original model as it is (reference row)."""

    name = "original"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ()
    description = "Reference: the original model, trained on retain + forget (nothing is forgotten)"
    defaults: dict[str, object] = {}
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="NeurIPS 2023 Machine Unlearning Challenge starting kit; the CS354 report's \"original\" model "
        "(shared/docs/seed-protocol.md 25)",
        repository="unlearning-challenge/starting-kit",
        commit="901e784c4243eee541a5748a075d132c1724f5ed",
        loop=(
            Source("unlearning-CIFAR10.ipynb", "cell 4", note="the pre-trained model: all 50,000 training images"),
            Source("unlearning-CIFAR10.ipynb", "cell 5", note="its weights loaded and evaluated unchanged (eval mode)"),
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    return [Original]
