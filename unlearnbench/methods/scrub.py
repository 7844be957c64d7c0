"""``scrub``: a student that obeys its teacher on the retain set and disobeys it on the forget set.

Algorithm (Kurmanji et al., NeurIPS 2023, "Towards Unbounded Machine Unlearning"): the teacher is the
frozen original, the student starts as a copy of it. With ``d(x) = KL(p_teacher(x) ‖ p_student(x))`` at
temperature τ, SCRUB alternates, for ``epochs`` epochs e = 1 … E:

- a max-pass (only while e ≤ ``msteps``): one pass over the forget set minimising ``−d(x_f)``, i.e. pushing
  the student away from the teacher where it should forget;
- a min-pass: one pass over the retain set minimising ``γ · CE(student(x_r), y_r) + α · d(x_r)``, pulling
  it back towards the teacher (and the labels) where it should remember.

The final min-passes without max-passes repair any damage the max-passes did to the retain set.
Defaults (the paper's CIFAR-10 / ResNet-18 configuration): E = 3, msteps = 2, τ = 4, α = 0.001,
γ = 0.99, SGD lr 5e-4 (momentum 0.9, weight decay 5e-4), forget batch 512, retain batch 256.

SCRUB+R (rewinding, the paper's variant for the privacy setting, ``rewind=True``; off by default as in the
paper's main results): a checkpoint is kept after every epoch. The reference error is the final student's
error on held-out examples distributed as the forget set (the validation examples of the classes present
in the forget set). The model is rewound to the checkpoint whose forget error is closest to that
reference (the earliest on ties; the final model when it is the closest), so the forget error ends "just
high enough" instead of suspiciously high.

Choices the paper leaves open, and what is done here:

- KL: ``losses.kd_loss`` (batch-mean KL times τ², as the reference's ``DistillKL``); the max-pass uses its
  negation. The reference's extra distillation term (β, other KD losses) is 0 in every reported setting
  and is not implemented.
- Each pass is one run of the bench's training loop with its own SGD optimiser, so momentum restarts at
  every pass (the reference shares one optimiser across passes). Each pass reshuffles from its own seed.
- Learning rate: constant. The reference decays it ×0.1 after epochs 3, 5 and 9 ("epoch > milestone"),
  which never triggers within its 3 epochs.
- BatchNorm: the student is in train mode in both passes (as in the reference), the teacher in eval mode.
- The time budget is shared by all passes; when it runs out the current model is returned.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.evaluation import state_dict_cpu
from unlearnbench.hookspec import hookimpl
from unlearnbench.losses import kd_loss


def max_loss(
    teacher: nn.Module, temperature: float
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The max-pass objective ``−KL(teacher ‖ student)`` (minimised, so the divergence grows)."""

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(x)
        return -kd_loss(model(x), target, temperature)

    return loss


