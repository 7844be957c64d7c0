"""``cf_k``: catastrophic forgetting of the last k blocks (Goel et al., "Towards adversarial evaluations
for inexact machine unlearning", arXiv 2201.06640, 2022), as the SCRUB paper runs it.

Algorithm: freeze every block of the original model except the last ``k`` (``named_blocks``: for ResNet
``stem, layer1 … layer4, fc``; for ``small_cnn`` ``features.0 … features.2, fc``) and fine-tune those on
the retain set with cross-entropy. What the frozen part learnt from the forget set stays; the hope is that
the last layers forget it catastrophically. With ``train_classifier=False`` (the default) the classifier
stays frozen even when it is among the last k blocks. EU-k (``eu_k``) re-initialises the blocks first.

Reference: meghdadk/SCRUB@98ffb11, ``MIA_experiments.ipynb`` cell 21 (``cfk_unlearn``: only ResNet's
``layer4`` trainable, the classifier frozen; lr 0.01, 10 epochs, batch 64), cell 17 (``fk_fientune``: SGD
without momentum or weight decay, ``sgda_adjust_learning_rate`` with milestones 10, 15, 20, which never
trigger within 10 epochs; ``train_vanilla``, ``loops.py`` 78-135, train mode), loaders without
augmentation. The defaults reproduce it: k = 2 (``layer4`` + ``fc``) with the classifier frozen.
Goel et al.'s own code trains the last k layers with the original's SGDR recipe for 30 epochs; that is
``k=…, train_classifier=true, epochs=30, lr=0.1, momentum=0.9, weight_decay=5e-4, schedule=cosine``.

Remaining difference (see ``fidelity``): BatchNorm running statistics of frozen blocks are restored after
training (the reference lets them drift on the retain set, ``update_frozen_bn=true``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.models import named_blocks

#: ``schedule`` values: the reference's step decay, or the shared loop's own schedules.
SCHEDULES = ("step", "constant", "cosine")


def last_blocks(model: nn.Module, k: int) -> list[tuple[str, nn.Module]]:
    """The last ``k`` of ``named_blocks(model)``; ``ValueError`` unless 1 <= k <= number of blocks."""
    blocks = named_blocks(model)
    if not 1 <= k <= len(blocks):
        names = ", ".join(name for name, _ in blocks)
        raise ValueError(f"k must be between 1 and {len(blocks)} (the model's blocks: {names}), got {k}")
    return blocks[len(blocks) - k :]


def trained_blocks(model: nn.Module, k: int, train_classifier: bool = True) -> list[tuple[str, nn.Module]]:
    """The blocks CF-k / EU-k change: the last ``k``, without the classifier unless ``train_classifier``."""
    chosen = last_blocks(model, k)
    if not train_classifier:
        classifier = named_blocks(model)[-1][0]
        chosen = [(name, block) for name, block in chosen if name != classifier]
        if not chosen:
            raise ValueError(
                f"k={k} with train_classifier=false leaves nothing to train (the last block, {classifier!r}, "
                "is the classifier); use k >= 2 or train_classifier=true"
            )
    return chosen


def parse_milestones(value: Any) -> tuple[int, ...]:
    """Epoch milestones from ``"10/15/20"`` (also spaces, ``;`` or ``,``), a list, an int or None (none)."""
    if value is None:
        return ()
    if isinstance(value, bool):
        raise ValueError(f"lr_decay_epochs must be epochs, got {value!r}")
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        parts = value.replace(",", " ").replace(";", " ").replace("/", " ").split()
        try:
            return tuple(int(part) for part in parts)
        except ValueError:
            raise ValueError(f"lr_decay_epochs must be integers separated by '/', got {value!r}") from None
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    raise ValueError(f"lr_decay_epochs must be integers separated by '/', got {value!r}")


def step_segments(epochs: int, lr: float, milestones: tuple[int, ...], rate: float) -> list[tuple[int, float]]:
    """``(epochs, lr)`` runs of the reference's ``fk_fientune`` schedule.

    Epoch ``e`` (0-based, as the reference passes it to ``sgda_adjust_learning_rate``) trains at
    ``lr · rate^k``, k the number of milestones strictly below ``e``; equal neighbours are merged.
    """
    segments: list[tuple[int, float]] = []
    for epoch in range(epochs):
        value = lr * rate ** sum(1 for m in milestones if epoch > m)
        if segments and segments[-1][1] == value:
            segments[-1] = (segments[-1][0] + 1, value)
        else:
            segments.append((1, value))
    return segments


def train_last_blocks(
    model: nn.Module,
    ctx: UnlearnContext,
    k: int,
    train_classifier: bool = True,
    update_frozen_bn: bool = False,
    lr_decay_epochs: tuple[int, ...] = (),
    lr_decay_rate: float = 0.1,
    **recipe: Any,
) -> nn.Module:
    """Train only the last ``k`` blocks of ``model`` on ``ctx.retain`` with ``ctx.train``; the rest is frozen.

    Frozen parameters are excluded from the optimiser (``requires_grad=False``); ``requires_grad`` flags are
    restored afterwards. Unless ``update_frozen_bn``, the buffers of frozen modules (BatchNorm running
    statistics, which the train-mode loop updates) are restored too, so nothing outside the trained blocks
    changes. ``recipe`` goes to ``ctx.train``; ``schedule="step"`` runs the reference's step decay as one
    ``ctx.train`` per learning rate (exact for momentum 0, where SGD keeps no state between steps).
    """
    blocks = trained_blocks(model, k, train_classifier)
    trainable = {id(p) for _, block in blocks for p in block.parameters()}
    trainable_buffers = {id(b) for _, block in blocks for b in block.buffers()}
    frozen_buffers = [b for b in model.buffers() if id(b) not in trainable_buffers]
    saved = [b.detach().clone() for b in frozen_buffers]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    schedule = recipe.pop("schedule", "constant")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    epochs = int(recipe.pop("epochs"))
    try:
        for p in model.parameters():
            p.requires_grad_(id(p) in trainable)
        if schedule != "step":
            ctx.train(model, ctx.retain, epochs=epochs, schedule=schedule, **recipe)
        else:
            lr = float(recipe.pop("lr"))
            start = time.perf_counter()
            for index, (count, rate_lr) in enumerate(step_segments(epochs, lr, lr_decay_epochs, lr_decay_rate)):
                left = None if ctx.time_budget is None else ctx.time_budget - (time.perf_counter() - start)
                if left is not None and left <= 0:
                    break
                # Its own shuffling seed per segment: the loop reseeds from ctx.seed at every call.
                sub = ctx if index == 0 else dataclasses.replace(ctx, seed=int(ctx.seed) * 1_000 + index,
                                                                 time_budget=left)  # fmt: skip
                sub.train(model, ctx.retain, epochs=count, lr=rate_lr, schedule="constant", **recipe)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        if not update_frozen_bn:
            with torch.no_grad():
                for buffer, value in zip(frozen_buffers, saved, strict=True):
                    buffer.copy_(value)
    model.eval()
    return model


def recipe_from(params: dict[str, Any]) -> dict[str, Any]:
    """The :func:`train_last_blocks` keywords named by a CF-k / EU-k parameter dict (``epochs`` resolved)."""
    return {
        "train_classifier": bool(params["train_classifier"]),
        "update_frozen_bn": bool(params["update_frozen_bn"]),
        "lr_decay_epochs": parse_milestones(params["lr_decay_epochs"]),
        "lr_decay_rate": float(params["lr_decay_rate"]),
        "epochs": int(params["epochs"]),
        "lr": float(params["lr"]),
        "momentum": float(params["momentum"]),
        "weight_decay": float(params["weight_decay"]),
        "nesterov": bool(params["nesterov"]),
        "batch_size": int(params["batch_size"]),
        "schedule": str(params["schedule"]),
        "augment": bool(params["augment"]),
        "optimizer": "sgd",
    }


_SCRUB = "meghdadk/SCRUB"
_COMMIT = "98ffb1196ffbec2665092598c13ad3b6ec3d095d"
_MIA = "MIA_experiments.ipynb"
_LOOPS = "thirdparty/repdistiller/helper/loops.py"
_UTIL = "thirdparty/repdistiller/helper/util.py"

def frozen_bn_difference(effect: str) -> Difference:
    """The frozen-BatchNorm difference of CF-k and EU-k, with the method's measured ``effect``."""
    return Difference(
        what="BatchNorm running statistics of the frozen blocks are restored after training; the reference "
        "trains in train mode (train_vanilla, loops.py 78-135) and lets them drift on the retain set "
        "(update_frozen_bn=true reproduces that).",
        why="Paper over code: the method freezes those layers (Goel et al., arXiv 2201.06640), and a frozen "
        "block whose normalisation changes is not frozen.",
        effect=effect,
        parameter="update_frozen_bn",
    )


