"""``neggrad_plus`` (NegGrad+): descend on the retain set and ascend on the forget set in the same step.

Kurmanji et al., NeurIPS 2023, "Towards Unbounded Machine Unlearning" (the SCRUB paper). Every step draws a
retain batch and a forget batch and minimises

    α · (CE(model(x_r), y_r) + λ/2 · ‖w − w₀‖²) − (1 − α) · CE(model(x_f), y_f)

with plain SGD, for ``epochs`` passes over the retain set while the forget set is cycled alongside.
α close to 1 keeps the model's utility; the small weight on the ascent term is what forgets.

Reference: meghdadk/SCRUB@98ffb11, the CIFAR-10 / ResNet NegGrad+ of ``MIA_experiments.ipynb`` (cells 17
and 23) with ``train_negrad`` (``thirdparty/repdistiller/helper/loops.py`` 12-76): α 0.9999, SGD lr 0.01
without momentum or weight decay, 5 epochs, retain batch 32, forget batch 16, BatchNorm in train mode, no
augmentation, no ℓ2 term (λ = 0). The small-scale notebook's variant (α 0.95, 10 epochs, λ 0.1 towards the
original weights w₀, whole model in eval mode) is reachable through ``alpha``, ``epochs`` and ``l2_pull``
except for its eval-mode BatchNorm.

Remaining differences (see ``fidelity``): the forget stream is reshuffled at every pass (the reference's
``itertools.cycle`` replays its first pass within an epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.training import prepare_batch

# Generator offset of the forget stream.
_FORGET_STREAM = 53


def neggrad_plus_loss(alpha: float) -> Callable[..., torch.Tensor]:
    """``loss_fn(model, x_r, y_r, x_f, y_f) = α·CE(retain) − (1−α)·CE(forget)`` for the bench's loop."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"neggrad_plus: alpha must be in [0, 1], got {alpha!r}")

    def loss(
        model: nn.Module, xr: torch.Tensor, yr: torch.Tensor, xf: torch.Tensor, yf: torch.Tensor
    ) -> torch.Tensor:
        retain = nn.functional.cross_entropy(model(xr), yr)
        forget = nn.functional.cross_entropy(model(xf), yf)
        return alpha * retain - (1.0 - alpha) * forget

    return loss


def l2_pull(model: nn.Module, anchor: dict[str, torch.Tensor]) -> torch.Tensor:
    """``½ · Σ ‖p − p₀‖²`` over the trainable parameters, ``p₀`` the snapshot ``anchor`` (by name)."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for name, p in model.named_parameters():
        if p.requires_grad:
            total = total + (p - anchor[name]).pow(2).sum()
    return 0.5 * total


def forget_stream(
    data: TensorData, batch_size: int, generator: torch.Generator, augment: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Forget batches of ``batch_size`` forever, reshuffled at every pass, partial last batch kept."""
    if len(data) == 0:
        raise ValueError("cannot draw batches from an empty forget set")
    while True:
        yield from data.batches(batch_size, shuffle=True, augment=augment, generator=generator)


