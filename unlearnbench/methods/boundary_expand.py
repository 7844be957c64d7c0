"""``boundary_expand``: Boundary Expanding (Chen, Gao, Liu, Peng and Wang, "Boundary Unlearning: rapid
forgetting of deep networks via shifting the decision boundary", CVPR 2023).

Algorithm. Widen the classifier by one "shadow" output neuron (num_classes + 1 outputs: the old rows
copied, the new one freshly initialised), fine-tune the whole widened network (every layer, BatchNorm in
train mode) on the forget set with every example labelled as the shadow class, then prune the shadow
neuron. Fine-tuning moves the forget examples' features into the shadow class's region, away from their
own class; once the neuron is gone they fall into whatever neighbouring class is left. The returned model
has the original architecture and parameter shapes (num_classes outputs). Nothing in it is class-specific:
the shadow label is the same for every forget example, so it runs on a random forget set too (as SalUn's
benchmark tables do).

Reference code: the authors' release (Dropbox archive, mirrored at TY-LEE-KR/Boundary-Unlearning-Code@
19f9f230d3dccbad2ffd7d65e279eb7ac0dbbca9, ``boundary_unlearning.py`` 101-185, ``models.py`` 39-49) and
SalUn's re-implementation (OPTML-Group/Unlearn-Saliency@a6e89fd17ff737c24c6aa16c9574469a234ffd91,
``Classification/unlearn/boundary_ex.py``). Defaults are the authors' code for CIFAR-10: SGD lr 1e-5,
momentum 0.9, no weight decay, constant rate, 10 epochs over the forget set in batches of 64, no
augmentation; the widened layer is Xavier-normal initialised with zero bias (``init_params``) before the
old rows are copied in, so the shadow row is Xavier-normal (fan-in + fan-out = in_features +
num_classes + 1) with a zero bias. ``shadow_init="uniform"`` gives SalUn's row (PyTorch's nn.Linear
default). SalUn never prunes (it evaluates the widened model); the paper and the authors' code prune, and
so does this method.

The classifier is the model's final linear layer, the last of :func:`~unlearnbench.models.named_blocks`
(``fc`` on every built-in architecture); the shadow row's initialisation draws from a generator seeded by
the replicate seed. What still differs is listed in ``fidelity``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.models import named_blocks

# Generator offset of the shadow neuron's initialisation.
_SHADOW_INIT_OFFSET = 17
#: The values of ``shadow_init``: the authors' Xavier-normal row with zero bias, or nn.Linear's default.
SHADOW_INITS = ("xavier", "uniform")

_AUTHORS = "TY-LEE-KR/Boundary-Unlearning-Code"
_AUTHORS_COMMIT = "19f9f230d3dccbad2ffd7d65e279eb7ac0dbbca9"
_SALUN = "OPTML-Group/Unlearn-Saliency"
_SALUN_COMMIT = "a6e89fd17ff737c24c6aa16c9574469a234ffd91"


def classifier_of(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """``(parent, attribute, layer)`` of the model's final linear classifier (the last named block)."""
    name, block = named_blocks(model)[-1]
    if not isinstance(block, nn.Linear):
        raise ValueError(f"boundary_expand needs a final nn.Linear classifier; the last block {name!r} is "
                         f"{type(block).__name__}")  # fmt: skip
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attribute, block


def widen(layer: nn.Linear, generator: torch.Generator, init: str = "xavier") -> nn.Linear:
    """A copy of ``layer`` with one extra output row (the shadow class), initialised by ``init``.

    ``"xavier"`` (the authors' ``init_params`` on the widened layer): weights N(0, 2 / (in + out + 1)),
    zero bias. ``"uniform"`` (SalUn's fresh nn.Linear): weights and bias U(-1/√in, 1/√in), which is what
    nn.Linear's Kaiming-uniform (a = √5) default amounts to.
    """
    if init not in SHADOW_INITS:
        raise ValueError(f"shadow_init must be one of {', '.join(SHADOW_INITS)}, got {init!r}")
    wide = nn.Linear(layer.in_features, layer.out_features + 1, bias=layer.bias is not None)
    wide = wide.to(device=layer.weight.device, dtype=layer.weight.dtype)
    dtype = layer.weight.dtype
    with torch.no_grad():
        wide.weight[:-1].copy_(layer.weight)
        if init == "xavier":
            std = math.sqrt(2.0 / (layer.in_features + layer.out_features + 1))
            row = torch.randn(layer.in_features, generator=generator, dtype=dtype) * std
            bias = torch.zeros((), dtype=dtype)
        else:
            bound = 1.0 / math.sqrt(layer.in_features)
            row = (torch.rand(layer.in_features, generator=generator, dtype=dtype) * 2.0 - 1.0) * bound
            bias = (torch.rand((), generator=generator, dtype=dtype) * 2.0 - 1.0) * bound
        wide.weight[-1].copy_(row.to(layer.weight.device))
        if layer.bias is not None and wide.bias is not None:
            wide.bias[:-1].copy_(layer.bias)
            wide.bias[-1].copy_(bias.to(layer.weight.device))
    return wide


