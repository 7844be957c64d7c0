"""``l1_sparse``: fine-tune on the retain set with a linearly decaying ℓ1 penalty on the weights.

Jia et al., NeurIPS 2023, "Model Sparsity Can Simplify Machine Unlearning" ("ℓ1-sparse MU", sparsity-aware
unlearning): minimise ``CE(model(x_r), y_r) + γ_e · ‖θ‖₁`` over the retain set, the ℓ1 norm of all
parameters pushing the model towards a sparse solution while it is fine-tuned, with γ decaying over the
epochs (the paper finds a decaying coefficient better than a constant or a growing one).

Reference: OPTML-Group/Unlearn-Sparse@80ba55d, ``unlearn/FT.py`` 28-143 (``FT_l1``, which the README's
``FT_prune`` command runs): model in train mode, one pass over the shuffled retain loader per epoch through
the training transform (random crop + flip), loss ``CE + γ_e · ‖θ‖₁`` over ``model.parameters()`` with
``γ_e = γ · (1 − e / E)`` in epoch ``e = 0 … E−1`` (``--no-l1-epochs 0``), SGD lr 0.01 for 10 epochs
(README), momentum 0.9, weight decay 5e-4, batch 256, a MultiStepLR at epochs 91 / 136 that never fires.

γ (``alpha``) has no published value: the README passes ``--alpha ${alpha}``, and the argparse default
0.2 is shared with Fisher forgetting and IU ("unlearn noise") and would shrink every weight by
``lr · 0.2`` per step. The default 1e-4 is this bench's choice (see ``fidelity``). Frozen parameters
(``requires_grad = False``) are left out of the norm since they cannot move. Each epoch's pass keeps its
last partial retain batch, as the reference's DataLoader does, and γ_e holds for all ``⌈n / batch⌉`` steps of
epoch ``e``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl

_ARGS = "arg_parser.py"
_IMPL = "unlearn/impl.py"
_FT = "unlearn/FT.py"


def l1_norm(model: nn.Module) -> torch.Tensor:
    """The ℓ1 norm of all trainable parameters of ``model`` (a differentiable scalar)."""
    terms = [p.abs().sum() for p in model.parameters() if p.requires_grad]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def decayed_coefficient(alpha: float, epoch: int, epochs: int) -> float:
    """``α · (1 − epoch / epochs)``: the ℓ1 coefficient of epoch ``epoch`` (0-based) of ``epochs``."""
    if epochs <= 0:
        return alpha
    return alpha * (1.0 - epoch / epochs)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps per epoch of a method's pass, which keeps its last partial batch: ``⌈n / batch_size⌉``."""
    return max(1, -(-n // batch_size))


def sparse_loss(
    alpha: float, epochs: int, per_epoch: int
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy plus the decaying ℓ1 penalty; the epoch is derived from the number of calls."""
    calls = 0

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        coefficient = decayed_coefficient(alpha, calls // per_epoch, epochs)
        calls += 1
        ce = nn.functional.cross_entropy(model(x), y)
        if coefficient == 0.0:
            return ce
        return ce + coefficient * l1_norm(model)

    return loss


class L1Sparse:
    """Sparsity-aware unlearning: retain fine-tuning with a linearly decaying ℓ1 penalty."""

    name: ClassVar[str] = "l1_sparse"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain",)
    description: ClassVar[str] = (
        "Fine-tune on the retain set with a decaying l1 weight penalty (Jia et al., NeurIPS 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 1e-4,
        "epochs": 10,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "nesterov": False,
        "batch_size": 256,
        "schedule": "constant",
        "optimizer": "sgd",
        "augment": True,
    }
    #: Three epochs at batch 128 (27 steps) keep the default digits run fast. (At these γ the penalty
    #: moves a weight by γ · lr ≈ 1e-6 per step, so on so short a run it cannot differ from fine-tuning.)
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "digits": {"batch_size": 128, "epochs": 3},
        "fake": {"batch_size": 128, "epochs": 3},
    }
    grid: ClassVar[dict[str, list[Any]]] = {"alpha": [5e-5, 1e-4, 5e-4]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Jia, Liu, Ram, Yao, Liu, Liu, Sharma and Liu, \"Model Sparsity Can Simplify Machine "
        "Unlearning\", NeurIPS 2023 (ℓ1-sparse MU, Sec. 5)",
        repository="OPTML-Group/Unlearn-Sparse",
        commit="80ba55d36d0871465c2d3e3896db26a98070e065",
        loop=(
            Source(_FT, "84-109", note="model.train(); for each retain batch: γ_e = α(1 − e/(E − no_l1_epochs)), "
                   "loss = CE + γ_e · ‖θ‖₁, one SGD step"),
            Source(_FT, "14-18", note="l1_regularization: ‖cat(model.parameters())‖₁"),
            Source("unlearn/FT_prune.py", "9-22", note="FT_prune (the README's ℓ1-sparse command) = FT_l1 "
                   "plus a sparsity printout"),
            Source(_IMPL, "59-124", note="iterative_unlearn: SGD, MultiStepLR, one FT_l1 call per epoch"),
        ),
        defaults={
            "alpha": Source("README.MD", "86", None, note="--alpha ${alpha}: no value; the argparse default "
                            f"0.2 ({_ARGS} 137, 'unlearn noise') is shared with FF and IU; 1e-4 is ours"),
            "epochs": Source("README.MD", "86", 10, note="--unlearn_epochs 10"),
            "lr": Source("README.MD", "86", 0.01, note="--unlearn_lr 0.01"),
            "momentum": Source(_ARGS, "69", 0.9, note="--momentum"),
            "weight_decay": Source(_ARGS, "70", 5e-4, note="--weight_decay"),
            "nesterov": Source(_IMPL, "72-77", False, note="torch.optim.SGD without nesterov"),
            "batch_size": Source(_ARGS, "67", 256, note="--batch_size (the retain loader, main_forget.py 41-51)"),
            "schedule": Source(_IMPL, "97-100", "constant", note=f"MultiStepLR at --decreasing_lr 91,136 "
                               f"({_ARGS} 76), never reached in 10 epochs; --warmup 0 ({_ARGS} 74)"),
            "optimizer": Source(_IMPL, "72-77", "sgd", note="torch.optim.SGD"),
            "augment": Source("dataset.py", "542-555", True, note="the retain loader uses the training "
                              f"transform RandomCrop(32, 4) + RandomHorizontalFlip unless --no-aug ({_ARGS} 77-82)"),
        },
        differences=(
            Difference(
                what="The ℓ1 norm covers the trainable parameters only; the reference sums all of "
                "model.parameters().",
                why="A frozen parameter cannot move, so its term adds a constant to the loss.",
                effect="not measured: the gradient is the same by construction (the bench's models train every "
                "parameter).",
            ),
            Difference(
                what="Random crop + flip are batched tensor ops on uint8 images (zero padding) with the "
                "replicate's generator; the reference uses torchvision's per-image transforms.",
                why="The bench's data pipeline; the same distribution of crops and flips.",
                effect="not measured: the same augmentation up to the random draws.",
            ),
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Fine-tune ``model`` in place with the ℓ1 penalty and return it."""
        p = {**self.defaults, **ctx.params}
        if len(ctx.retain) == 0:
            raise ValueError("l1_sparse needs a non-empty retain set")
        epochs = int(p["epochs"])
        batch_size = int(p["batch_size"])
        loss = sparse_loss(float(p["alpha"]), epochs, steps_per_epoch(len(ctx.retain), batch_size))
        ctx.train(model, ctx.retain, ctx.recipe_from(p), loss_fn=loss, description=self.name)
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``l1_sparse`` method."""
    return [L1Sparse]
