"""``influence``: influence unlearning (IU) with a WoodFisher inverse Hessian (Izzo et al., AISTATS 2021;
Jia et al., NeurIPS 2023).

Influence functions (Koh and Liang 2017) estimate the weights a model would have without the forget set
as one Newton step from the original: removing ``D_f`` from the average loss over ``D = D_r ∪ D_f``
moves the optimum by ``Δθ ≈ H⁻¹ · (n_f / n) · (∇L_f − ∇L_r)``, where ``∇L_f`` and ``∇L_r`` are the mean
cross-entropy gradients on forget and retain (the retain term corrects for the original not being an
exact stationary point). Izzo et al. ("Approximate data deletion from machine learning models") make
the step cheap; Jia et al. ("Model sparsity can simplify machine unlearning") use it on deep nets as
"IU", with the inverse Hessian replaced by a WoodFisher estimate (Singh and Alistarh 2020): the damped
empirical Fisher ``I + (1/N) Σ g gᵀ`` of per-example retain gradients, inverted by Sherman–Morrison
rank-one updates. The update is

    θ ← θ + α · H⁻¹ v,    v = (Σ_f g) / n − (n_f / n) · mean_r g,    n = n_f + n_r

Reference: OPTML-Group/Unlearn-Sparse@80ba55d, ``unlearn/Wfisher.py`` 63-198 (the same file in
Unlearn-Saliency, whose SalUn paper runs it as "IU"). Its recursion, starting from ``k = v`` and
``o = g_0`` (the first example's gradient), for each further example ``g``

    k ← k − (k·g) / (N + o·g) · o,      o ← o − (o·g) / (N + o·g) · o

with ``N = 1000``, stopping once the example index exceeds ``N`` (so ``N + 2`` examples). Exact
Sherman–Morrison would use ``H_j⁻¹ g`` in place of ``o``; the recursion keeps only the first example's
direction, so it is exact when the per-example gradients are collinear and otherwise a cheap (``O(P)``
memory) approximation in which ``H⁻¹ v`` differs from ``v`` only along ``g_0``. The bench follows the
reference rather than the idealised algorithm. Every gradient is taken in eval mode over the trainable
parameters and, as in the reference (whose forget and retain datasets carry the training transform),
through the training augmentation: one random crop + flip per example per pass (``augment``).

The step size α has no published single value: the README passes ``--alpha ${alpha}``, the argparse
default 0.2 is shared with Fisher forgetting ("unlearn noise"), and the SalUn paper searches α in
[1, 20] (quoted in OPTML-Group/Unlearn-Saliency issue #11). The default 10 lies in that range; the grid
1 / 3 / 10 reaches below it because the size of ``H⁻¹ v`` relative to the weights depends on the model
and data (on the 8×8 digits with the small CNN, α = 10 wipes out the model).

Choices left open, made here: which retain examples feed the recursion (a random permutation drawn from
the replicate seed; the reference takes the first ``N + 2`` of its unshuffled retain set); a time budget
stops the recursion early, the step then using the examples processed so far. Per-example gradients are
computed ``batch_size`` examples at a time, fewer where their rows would exceed :data:`ROWS_FLOATS`
floats, in one vmap call per chunk; the chunking changes only memory and speed, not the result.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data import pipeline
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.importance import flatten, loss_gradient, per_example_gradients, trainable, unflatten

# Generator offsets of the retain order fed to the recursion and of the augmentation draws.
_ORDER_STREAM = 41
_AUGMENT_STREAM = 43

_WFISHER = "unlearn/Wfisher.py"
_ARGS = "arg_parser.py"

#: At most this many floats of per-example gradient rows are held at once (1 GiB of float32): 256 rows of
#: ResNet-18's 11.2 M parameters would be 11 GiB, twice over while they are concatenated.
ROWS_FLOATS = 1 << 28


def influence_direction(
    forget_mean_grad: torch.Tensor, retain_mean_grad: torch.Tensor, n_forget: int, n_retain: int
) -> torch.Tensor:
    """``v = (n_f / n) · (∇L_f − ∇L_r)``, ``n = n_f + n_r``: Jia et al.'s ``forget_grad − retain_grad``."""
    n = n_forget + n_retain
    return forget_mean_grad * (n_forget / n) - retain_mean_grad * (n_forget / n)


class WoodFisherRecursion:
    """Jia et al.'s streaming WoodFisher inverse-Hessian-vector product (see the module docstring).

    ``update(g)`` consumes one per-example gradient; ``result`` is the current estimate of ``H⁻¹ v``.
    """

    def __init__(self, v: torch.Tensor, damping: float) -> None:
        self.k = v.clone()
        self.o: torch.Tensor | None = None
        self.damping = float(damping)
        self.count = 0

    def update(self, g: torch.Tensor) -> None:
        """One rank-one step (the first gradient only sets the direction ``o``)."""
        self.count += 1
        if self.o is None:
            self.o = g.clone()
            return
        og = torch.dot(self.o, g)
        denominator = self.damping + og
        self.k -= (torch.dot(self.k, g) / denominator) * self.o
        self.o -= (og / denominator) * self.o

    def extend(self, gradients: Iterable[torch.Tensor]) -> None:
        """Apply :meth:`update` to each row."""
        for g in gradients:
            self.update(g)

    @property
    def result(self) -> torch.Tensor:
        """The current estimate of ``H⁻¹ v``."""
        return self.k