def prune(wide: nn.Linear) -> nn.Linear:
    """A copy of ``wide`` without its last output row (the shadow class)."""
    layer = nn.Linear(wide.in_features, wide.out_features - 1, bias=wide.bias is not None)
    layer = layer.to(device=wide.weight.device, dtype=wide.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(wide.weight[:-1])
        if wide.bias is not None and layer.bias is not None:
            layer.bias.copy_(wide.bias[:-1])
    return layer


def _a(file: str, lines: str, value: Any = None, note: str = "") -> Source:
    return Source(file, lines, value=value, note=note)


def _s(file: str, lines: str, value: Any = None, note: str = "") -> Source:
    return Source(file, lines, value=value, note=note, repository=_SALUN, commit=_SALUN_COMMIT)


class BoundaryExpand:
    """Train the forget set into an extra shadow class, then prune the shadow neuron."""

    name: ClassVar[str] = "boundary_expand"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("forget",)
    description: ClassVar[str] = (
        "Boundary Expanding: train forget examples into an extra shadow class, then prune its neuron "
        "(Chen et al., CVPR 2023)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "shadow_init": "xavier",
        "lr": 1e-5,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "nesterov": False,
        "optimizer": "sgd",
        "schedule": "constant",
        "epochs": 10,
        "batch_size": 64,
        "augment": False,
    }
    grid: ClassVar[dict[str, list[Any]]] = {"lr": [1e-5, 1e-3, 1e-2]}
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Chen, Gao, Liu, Peng and Wang, Boundary Unlearning: Rapid Forgetting of Deep Networks via "
        "Shifting the Decision Boundary, CVPR 2023 (Boundary Expanding)",
        repository=_AUTHORS,
        commit=_AUTHORS_COMMIT,
        loop=(
            _a("boundary_unlearning.py", "107-123", note="widen: nn.Linear(n, num_classes + 1), init_params, old "
               "rows and biases copied into rows 0..9; widen_model = Sequential(features, widened classifier)"),
            _a("boundary_unlearning.py", "125-154", note="finetune_epochs × batches steps over the forget loader: "
               "CE(widen_model(x), num_classes) with SGD over widen_model.parameters() (every layer), "
               "widen_model.train()"),
            _a("boundary_unlearning.py", "156-165", note="prune: a num_classes-output Linear with rows 0..9 of the "
               "trained widened layer"),
            _s("Classification/unlearn/boundary_ex.py", "34-67", note="SalUn's widening: a fresh nn.Linear with "
               "num_classes + 1 outputs, old rows copied"),
            _s("Classification/unlearn/boundary_ex.py", "88-109", note="SalUn's loop: the same, also run on random "
               "forget sets (target = args.num_classes for every example)"),
            _s("Classification/unlearn/boundary_ex.py", "136-138", note="SalUn: expand, train, no pruning"),
        ),  # fmt: skip
        defaults={
            "shadow_init": _a("models.py", "47-49", "xavier", "init_params: xavier_normal_ weight, zeros bias, "
                              "applied to the widened layer at boundary_unlearning.py 112 (SalUn: nn.Linear "
                              "default, boundary_ex.py 50-56)"),
            "lr": _a("boundary_unlearning.py", "130", 1e-5),
            "momentum": _a("boundary_unlearning.py", "130", 0.9),
            "weight_decay": _a("trainer.py", "23-31", 0.0, "optimizer_picker: SGD(lr, momentum), no weight decay "
                               "(SalUn: 5e-4, arg_parser.py 72)"),
            "nesterov": _a("trainer.py", "27", False),
            "optimizer": _a("main.py", "25", "sgd", "--optim_name default, passed at main.py 89-92"),
            "schedule": _a("boundary_unlearning.py", "130-134", "constant", "no scheduler"),
            "epochs": _a("boundary_unlearning.py", "127", 10, "finetune_epochs = 10 (SalUn: arg_parser.py 120-124)"),
            "batch_size": _a("main.py", "32", 64, "the forget loader's batch (utils.py 86-87); SalUn: 256, "
                             "arg_parser.py 69"),
            "augment": _a("utils.py", "33-35", False, "CIFAR-10 transform ToTensor + Normalize only; SalUn "
                          "fine-tunes through RandomCrop + Flip (dataset.py 542-555)"),
        },  # fmt: skip
        differences=(
            Difference(
                what="SalUn's runs (the random-forgetting tables) fine-tune with batch 256 (arg_parser.py 69), weight "
                "decay 5e-4 (72), momentum 0.9 (71), through the training transform RandomCrop + Flip "
                "(dataset.py 542-555; main_forget.py 50-83) and a command-line --unlearn_lr (default 0.01, "
                "arg_parser.py 117-118), and initialise the shadow row as a fresh nn.Linear (boundary_ex.py "
                "50-56). The defaults follow the authors' code; boundary_expand[batch_size=256,"
                "weight_decay=0.0005,augment=true,shadow_init=uniform,lr=...] is SalUn's setting.",
                why="The authors' code is the method's own reference; SalUn's is a re-implementation for its "
                "benchmark.",
                effect="digits, 3 seeds, at lr 1e-5 / 1e-3 / 1e-2. Batch 256 + weight decay + augmentation: "
                "class:3 FA 0.385 / 0.366 / 0.019 → 0.587 / 0.721 / 0.891, TA 0.823 / 0.827 / 0.770 → 0.894 / "
                "0.924 / 0.939; random 10 %: FA 1.000 / 0.817 / 0.100 → 1.000 / 0.986 / 0.128, TA 0.973 / 0.841 / "
                "0.138 → 0.977 / 0.956 / 0.152. shadow_init uniform: class:3 FA → 0.383 / 0.281 / 0.000, TA → "
                "0.823 / 0.851 / 0.767, MIA 0.712 / 0.701 / 0.852 → 0.712 / 0.761 / 0.901; random FA → 1.000 / "
                "0.731 / 0.100, TA → 0.973 / 0.802 / 0.121.",
            ),
            Difference(
                what="SalUn's boundary_ex.py never prunes the shadow neuron: main_forget.py 141-147 evaluates the "
                "widened num_classes + 1 output model, so a forget example predicted as the shadow class counts "
                "as forgotten. Here the neuron is pruned, as the paper and the authors' code do.",
                why="The paper and the authors' code prune; the bench also needs the original architecture back.",
                effect="digits, 3 seeds, the widened model (shadow predictions counted wrong) vs the pruned one "
                "at lr 1e-5 / 1e-3 / 1e-2: class:3 FA 0.355 / 0.000 / 0.000 vs 0.385 / 0.366 / 0.019, val accuracy "
                "0.844 / 0.642 / 0.000 vs 0.846 / 0.849 / 0.769; random 10 %: FA 1.000 / 0.000 / 0.000 vs 1.000 / "
                "0.817 / 0.100, val accuracy 0.979 / 0.013 / 0.000 vs 0.980 / 0.832 / 0.126.",
            ),
            Difference(
                what="In the authors' loop the first batch's forward runs before widen_model.train() "
                "(boundary_unlearning.py 139 then 146), i.e. in the original's eval mode; every later step "
                "is in train mode. Here every step is in train mode.",
                why="An ordering artefact of the reference, one step out of epochs × batches.",
                effect="not measured: no switch; it changes one step's BatchNorm statistics out of ≥ 20.",
            ),
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Widen, fine-tune on the forget set labelled as the shadow class, prune; returns ``model``."""
        params = {**self.defaults, **ctx.params}
        init = str(params["shadow_init"])
        if init not in SHADOW_INITS:
            raise ValueError(f"shadow_init must be one of {', '.join(SHADOW_INITS)}, got {init!r}")
        if len(ctx.forget) == 0:
            return model
        parent, attribute, layer = classifier_of(model)
        shadow = layer.out_features
        setattr(parent, attribute, widen(layer, ctx.generator(_SHADOW_INIT_OFFSET), init))
        try:
            relabelled = ctx.forget.with_labels(torch.full_like(ctx.forget.y, shadow))
            ctx.train(model, relabelled, ctx.recipe_from(params))
        finally:
            wide = getattr(parent, attribute)
            setattr(parent, attribute, prune(wide) if wide is not layer else layer)
        model.eval()
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``boundary_expand`` method."""
    return [BoundaryExpand]