def min_loss(
    teacher: nn.Module, temperature: float, alpha: float, gamma: float
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The min-pass objective ``γ · CE(student, y) + α · KL(teacher ‖ student)``."""

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(x)
        logits = model(x)
        return gamma * nn.functional.cross_entropy(logits, y) + alpha * kd_loss(logits, target, temperature)

    return loss


@torch.inference_mode()
def error_rate(model: nn.Module, data: TensorData, batch_size: int = 1024) -> float:
    """Share of ``data`` that ``model`` (put in eval mode) misclassifies; NaN for empty data."""
    if len(data) == 0:
        return float("nan")
    model.eval()
    wrong = 0
    for x, y in data.batches(batch_size):
        wrong += int((model(x).argmax(1) != y).sum())
    return wrong / len(data)


def forget_like_validation(
    val: TensorData, forget: TensorData, forget_classes: tuple[int, ...] | None
) -> TensorData:
    """The validation examples of the forgotten classes (or of the classes present in the forget set)."""
    classes = forget_classes if forget_classes is not None else tuple(int(c) for c in torch.unique(forget.y))
    wanted = torch.tensor(classes, dtype=val.y.dtype, device=val.y.device)
    return val.subset(torch.isin(val.y, wanted))


def rewind_index(forget_errors: list[float], reference: float) -> int:
    """Index of the checkpoint whose forget error is closest to ``reference`` (earliest on ties)."""
    return min(range(len(forget_errors)), key=lambda i: (abs(forget_errors[i] - reference), i))


class Scrub:
    """SCRUB: alternating max-passes on the forget set and min-passes on the retain set; SCRUB+R optional."""

    name: ClassVar[str] = "scrub"
    description: ClassVar[str] = (
        "SCRUB: student maximises KL to the original on forget, minimises KL + CE on retain, alternating "
        "(Kurmanji et al., NeurIPS 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 3,
        "msteps": 2,
        "lr": 5e-4,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "temperature": 4.0,
        "alpha": 0.001,
        "gamma": 0.99,
        "forget_batch_size": 512,
        "retain_batch_size": 256,
        "rewind": False,
    }
    #: ~100 forget and ~1,000 retain examples: one max step and four min steps per epoch at the CIFAR
    #: batch sizes; smaller forget batches and a larger step give SCRUB room to act.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"lr": 0.01, "forget_batch_size": 32, "retain_batch_size": 128},
        "fake": {"lr": 0.01, "forget_batch_size": 32, "retain_batch_size": 128},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"msteps": [1, 2, 3]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run SCRUB (or SCRUB+R) on ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        epochs, msteps = int(p["epochs"]), int(p["msteps"])
        if epochs < 0 or msteps < 0:
            raise ValueError(f"scrub: epochs and msteps must be >= 0, got {epochs} and {msteps}")
        if len(ctx.retain) == 0:
            raise ValueError("scrub needs a non-empty retain set")
        temperature = float(p["temperature"])
        common: dict[str, Any] = {
            "epochs": 1,
            "lr": float(p["lr"]),
            "momentum": float(p["momentum"]),
            "weight_decay": float(p["weight_decay"]),
            "schedule": "constant",
            "augment": False,
            "optimizer": "sgd",
            "nesterov": False,
        }
        maximise = max_loss(ctx.original, temperature)
        minimise = min_loss(ctx.original, temperature, float(p["alpha"]), float(p["gamma"]))
        rewind = bool(p["rewind"])
        checkpoints: list[dict[str, torch.Tensor]] = []
        forget_errors: list[float] = []
        start = time.perf_counter()

        def run_pass(
            data: TensorData, loss: Callable[..., torch.Tensor], batch_size: int, offset: int
        ) -> bool:
            """One epoch of ``data``; False when the time budget is already spent."""
            left = None if ctx.time_budget is None else ctx.time_budget - (time.perf_counter() - start)
            if left is not None and left <= 0:
                return False
            # A seed per pass: the bench's loop reshuffles from its seed, so passes must not share one.
            sub = dataclasses.replace(
                ctx, seed=int(ctx.seed) * 1_000 + offset, time_budget=left, progress=None
            )
            sub.train(model, data, loss_fn=loss, batch_size=batch_size, description=self.name, **common)
            return True

        for epoch in range(1, epochs + 1):
            if epoch <= msteps and len(ctx.forget) > 0:
                if not run_pass(ctx.forget, maximise, int(p["forget_batch_size"]), 2 * epoch):
                    break
            if not run_pass(ctx.retain, minimise, int(p["retain_batch_size"]), 2 * epoch + 1):
                break
            if rewind:
                checkpoints.append(state_dict_cpu(model))
                forget_errors.append(error_rate(model, ctx.forget))
            if ctx.progress is not None:
                ctx.progress(self.name, epoch, epochs)
        if rewind and checkpoints and len(ctx.forget) > 0:
            self._rewind(model, ctx, checkpoints, forget_errors)
        model.eval()
        return model

    @staticmethod
    def _rewind(
        model: nn.Module,
        ctx: UnlearnContext,
        checkpoints: list[dict[str, torch.Tensor]],
        forget_errors: list[float],
    ) -> None:
        """SCRUB+R: load the checkpoint whose forget error is closest to the held-out reference error."""
        held_out = forget_like_validation(ctx.val, ctx.forget, ctx.forget_classes)
        reference = error_rate(model, held_out)
        if reference != reference:  # NaN: no held-out example of the forget classes to compare with
            return
        chosen = rewind_index(forget_errors, reference)
        if chosen != len(checkpoints) - 1:
            model.load_state_dict(checkpoints[chosen])


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``scrub`` method."""
    return [Scrub]
