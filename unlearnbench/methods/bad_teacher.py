"""``bad_teacher``: distil a competent teacher on retain data and an incompetent one on forget data.

Algorithm (Chundawat et al., AAAI 2023, "Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks
Using an Incompetent Teacher"): the student starts as a copy of the original model. The competent teacher
is the frozen original; the incompetent teacher is a randomly initialised network of the same
architecture. The student is trained for one epoch on the union of the forget set and a random subset of
the retain set, minimising per example

    KL( softmax(T_d(x) / τ) ‖ softmax(student(x) / τ) ),  T_d = incompetent if x is a forget example,
                                                              competent otherwise,

so it copies the original where it should remember and random-network outputs where it should forget.
Defaults (the paper and its code): τ = 1, one epoch, Adam lr 1e-4 (no weight decay), batch 256, a 30 %
random subset of the retain set.

Choices the paper leaves open, and what is done here:

- The incompetent teacher is ``ctx.new_model()`` (the run's architecture, freshly initialised from the
  replicate seed) in eval mode, as the competent one; so its BatchNorm layers use their initial running
  statistics. The student trains in train mode (the reference code never switches it to eval).
- The retain subset is drawn without replacement from ``ctx.generator`` (at least one example when the
  fraction is positive), so it is reproducible per replicate seed.
- Loss scale: the mean KL per example (``batchmean``) times τ², the usual distillation scaling. The
  reference code uses ``F.kl_div``'s default element-wise mean, which divides by the number of classes as
  well; with Adam a constant factor on the loss has next to no effect.
- No augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.hookspec import hookimpl
from unlearnbench.losses import kd_loss

# Offset of the retain-subset generator among the replicate's generators.
_SUBSET_STREAM = 23


def retain_subset(retain: TensorData, fraction: float, generator: torch.Generator) -> TensorData:
    """A uniform ``fraction`` of ``retain``, drawn without replacement (all of it when ``fraction >= 1``)."""
    n = len(retain)
    if fraction >= 1.0 or n == 0:
        return retain
    count = max(int(fraction * n), 1) if fraction > 0 else 0
    index = torch.randperm(n, generator=generator)[:count]
    return retain.subset(index)


def unlearning_data(forget: TensorData, retain: TensorData) -> TensorData:
    """Forget and retain images in one set, labelled 1 (forget) and 0 (retain), as the paper's data."""
    device = forget.x.device
    flags = torch.cat([
        torch.ones(len(forget), dtype=torch.long, device=device),
        torch.zeros(len(retain), dtype=torch.long, device=device),
    ])  # fmt: skip
    x = torch.cat([forget.x, retain.x.to(device)])
    return TensorData(x, flags, forget.mean, forget.std, forget.crop_padding, forget.hflip)


def bad_teacher_loss(
    competent: nn.Module, incompetent: nn.Module, temperature: float
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Distillation towards the incompetent teacher on flag-1 rows and the competent one on flag-0 rows."""

    def loss(model: nn.Module, x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            good = competent(x)
            bad = incompetent(x)
            teacher = torch.where(flags.view(-1, 1).bool(), bad, good)
        return kd_loss(model(x), teacher, temperature)

    return loss


class BadTeacher:
    """Unlearning with a competent and an incompetent teacher (Bad-Teacher / "blindspot" unlearning)."""

    name: ClassVar[str] = "bad_teacher"
    description: ClassVar[str] = (
        "Student distils the original on retain and a randomly initialised teacher on forget "
        "(Chundawat et al., AAAI 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 1,
        "lr": 1e-4,
        "temperature": 1.0,
        "retain_fraction": 0.3,
        "batch_size": 256,
        "weight_decay": 0.0,
    }
    #: ~450 unlearning examples give 2 Adam steps at batch 256; batch 32 and 3 epochs give ~40.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 32, "epochs": 3},
        "fake": {"batch_size": 32, "epochs": 3},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [1e-4, 3e-4, 1e-3]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Distil ``model`` in place from the two teachers and return it."""
        p = {**self.defaults, **ctx.params}
        fraction = float(p["retain_fraction"])
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"bad_teacher: retain_fraction must be in [0, 1], got {p['retain_fraction']!r}")
        retain = retain_subset(ctx.retain, fraction, ctx.generator(_SUBSET_STREAM))
        data = unlearning_data(ctx.forget, retain)
        if len(data) == 0:
            return model
        incompetent = ctx.new_model().to(ctx.device).eval().requires_grad_(False)
        ctx.train(
            model,
            data,
            loss_fn=bad_teacher_loss(ctx.original, incompetent, float(p["temperature"])),
            description=self.name,
            epochs=int(p["epochs"]),
            lr=float(p["lr"]),
            weight_decay=float(p["weight_decay"]),
            batch_size=int(p["batch_size"]),
            schedule="constant",
            augment=False,
            optimizer="adam",
        )
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``bad_teacher`` method."""
    return [BadTeacher]
