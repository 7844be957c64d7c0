"""``unsir``: UNSIR, error-maximising noise then impair and repair (Tarun, Chundawat, Mandal and
Kankanhalli, "Fast yet effective machine unlearning", IEEE TNNLS 2023).

Algorithm, for class-wise forgetting:

1. Noise. For each forget class c, learn a batch of inputs N_c (shape ``noise_size × C × H × W`` in the
   model's normalised input space, initialised N(0, 1)) that MAXIMISES the original model's error on c:
   minimise ``−CE(f₀(N_c), c) + λ · mean_i ‖N_c[i]‖²`` with Adam. The noise points away from c in
   the model's eyes.
2. Impair. One epoch (Adam, high lr) on a mix of a small retain subset and ``noise_copies`` copies of
   each N_c labelled c: fitting "c" on inputs that scream "not c" wrecks the weights that encode c.
3. Repair. One epoch (Adam, lower lr) on the retain subset alone restores the other classes.

The forget data itself is never used (only its classes), and only a retain subset is touched.

Defaults are the authors' code for CIFAR-10 / ResNet-18: noise batch 256, Adam lr 0.1 for 5 × 8 = 40
steps, λ = 0.1; 20 copies of each noise batch; a retain subset of 1,000 images per retained class;
impair Adam lr 0.02, repair Adam lr 0.01, batch 256, one epoch each, no weight decay. The grid sweeps
the impair learning rate, which sets how hard the forget classes are hit. On the embedded digits data
(≈ 120 images a class) the noise batch and its copies are scaled down so that the noise makes up about
the same share of the impair data as in the paper (≈ 40 %).

Class-wise only (``requires_class_forget = True``): the noise is learnt per class.

Choices the paper and code leave open, and bugs of the published notebook not reproduced:

- The noise is learnt against the frozen original model in eval mode (``ctx.original``). The notebook
  ran it in train mode, so BatchNorm normalised the noise with its own batch statistics and its running
  statistics were overwritten with the noise's.
- Noise for class c is labelled c. The notebook labelled the noise of every forget class with class 0.
- The retain subset is drawn per class at random (a generator seeded by the replicate seed); the notebook
  took the first 1,000 images of each class in file order. Classes with fewer images contribute all.
- Impair and repair use the bench's training loop (no augmentation, constant learning rate, the last
  partial batch dropped).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.hookspec import hookimpl

# Generator offsets: noise initialisation, retain subset.
_NOISE_OFFSET, _SUBSET_OFFSET = 31, 37


def noise_objective(logits: torch.Tensor, noise: torch.Tensor, target: int, lam: float) -> torch.Tensor:
    """``−CE(logits, target) + lam · mean over the batch of ‖noise_i‖²`` (minimised by the noise)."""
    labels = torch.full((logits.shape[0],), int(target), dtype=torch.long, device=logits.device)
    penalty = noise.pow(2).flatten(1).sum(1).mean()
    return -nn.functional.cross_entropy(logits, labels) + lam * penalty


def learn_noise(
    model: nn.Module,
    target: int,
    shape: tuple[int, ...],
    steps: int,
    lr: float,
    lam: float,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """Error-maximising noise for class ``target``: Adam on :func:`noise_objective`, ``model`` in eval mode.

    ``model``'s parameters are not updated (only the noise is optimised). Returns a detached tensor of
    ``shape`` in the model's normalised input space.
    """
    noise = torch.randn(shape, generator=generator).to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([noise], lr=lr)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            for _ in range(steps):
                optimiser.zero_grad(set_to_none=True)
                loss = noise_objective(model(noise), noise, target, lam)
                (grad,) = torch.autograd.grad(loss, noise)
                noise.grad = grad
                optimiser.step()
    finally:
        model.train(was_training)
    return noise.detach()


def retain_subset(data: TensorData, per_class: int, generator: torch.Generator) -> TensorData:
    """At most ``per_class`` examples of every class of ``data``, drawn at random, in data order."""
    labels = data.y.cpu()
    keep: list[torch.Tensor] = []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        order = torch.randperm(members.numel(), generator=generator)
        keep.append(members[order[:per_class]])
    index = torch.sort(torch.cat(keep)).values if keep else torch.zeros(0, dtype=torch.long)
    return data.subset(index)


def to_pixels(noise: torch.Tensor, like: TensorData) -> torch.Tensor:
    """Normalised-space inputs as float pixel values, so that ``like.normalise`` maps them back."""
    mean = torch.tensor(like.mean, device=noise.device, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(like.std, device=noise.device, dtype=torch.float32).view(1, -1, 1, 1)
    return (noise * std + mean) * 255.0


def impair_data(subset: TensorData, noises: dict[int, torch.Tensor], copies: int) -> TensorData:
    """The retain subset plus ``copies`` copies of each class's noise labelled with that class.

    The images are stored as float pixel values (the noise is not on the uint8 grid nor in [0, 255]);
    ``TensorData.normalise`` handles float input the same way, so batches come out in the model's input
    space exactly as the noise was learnt.
    """
    xs = [subset.x.float()]
    ys = [subset.y]
    for cls, noise in noises.items():
        pixels = to_pixels(noise.to(subset.device), subset)
        xs.append(pixels.repeat(copies, 1, 1, 1))
        count = pixels.shape[0] * copies
        ys.append(torch.full((count,), int(cls), dtype=subset.y.dtype, device=subset.device))
    x, y = torch.cat(xs), torch.cat(ys)
    return TensorData(x, y, subset.mean, subset.std, subset.crop_padding, subset.hflip)


class UNSIR:
    """Error-maximising noise per forget class, one impair epoch, one repair epoch."""

    name: ClassVar[str] = "unsir"
    description: ClassVar[str] = (
        "UNSIR: learn error-maximising noise for the forget classes, impair on it, repair on retain "
        "(Tarun et al., IEEE TNNLS 2023)"
    )
    requires_class_forget: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {
        "noise_size": 256,
        "noise_steps": 40,
        "noise_lr": 0.1,
        "noise_lambda": 0.1,
        "noise_copies": 20,
        "retain_per_class": 1000,
        "impair_lr": 0.02,
        "repair_lr": 0.01,
        "impair_epochs": 1,
        "repair_epochs": 1,
        "batch_size": 256,
    }
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"noise_size": 64, "noise_copies": 12, "batch_size": 64},
        "fake": {"noise_size": 32, "noise_copies": 4, "batch_size": 32},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"impair_lr": [0.0002, 0.002, 0.02]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Learn the noise on ``ctx.original``, then impair and repair ``model`` in place."""
        params = {**self.defaults, **ctx.params}
        classes = ctx.forget_classes
        if not classes:
            raise ValueError("unsir needs class-wise forgetting (--forget class:N); no forget classes given")
        retain = retain_subset(ctx.retain, int(params["retain_per_class"]), ctx.generator(_SUBSET_OFFSET))
        shape = (int(params["noise_size"]), *ctx.forget.x.shape[1:])
        generator = ctx.generator(_NOISE_OFFSET)
        steps, lr, lam = int(params["noise_steps"]), float(params["noise_lr"]), float(params["noise_lambda"])
        device = torch.device(ctx.device)
        original = ctx.original
        noises = {c: learn_noise(original, c, shape, steps, lr, lam, generator, device) for c in classes}
        common: dict[str, Any] = {
            "batch_size": int(params["batch_size"]),
            "optimizer": "adam",
            "weight_decay": 0.0,
            "schedule": "constant",
            "augment": False,
        }
        impair = impair_data(retain, noises, int(params["noise_copies"]))
        epochs, lr = int(params["impair_epochs"]), float(params["impair_lr"])
        ctx.train(model, impair, epochs=epochs, lr=lr, description="impair", **common)
        epochs, lr = int(params["repair_epochs"]), float(params["repair_lr"])
        ctx.train(model, retain, epochs=epochs, lr=lr, description="repair", **common)
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``unsir`` method."""
    return [UNSIR]