class Influence:
    """One influence-function (Newton) step with Jia et al.'s WoodFisher inverse Hessian."""

    name: ClassVar[str] = "influence"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain", "forget")
    description: ClassVar[str] = (
        "Influence unlearning: one Newton step with a WoodFisher inverse Hessian of retain gradients "
        "(Izzo et al., AISTATS 2021; Jia et al., NeurIPS 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 10.0,
        "damping": 1000.0,
        "samples": 1002,
        "batch_size": 256,
        "augment": True,
    }
    grid: ClassVar[dict[str, list[Any]]] = {"alpha": [1.0, 3.0, 10.0]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Izzo, Smart, Chaudhuri and Zou, \"Approximate Data Deletion from Machine Learning Models\", "
        "AISTATS 2021; the IU (WoodFisher) of Jia et al., \"Model Sparsity Can Simplify Machine Unlearning\", "
        "NeurIPS 2023",
        repository="OPTML-Group/Unlearn-Sparse",
        commit="80ba55d36d0871465c2d3e3896db26a98070e065",
        loop=(
            Source(_WFISHER, "113-198", note="Wfisher: model.eval(); Σ_f g / n and (n_f / n) mean_r g from "
                   "batch-mean gradients × batch size; perturb = woodfisher(v = forget − retain); "
                   "θ += α · perturb"),
            Source(_WFISHER, "63-84", note="woodfisher: k = v, o = g_0, rank-one updates with N = 1000 over "
                   "the per-example retain gradients, stop once idx > N"),
            Source(_WFISHER, "45-60", note="sam_grad / apply_perturb over all model.parameters()"),
        ),
        defaults={
            "alpha": Source("README.MD", "82", None, note="--alpha ${alpha}: no value; the argparse default 0.2 "
                            f"({_ARGS} 137) is shared with FF; the SalUn paper searches α in [1, 20] "
                            "(OPTML-Group/Unlearn-Saliency issue #11); 10 is ours"),
            "damping": Source(_WFISHER, "66", 1000.0, note="N = 1000"),
            "samples": Source(_WFISHER, "82-83", 1002, note="returns once idx > N: examples 0 … 1001"),
            "batch_size": Source(_WFISHER, "116-124", 256, note=f"forget and retain sums at --batch_size "
                                 f"({_ARGS} 67); the recursion's loader has batch 1"),
            "augment": Source("dataset.py", "542-555", True, note="the forget and retain datasets keep the "
                              "training transform RandomCrop(32, 4) + RandomHorizontalFlip (Wfisher's loaders "
                              f"reuse them, 116-124) unless --no-aug ({_ARGS} 77-82)"),
        },
        differences=(
            Difference(
                what="The recursion reads a random permutation of the retain set (seeded by the replicate); "
                "the reference reads the first N + 2 examples of its unshuffled retain set.",
                why="The reference's first examples are an arbitrary but fixed choice of its data order; a "
                "seeded permutation makes the replicates independent draws of the same estimator.",
                effect="not measured: both are subsets of 1,002 examples the retain set does not order by class.",
            ),
            Difference(
                what="A time budget can stop the recursion early; the step then uses the examples seen so far.",
                why="The bench's --time-budget; the reference has none.",
                effect="not measured: without --time-budget (the default) the recursion runs to its end, as the "
                "reference's does.",
            ),
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Apply the influence step to ``model`` in place and return it."""
        p = {**self.defaults, **ctx.params}
        alpha, damping, samples = float(p["alpha"]), float(p["damping"]), int(p["samples"])
        batch_size = int(p["batch_size"])
        if damping <= 0 or samples < 1 or batch_size < 1:
            raise ValueError("influence: damping must be > 0, samples and batch_size >= 1")
        model.to(ctx.device)
        if len(ctx.forget) == 0 or len(ctx.retain) == 0:
            model.eval()
            return model
        start = time.perf_counter()
        params = trainable(model)
        augment = bool(p["augment"])
        draws = ctx.generator(_AUGMENT_STREAM)
        v = influence_direction(
            flatten(loss_gradient(model, ctx.forget, batch_size, augment=augment, generator=draws)),
            flatten(loss_gradient(model, ctx.retain, batch_size, augment=augment, generator=draws)),
            len(ctx.forget),
            len(ctx.retain),
        )
        order = torch.randperm(len(ctx.retain), generator=ctx.generator(_ORDER_STREAM))[:samples]
        order = order.to(ctx.retain.device)
        # One augmentation draw per recursion example, made before chunking so the chunk size cannot change it.
        images = ctx.retain.x.index_select(0, order)
        if augment:
            images = pipeline.augment_batch(images, ctx.retain.crop_padding, ctx.retain.hflip, draws)
        recursion = WoodFisherRecursion(v, damping)
        parameter_count = sum(param.numel() for param in params.values())
        chunk = max(1, min(batch_size, samples, ROWS_FLOATS // max(parameter_count, 1)))
        for begin in range(0, int(order.numel()), chunk):
            idx = order[begin : begin + chunk]
            x = ctx.retain.normalise(images[begin : begin + chunk])
            rows = per_example_gradients(model, x, ctx.retain.y.index_select(0, idx), chunk_floats=ROWS_FLOATS)
            recursion.extend(rows)
            if ctx.progress is not None:
                ctx.progress(self.name, begin + int(idx.numel()), int(order.numel()))
            if ctx.time_budget is not None and time.perf_counter() - start > ctx.time_budget:
                break
        step = unflatten(alpha * recursion.result, params)
        with torch.no_grad():
            for name, param in params.items():
                param.add_(step[name])
        model.eval()
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``influence`` method."""
    return [Influence]
