"""``random_label``: fine-tune on the forget set with random wrong labels, mixed with the retain set.

Algorithm: relabel every forget example with a class other than its own, drawn uniformly, and fine-tune
the original model with cross-entropy on the union of the relabelled forget set and the (correctly
labelled) retain set. The forget examples are pulled away from their labels while the retain set holds
the decision boundaries in place. Random-label fine-tuning is a baseline of Golatkar et al. (CVPR 2020)
and the "RL" unlearner of the sparsity / saliency line (Jia et al., NeurIPS 2023; Fan et al., ICLR 2024,
where SalUn is RL restricted to salient weights). Defaults (CIFAR-10, ResNet-18, as the SalUn code):
SGD lr 0.01 (momentum 0.9, weight decay 5e-4), 10 epochs, batch 256, constant learning rate.

Choices the papers leave open, and what is done here:

- Wrong labels only: a label is drawn from the K − 1 other classes (``wrong_only=False`` draws from all K
  classes, as the SalUn code does, so about 1/K of the "random" labels are the true ones).
- Labels are redrawn every time an example is visited (the SalUn code draws ``randint`` per batch), so
  the forget examples are pushed towards a uniform distribution over the wrong classes rather than towards
  one memorised wrong class.
- Mixing: forget and retain examples are shuffled together into shared batches (the SalUn code's variant
  for CIFAR-100; for CIFAR-10 it runs a forget pass, then a retain pass, every epoch). One shuffled union
  keeps every batch a mix of both sets and reuses the bench's single training loop.
- BatchNorm in train mode, constant learning rate, no augmentation.

:func:`random_wrong_labels` is public so that other methods (e.g. SalUn) can reuse the same relabelling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.hookspec import hookimpl

# Offset of this method's label generator among the replicate's generators.
_LABEL_STREAM = 17


def random_wrong_labels(
    y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A label different from ``y`` for every entry, uniform over the other ``num_classes − 1`` classes.

    Drawn on the CPU from ``generator`` (reproducible on any device), returned on ``y``'s device.
    """
    if num_classes < 2:
        raise ValueError("random wrong labels need at least two classes")
    offset = torch.randint(1, num_classes, tuple(y.shape), generator=generator)
    return (y + offset.to(y.device)) % num_classes


def random_labels(
    y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A label uniform over all ``num_classes`` classes for every entry (it may equal the true one)."""
    return torch.randint(0, num_classes, tuple(y.shape), generator=generator).to(y.device)


def flagged_union(forget: TensorData, retain: TensorData, num_classes: int) -> TensorData:
    """Forget and retain examples in one set; forget labels are shifted by ``num_classes`` to mark them."""
    return TensorData(
        torch.cat([forget.x, retain.x.to(forget.x.device)]),
        torch.cat([forget.y + num_classes, retain.y.to(forget.y.device)]),
        forget.mean, forget.std, forget.crop_padding, forget.hflip,
    )  # fmt: skip


def relabelling_loss(
    num_classes: int, generator: torch.Generator, wrong_only: bool = True
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy on a :func:`flagged_union` batch, flagged (forget) rows getting fresh random labels."""
    draw = random_wrong_labels if wrong_only else random_labels

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        flagged = y >= num_classes
        true = y % num_classes
        target = torch.where(flagged, draw(true, num_classes, generator), true)
        return nn.functional.cross_entropy(model(x), target)

    return loss


class RandomLabel:
    """Fine-tuning on the retain set plus the forget set with random wrong labels."""

    name: ClassVar[str] = "random_label"
    description: ClassVar[str] = (
        "Fine-tune on forget examples with random wrong labels plus the retain set "
        "(Golatkar et al., CVPR 2020; RL of Fan et al., ICLR 2024)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 10,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 256,
        "wrong_only": True,
    }
    #: ~1,100 training examples give 4 steps per epoch at batch 256; batch 64 gives 17.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 64, "epochs": 3},
        "fake": {"batch_size": 64, "epochs": 3},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [0.005, 0.01, 0.02]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Fine-tune ``model`` in place on the relabelled union and return it."""
        p = {**self.defaults, **ctx.params}
        if len(ctx.forget) == 0 and len(ctx.retain) == 0:
            return model
        data = flagged_union(ctx.forget, ctx.retain, ctx.num_classes)
        loss = relabelling_loss(ctx.num_classes, ctx.generator(_LABEL_STREAM), bool(p["wrong_only"]))
        ctx.train(
            model,
            data,
            loss_fn=loss,
            description=self.name,
            epochs=int(p["epochs"]),
            lr=float(p["lr"]),
            momentum=float(p["momentum"]),
            weight_decay=float(p["weight_decay"]),
            batch_size=int(p["batch_size"]),
            schedule="constant",
            augment=False,
            optimizer="sgd",
            nesterov=False,
        )
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``random_label`` method."""
    return [RandomLabel]