class CFk:
    """CF-k: fine-tune only the last k blocks on the retain set, the rest frozen."""

    name: ClassVar[str] = "cf_k"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain",)
    description: ClassVar[str] = (
        "Catastrophic forgetting: fine-tune only the last k blocks on retain (Goel et al., arXiv 2022)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "k": 2,
        "train_classifier": False,
        "epochs": 10,
        "lr": 0.01,
        "momentum": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "batch_size": 64,
        "schedule": "step",
        "lr_decay_epochs": "10/15/20",
        "lr_decay_rate": 0.1,
        "augment": False,
        "update_frozen_bn": False,
    }
    #: k = 2, 3, 4 with the classifier frozen: the last 1, 2 or 3 feature blocks.
    grid: ClassVar[dict[str, list[Any]]] = {"k": [2, 3, 4]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Goel, Prabhu, Sanyal, Lim, Torr and Kumaraguru, \"Towards Adversarial Evaluations for Inexact "
        "Machine Unlearning\", arXiv 2201.06640, 2022; run as in Kurmanji et al., NeurIPS 2023 (SCRUB)",
        repository=_SCRUB,
        commit=_COMMIT,
        loop=(
            Source(_MIA, "cell 21", note="cfk_unlearn: freeze all, unfreeze layer4 (ResNet) / features[9] "
                   "(All-CNN), classifier frozen; fk_fientune on a retain loader of batch 64"),
            Source(_MIA, "cell 17", note="fk_fientune: SGD(lr, weight_decay=0); per epoch "
                   "sgda_adjust_learning_rate(epoch 0-based) then train_vanilla"),
            Source(_LOOPS, "78-135", note="train_vanilla: model.train(), CE, one step per batch"),
            Source(_UTIL, "22-30", note="lr = base · rate^(#milestones < epoch)"),
        ),
        defaults={
            "k": Source(_MIA, "cell 21", 2, note="layer4 only: in named_blocks terms the last 2 blocks "
                        "(layer4, fc) with the classifier frozen"),
            "train_classifier": Source(_MIA, "cell 21", False, note="only layer4 gets requires_grad"),
            "epochs": Source(_MIA, "cell 21", 10, note="args.cfk_epochs"),
            "lr": Source(_MIA, "cell 21", 0.01, note="args.cfk_lr"),
            "momentum": Source(_MIA, "cell 17", 0.0, note="torch.optim.SGD default"),
            "weight_decay": Source(_MIA, "cell 17", 0.0, note="SGD(..., weight_decay=0.0)"),
            "nesterov": Source(_MIA, "cell 17", False, note="torch.optim.SGD default"),
            "batch_size": Source(_MIA, "cell 21", 64, note="args.cfk_bs"),
            "schedule": Source(_UTIL, "22-30", "step", note="sgda_adjust_learning_rate"),
            "lr_decay_epochs": Source(_MIA, "cell 21", "10/15/20", note="args.lr_decay_epochs; inactive "
                                      "within 10 epochs"),
            "lr_decay_rate": Source("main_merged.py", "134", 0.1, note="--lr_decay_rate default; the notebook "
                                    f"%runs main_merged.py ({_MIA} cell 23) and never sets it"),
            "augment": Source(_MIA, "cell 23", False, note="datasets.get_loaders(..., augment=False)"),
            "update_frozen_bn": Source(_LOOPS, "80", True, note="model.train() on the whole model: frozen "
                                       "BatchNorm layers update their running statistics"),
        },
        differences=(
            frozen_bn_difference(
                "measured on digits, mean of 3 seeds (FA / TA / simple MIA), restored vs drifting: 10 % random "
                "1.000 / 0.980 / 0.540 vs 1.000 / 0.973 / 0.554; class:3 1.000 / 0.977 / 0.481 vs 1.000 / "
                "0.977 / 0.524."
            ),
            Difference(
                what="Goel et al.'s own code (shash42/Evaluating-Inexact-Unlearning, src/methods.py "
                "cat_forget_finetune) trains the last k layers, classifier included, with the original's "
                "SGDR recipe and keeps the best validation checkpoint.",
                why="The SCRUB paper's comparison, which this bench reproduces, uses the SCRUB code above.",
                effect="not measured: another configuration (train_classifier=true, lr 0.1, momentum 0.9, "
                "weight decay 5e-4, cosine, 30 epochs), reachable through the parameters except the "
                "best-checkpoint selection.",
            ),
        ),
        paper_over_code=(
            "Frozen blocks stay frozen, BatchNorm running statistics included (update_frozen_bn=false): Goel et "
            "al. (arXiv 2201.06640) freeze all but the last k layers; the SCRUB code trains the whole "
            "model in train mode (thirdparty/repdistiller/helper/loops.py 80), so the frozen layers' running "
            "statistics drift on the retain set.",
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Fine-tune the last ``k`` blocks of ``model`` on the retain set, in place."""
        params = {**self.defaults, **ctx.params}
        return train_last_blocks(model, ctx, int(params["k"]), **recipe_from(params))


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``cf_k`` method."""
    return [CFk]
