"""``salun``: Saliency Unlearning (Fan, Liu, Zhang, Wei, Wong and Liu, ICLR 2024).

"SalUn: Empowering machine unlearning via gradient-based weight saliency in both image classification
and generation". Two steps:

1. Weight saliency: ``s = |∇θ ℓ_CE(θ_o; D_f)|``, the magnitude of the forget loss's gradient at the
   original weights; the mask ``m`` keeps the ``mask_ratio`` fraction of entries with the largest
   saliency, chosen by ONE hard threshold over all weights of the model together (the reference code
   ranks the concatenation of every parameter tensor, not each layer on its own).
2. Random-label unlearning on the salient weights only: minimise
   ``E_{D_f, y' ≠ y} ℓ_CE(θ; x, y') + E_{D_r} ℓ_CE(θ; x, y)`` while the non-salient weights stay
   exactly at their original values, ``θ_u = m ⊙ θ + (1 − m) ⊙ θ_o``.

Defaults are the paper's ResNet-18 / CIFAR-10 setting: mask ratio 0.5, SGD lr 0.013, momentum 0.9,
weight decay 5e-4, 10 epochs, batch 256, constant learning rate (the reference's step schedule decays
only at epochs 91 and 136). The grid sweeps the learning rate, the parameter the paper tunes per setting.

Choices the paper leaves open:

- Saliency is the gradient of the *mean* cross-entropy over the whole forget set, in eval mode, without
  augmentation (the reference sums minibatch-mean gradients, the same up to scale for equal batches).
  Every trainable parameter is ranked, BatchNorm affine parameters and biases included.
- Ties at the threshold are broken by position, so exactly ``floor(mask_ratio · P)`` entries are salient.
- The two loss terms are optimised together: one shuffled stream over ``forget ∪ retain`` in which every
  forget example gets a fresh random wrong label each time it is drawn (uniform over the other classes,
  the paper's ``y' ≠ y``). The reference's CIFAR-10 loop instead takes a pass over the forget set and then
  a pass over the retain set every epoch, with labels drawn uniformly over all classes (so sometimes the
  true one); its CIFAR-100 loop uses the single mixed stream, as here.
- Non-salient weights are restored after every optimiser step, so weight decay and momentum never move
  them (as the reference's latest code does); BatchNorm running statistics are buffers, not weights,
  and are updated in train mode as in the reference.
- No augmentation during unlearning (the reference reused its training transforms).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.hookspec import hookimpl
from unlearnbench.importance import concatenate, global_top_mask, gradient_magnitudes, trainable

# Generator offset of the random wrong labels (the training loop's shuffling uses the seed itself).
_LABEL_STREAM = 17


def saliency_mask(
    model: nn.Module, forget: TensorData, mask_ratio: float, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """SalUn's hard saliency mask: the top ``mask_ratio`` of ``|∇ mean CE(forget)|`` over all weights."""
    return global_top_mask(gradient_magnitudes(model, forget, batch_size), mask_ratio)


def mark_forget_labels(y: torch.Tensor) -> torch.Tensor:
    """Encode forget labels as ``-(y + 1)``: the loss can tell forget examples apart and still knows ``y``."""
    return -(y + 1)


def random_wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """Replace every marked (negative) label by a uniformly drawn class other than its true one."""
    marked = y < 0
    if not bool(marked.any()):
        return y
    true = -y[marked] - 1
    shift = torch.randint(1, num_classes, true.shape, generator=generator).to(y.device)
    out = y.clone()
    out[marked] = (true + shift) % num_classes
    return out


class SalUn:
    """Random-label unlearning restricted to the weights most salient for the forget loss."""

    name: ClassVar[str] = "salun"
    description: ClassVar[str] = (
        "Saliency unlearning: random labels on forget + retain, updating only the top-gradient weights "
        "(Fan et al., ICLR 2024)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "mask_ratio": 0.5,
        "lr": 0.013,
        "epochs": 10,
        "batch_size": 256,
        "momentum": 0.9,
        "weight_decay": 5e-4,
    }
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # ~1,200 digits make only 5 steps an epoch at batch 256.
        "digits": {"batch_size": 64, "epochs": 5},
        "fake": {"batch_size": 64, "epochs": 5},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [0.005, 0.013, 0.03]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run SalUn on ``model`` in place and return it."""
        p = ctx.params
        mask_ratio = float(p["mask_ratio"])
        if ctx.num_classes < 2:
            raise ValueError("salun needs at least two classes to draw wrong labels")
        model.to(ctx.device)
        if len(ctx.forget) == 0 or mask_ratio == 0.0:
            model.eval()
            return model
        masks = saliency_mask(model, ctx.forget, mask_ratio, int(p["batch_size"]))
        params = trainable(model)
        original = {name: q.detach().clone() for name, q in params.items()}

        def keep_non_salient(_: nn.Module) -> None:
            with torch.no_grad():
                for name, q in params.items():
                    q.copy_(torch.where(masks[name], q, original[name]))

        labels = ctx.generator(_LABEL_STREAM)
        num_classes = ctx.num_classes

        def loss_fn(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(net(x), random_wrong_labels(y, num_classes, labels))

        data = concatenate(ctx.forget.with_labels(mark_forget_labels(ctx.forget.y)), ctx.retain)
        ctx.train(
            model,
            data,
            loss_fn=loss_fn,
            after_step=keep_non_salient,
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
        model.eval()
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``salun`` method."""
    return [SalUn]
