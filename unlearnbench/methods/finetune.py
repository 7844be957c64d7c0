"""``finetune``: fine-tune the original on the retain set only (catastrophic forgetting).

Algorithm 1 of the seed protocol and the NeurIPS 2023 Machine Unlearning Challenge baseline (Warnecke et
al. 2023): cross-entropy on the retain set, SGD (lr 0.1, momentum 0.9, weight decay 5e-4), cosine annealing
over the epochs stepped once per epoch, batch 128, no augmentation, train mode. Defaults are the challenge
kit's (unlearning-challenge/starting-kit@901e784, ``unlearning-CIFAR10.ipynb`` cells 4 and 12: 5 epochs,
lr 0.1); the grid is the CS354 report's sweep. No remaining difference: the shared loop keeps each
epoch's last partial batch, as the kit's DataLoader.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Fidelity, Source
from unlearnbench.hookspec import hookimpl

_KIT = "unlearning-challenge/starting-kit"
_COMMIT = "901e784c4243eee541a5748a075d132c1724f5ed"
_NB = "unlearning-CIFAR10.ipynb"


class Finetune:
    """Fine-tuning on the retain set with the bench's training loop."""

    name = "finetune"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain",)
    description = (
        "Fine-tune on the retain set (Warnecke et al., NDSS 2023; NeurIPS 2023 unlearning challenge baseline)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 5,
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "nesterov": False,
        "batch_size": 128,
        "schedule": "cosine",
        "augment": False,
    }
    grid: ClassVar[list[dict[str, Any]]] = [
        {"epochs": 5, "lr": 0.1},
        {"epochs": 5, "lr": 0.01},
        {"epochs": 5, "lr": 0.001},
        {"epochs": 15, "lr": 0.1},
        {"epochs": 25, "lr": 0.1},
    ]

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="NeurIPS 2023 Machine Unlearning Challenge starting kit (fine-tuning baseline); CS354 report, "
        "algorithm 1 (docs/seed-protocol.md)",
        repository=_KIT,
        commit=_COMMIT,
        loop=(
            Source(_NB, "cell 12", note="unlearning(): net.train(); per epoch one pass over the retain loader "
                   "(CE, SGD step per batch), then scheduler.step()"),
        ),
        defaults={
            "epochs": Source(_NB, "cell 12", 5, note="epochs = 5"),
            "lr": Source(_NB, "cell 12", 0.1, note="optim.SGD(lr=0.1, ...)"),
            "momentum": Source(_NB, "cell 12", 0.9, note="momentum=0.9"),
            "weight_decay": Source(_NB, "cell 12", 5e-4, note="weight_decay=5e-4"),
            "nesterov": Source(_NB, "cell 12", False, note="optim.SGD default"),
            "batch_size": Source(_NB, "cell 4", 128, note="retain_loader batch_size=128"),
            "schedule": Source(_NB, "cell 12", "cosine", note="CosineAnnealingLR(T_max=epochs), stepped per "
                               "epoch"),
            "augment": Source(_NB, "cell 4", False, note="train_set uses the normalize transform only"),
        },
        differences=(),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Fine-tune ``model`` on the retain set in place and return it."""
        p = {**self.defaults, **ctx.params}
        ctx.train(model, ctx.retain, ctx.recipe_from(p, optimizer="sgd"), description=self.name)
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``finetune`` method."""
    return [Finetune]
