"""``boundary_shrink``: Boundary Shrink (Chen, Gao, Liu, Peng and Wang, "Boundary Unlearning: rapid
forgetting of deep networks via shifting the decision boundary", CVPR 2023).

Algorithm. For every forget example x with label y, one FGSM step on the ORIGINAL model,

    x' = clip[0,1]( x + ε · sign(∇ₓ CE(f₀(x), y)) ),   y_nbi = argmax f₀(x'),

crosses the nearest decision boundary, and y_nbi is the "nearest but incorrect" class. The model is then
fine-tuned on the forget examples relabelled with y_nbi (plain cross-entropy, forget set only), which
splits the forget class's region among its neighbours, the way a model that never saw the class
behaves, instead of scattering it at random as random relabelling does.

Defaults are the authors' code for CIFAR-10: ε = 0.1 on the [0, 1] pixel scale, SGD lr 1e-5 with
momentum 0.9 and no weight decay, 10 epochs over the forget set in batches of 64. The grid sweeps the
learning rate (1e-5, 1e-3, 1e-2), the parameter that decides how far the boundary moves: the paper's
1e-5 assumes the 5,000 forget images (≈ 800 steps) of a CIFAR-10 class; on small data such as the
embedded digits (≈ 120 images of a class, 20 steps) it barely moves the weights, hence the larger rates.

Class-wise only (``requires_class_forget = True``). The method is defined for forgetting whole classes;
it could run on a random forget set, but relabelling every forget example with a wrong class drives its
forget accuracy to zero, far below a retrained model's (which still classifies most random forget
examples correctly from the retained examples of their class): an easily detected over-forgetting.

Choices the paper and code leave open:

- The FGSM step is taken in [0, 1] pixel space and the result rounded to the 1/255 grid (as the
  authors' code does), then normalised with the dataset's statistics.
- Nearest labels are computed once on the whole forget set, before fine-tuning: the original model is
  fixed and no augmentation is used, so recomputing them for every batch (as the code does) gives the
  same labels.
- When the FGSM step does not change the prediction (y_nbi = y), the code trains on y itself. Here the
  highest-scoring OTHER class of the adversarial logits is used, so every example is relabelled with an
  incorrect class, as the paper describes.
- BatchNorm layers are in train mode while fine-tuning on forget-only batches (as in the code), so their
  running statistics move towards the forget set's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.hookspec import hookimpl


def fgsm_uint8(model: nn.Module, data: TensorData, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """One untargeted FGSM step of size ``eps`` (on the [0, 1] scale) from uint8 images ``x``, as uint8.

    The sign of the input gradient is the same in normalised and pixel space (the scale is positive per
    channel), so the gradient is taken through ``data.normalise`` and the step applied to the pixels,
    clipped to [0, 1] and rounded to the 1/255 grid.
    """
    with torch.enable_grad():
        inputs = data.normalise(x).requires_grad_(True)
        loss = nn.functional.cross_entropy(model(inputs), y)
        (grad,) = torch.autograd.grad(loss, inputs)
    stepped = (x.float() / 255.0 + eps * grad.sign()).clamp(0.0, 1.0)
    return torch.round(stepped * 255.0).to(torch.uint8)


@torch.no_grad()
def _adversarial_logits(model: nn.Module, data: TensorData, x_adv: torch.Tensor) -> torch.Tensor:
    return model(data.normalise(x_adv))


def nearest_wrong_labels(
    model: nn.Module, data: TensorData, eps: float, batch_size: int = 256
) -> tuple[torch.Tensor, float]:
    """The nearest-but-incorrect class of every example of ``data`` under ``model`` (kept in eval mode).

    Returns the labels and the share of examples whose FGSM step alone changed the prediction (the
    attack success rate); for the others the best-scoring class other than the true one is used.
    """
    was_training = model.training
    model.eval()
    labels: list[torch.Tensor] = []
    flipped = 0
    try:
        for start in range(0, len(data), batch_size):
            x = data.x[start : start + batch_size]
            y = data.y[start : start + batch_size]
            logits = _adversarial_logits(model, data, fgsm_uint8(model, data, x, y, eps))
            flipped += int((logits.argmax(1) != y).sum())
            wrong = logits.scatter(1, y.view(-1, 1), float("-inf"))
            labels.append(wrong.argmax(1))
    finally:
        model.train(was_training)
    rate = flipped / max(len(data), 1)
    return (torch.cat(labels) if labels else data.y.clone()), rate


class BoundaryShrink:
    """Fine-tune on the forget set relabelled with each example's nearest wrong class (FGSM, original)."""

    name: ClassVar[str] = "boundary_shrink"
    description: ClassVar[str] = (
        "Boundary Shrink: relabel forget examples with the nearest wrong class found by an FGSM step, "
        "fine-tune (Chen et al., CVPR 2023)"
    )
    requires_class_forget: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {
        "eps": 0.1,
        "lr": 1e-5,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "epochs": 10,
        "batch_size": 64,
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [1e-5, 1e-3, 1e-2]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Relabel the forget set with ``ctx.original``'s nearest wrong classes; fine-tune ``model`` on it."""
        params = {**self.defaults, **ctx.params}
        if len(ctx.forget) == 0:
            return model
        labels, _ = nearest_wrong_labels(ctx.original, ctx.forget, float(params["eps"]))
        ctx.train(
            model,
            ctx.forget.with_labels(labels),
            epochs=int(params["epochs"]),
            lr=float(params["lr"]),
            momentum=float(params["momentum"]),
            weight_decay=float(params["weight_decay"]),
            batch_size=int(params["batch_size"]),
            schedule="constant",
            augment=False,
            optimizer="sgd",
            nesterov=False,
        )
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``boundary_shrink`` method."""
    return [BoundaryShrink]
