"""Relearn time: how many fine-tuning steps on the forget set bring back the original's forget accuracy.

Golatkar et al. (CVPR 2020, "Eternal Sunshine of the Spotless Net") and Tarun et al. (2023, "Fast yet
effective machine unlearning") measure forgetting by how fast the model relearns what it forgot: knowledge
that is only hidden comes back in a few steps, knowledge that is gone takes as long as learning it anew.

Recipe (fixed, so rows compare): a copy of the model (never the model itself) is trained on the forget set
with plain SGD, lr :data:`LR`, momentum :data:`MOMENTUM`, no weight decay, batch :data:`BATCH_SIZE`, no
augmentation, batches reshuffled every epoch from ``ctx.seed``; after every step the forget accuracy is
measured in eval mode on the whole forget set. ``steps`` is the first step count at which it reaches
:data:`TARGET_FRACTION` × the original model's forget accuracy (0 if the model starts there), capped at
:data:`MAX_STEPS`; ``capped`` is 1 when the cap was reached without getting there (``steps`` is then
the cap, a lower bound). Higher means more forgotten; the ``retrain`` row is the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from unlearnbench.api import EvalContext
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.evaluation import copy_model
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import accuracy

if TYPE_CHECKING:
    from torch import nn

    from unlearnbench.data.pipeline import TensorData

__all__ = ["BATCH_SIZE", "LR", "MAX_STEPS", "MOMENTUM", "TARGET_FRACTION", "RelearnTime", "relearn_steps"]

LR = 0.01
MOMENTUM = 0.9
BATCH_SIZE = 32
MAX_STEPS = 100
TARGET_FRACTION = 1.0


def _forget_accuracy(model: nn.Module, data: TensorData) -> float:
    correct = 0
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for x, y in data.batches(1024):
            correct += int((model(x).argmax(dim=1) == y).sum())
    model.train(was_training)
    return correct / len(data)


def relearn_steps(
    model: nn.Module, forget: TensorData, target: float, seed: int, max_steps: int = MAX_STEPS
) -> tuple[int, bool]:
    """(steps, capped): SGD steps on a copy of ``model`` until forget accuracy ≥ ``target`` (see module)."""
    if len(forget) == 0:
        raise ValueError("relearn time needs a non-empty forget set")
    work = copy_model(model)
    if _forget_accuracy(work, forget) >= target:
        return 0, False
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + 17)
    optimiser = torch.optim.SGD(work.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps = 0
    while True:
        for x, y in forget.batches(BATCH_SIZE, shuffle=True, generator=generator):
            work.train()
            optimiser.zero_grad(set_to_none=True)
            loss_fn(work(x), y).backward()
            optimiser.step()
            steps += 1
            if _forget_accuracy(work, forget) >= target:
                return steps, False
            if steps >= max_steps:
                return steps, True


class RelearnTime:
    """SGD steps on the forget set until the original's forget accuracy is back (on a copy of the model)."""

    name: ClassVar[str] = "relearn_time"
    description: ClassVar[str] = (
        "Fine-tuning steps on the forget set (SGD lr 0.01, batch 32) until forget accuracy reaches the "
        f'original\'s, capped at {MAX_STEPS} (Golatkar et al. CVPR 2020; Tarun et al. 2023)'
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"model", "data", "original_outputs"})
    columns: ClassVar[tuple[str, ...]] = ("steps", "capped")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"steps": True, "capped": None}

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """Relearn steps of a copy of ``ctx.model`` towards the original's forget accuracy."""
        if ctx.model is None or ctx.data is None:
            raise MetricNotApplicable("relearn_time needs the model and the data (declare them in needs)")
        labels = ctx.labels["forget"]
        if labels.size == 0:
            raise ValueError("relearn time needs a non-empty forget set")
        target = TARGET_FRACTION * accuracy(ctx.original_outputs["forget"], labels)
        # Round the target down to a whole number of correct examples, so float noise cannot block it.
        target = float(np.floor(target * labels.size + 1e-9) / labels.size)
        steps, capped = relearn_steps(ctx.model, ctx.data["forget"], target, ctx.seed)
        return {"steps": float(steps), "capped": 1.0 if capped else 0.0}


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`RelearnTime`."""
    return [RelearnTime]