def neggrad_plus_step_loss(
    alpha: float,
    stream: Iterator[tuple[torch.Tensor, torch.Tensor]],
    precision: str = "fp32",
    l2: float = 0.0,
    anchor: dict[str, torch.Tensor] | None = None,
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loop's ``loss_fn(model, x_r, y_r)``: draws the paired forget batch from ``stream`` itself.

    ``l2 > 0`` adds ``α · l2/2 · ‖w − w₀‖²`` with ``w₀ = anchor`` (the reference's small-scale variant).
    """
    pair = neggrad_plus_loss(alpha)
    if l2 < 0:
        raise ValueError(f"neggrad_plus: l2_pull must be >= 0, got {l2!r}")
    if l2 > 0 and anchor is None:
        raise ValueError("neggrad_plus: l2_pull needs the original weights")

    def loss(model: nn.Module, xr: torch.Tensor, yr: torch.Tensor) -> torch.Tensor:
        xf, yf = next(stream)
        xf = prepare_batch(xf.to(xr.device), xr.device, precision)
        value = pair(model, xr, yr, xf, yf.to(yr.device))
        if l2 > 0 and anchor is not None:
            value = value + alpha * l2 * l2_pull(model, anchor)
        return value

    return loss


_SCRUB = "meghdadk/SCRUB"
_COMMIT = "98ffb1196ffbec2665092598c13ad3b6ec3d095d"
_MIA = "MIA_experiments.ipynb"
_SMALL = "small_scale_unlearning.ipynb"
_LOOPS = "thirdparty/repdistiller/helper/loops.py"


class NegGradPlus:
    """NegGrad+: a weighted sum of retain descent and forget ascent, one SGD step at a time."""

    name: ClassVar[str] = "neggrad_plus"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain", "forget")
    description: ClassVar[str] = (
        "NegGrad+: α·CE(retain) − (1−α)·CE(forget) in every step (Kurmanji et al., NeurIPS 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 0.9999,
        "epochs": 5,
        "lr": 0.01,
        "momentum": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "l2_pull": 0.0,
        "batch_size": 32,
        "forget_batch_size": 16,
        "schedule": "constant",
        "augment": False,
    }
    #: The reference's batch sizes and epochs already run in seconds on digits and fake.
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: The reference notebooks use α 0.95 (small-scale) and 0.9999 (CIFAR-10); 0.999 lies between.
    grid: ClassVar[dict[str, list[Any]]] = {"alpha": [0.95, 0.999, 0.9999]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Kurmanji, Triantafillou, Hayes and Triantafillou, \"Towards Unbounded Machine Unlearning\", "
        "NeurIPS 2023 (NegGrad+ baseline)",
        repository=_SCRUB,
        commit=_COMMIT,
        loop=(
            Source(_LOOPS, "12-76", note="train_negrad: model.train(); zip(retain, cycle(forget)); "
                   "loss = α·CE_r − (1−α)·CE_f; one SGD step per pair"),
            Source(_MIA, "cell 17", note="negative_grad: SGD(lr, weight_decay=0) (momentum 0), one "
                   "train_negrad call per epoch"),
            Source(_MIA, "cell 23", note="CIFAR-10 ResNet run: ng_alpha, ng_epochs, ng_lr; loaders "
                   "retain_bs 32, forget_bs 16, augment=False"),
        ),
        defaults={
            "alpha": Source(_MIA, "cell 23", 0.9999, note="args.ng_alpha (small-scale notebook: 0.95)"),
            "epochs": Source(_MIA, "cell 23", 5, note="args.ng_epochs"),
            "lr": Source(_MIA, "cell 23", 0.01, note="args.ng_lr"),
            "momentum": Source(_MIA, "cell 17", 0.0, note="torch.optim.SGD default"),
            "weight_decay": Source(_MIA, "cell 17", 0.0, note="SGD(..., weight_decay=0.0)"),
            "nesterov": Source(_MIA, "cell 17", False, note="torch.optim.SGD default"),
            "l2_pull": Source(_LOOPS, "41", 0.0, note="train_negrad adds no ℓ2 term; the small-scale "
                              f"run_neggrad_epoch ({_SMALL} cell 71) adds α·wd/2·‖w−w₀‖² with wd 0.1 "
                              f"({_SMALL} cell 9)"),
            "batch_size": Source(_MIA, "cell 23", 32, note="args.retain_bs"),
            "forget_batch_size": Source(_MIA, "cell 23", 16, note="args.forget_bs"),
            "schedule": Source(_MIA, "cell 17", "constant", note="no scheduler"),
            "augment": Source(_MIA, "cell 23", False, note="datasets.get_loaders(..., augment=False)"),
        },
        differences=(
            Difference(
                what="The forget batches come from an endless stream reshuffled at every pass over the forget "
                "set; the reference's itertools.cycle(forget_loader) replays the batches of its first pass "
                "for the rest of the epoch and reshuffles only at the next epoch.",
                why="The same examples with the same weight per pass; only the order of later passes "
                "differs, and the loop has no per-epoch hook for the stream.",
                effect="not measured: changes which forget batch meets which retain batch, not how often "
                "each forget example is used.",
            ),
            Difference(
                what="BatchNorm is in train mode. The small-scale notebook's run_neggrad_epoch "
                f"({_SMALL} cell 71) puts the whole model in eval mode.",
                why="Follows the CIFAR-10 code (train_negrad, model.train()); the engine's loop has no "
                "eval-mode option.",
                effect="not measured: only matters for the small-scale variant.",
            ),
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run NegGrad+ on ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        alpha = float(p["alpha"])
        neggrad_plus_loss(alpha)  # validates alpha
        l2 = float(p["l2_pull"])
        if len(ctx.retain) == 0:
            raise ValueError("neggrad_plus needs a non-empty retain set")
        forget_batch = int(p["forget_batch_size"])
        if forget_batch < 1:
            raise ValueError(f"neggrad_plus: forget_batch_size must be >= 1, got {forget_batch}")
        recipe = ctx.recipe_from(p, optimizer="sgd")
        model.to(ctx.device)  # the ℓ2 anchor lives where the model trains
        anchor = {name: q.detach().clone() for name, q in model.named_parameters()} if l2 > 0 else None
        if len(ctx.forget) == 0:
            # Nothing to ascend on: the objective reduces to α-scaled fine-tuning on the retain set.
            def retain_only(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                value = alpha * nn.functional.cross_entropy(m(x), y)
                return value + alpha * l2 * l2_pull(m, anchor) if anchor is not None else value

            ctx.train(model, ctx.retain, recipe, loss_fn=retain_only, description=self.name)
            return model
        stream = forget_stream(
            ctx.forget.to(ctx.device), forget_batch, ctx.generator(_FORGET_STREAM), bool(p["augment"])
        )
        loss = neggrad_plus_step_loss(alpha, stream, ctx.recipe.precision, l2, anchor)
        ctx.train(model, ctx.retain, recipe, loss_fn=loss, description=self.name)
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``neggrad_plus`` method."""
    return [NegGradPlus]
