"""``eu_k``: exact unlearning of the last k blocks (Goel et al., "Towards adversarial evaluations for
inexact machine unlearning", arXiv 2201.06640, 2022), as the SCRUB paper runs it.

Algorithm: re-initialise the last ``k`` blocks of the original model (``named_blocks``: for ResNet
``stem, layer1 … layer4, fc``; for ``small_cnn`` ``features.0 … features.2, fc``), freeze the others and
train the re-initialised blocks on the retain set for as many epochs as the original was trained. With
``train_classifier=False`` (the default) the classifier is neither re-initialised nor trained. CF-k
(``cf_k``) is the sibling that fine-tunes without re-initialising.

Reference: meghdadk/SCRUB@98ffb11, ``MIA_experiments.ipynb`` cell 22 (``euk_unlearn``: ResNet's
``layer4`` gets the weights of the original's initialisation checkpoint and is the only trainable part;
lr 0.01, epochs = the original's training epochs, batch 64) and cell 17 (``fk_fientune``: SGD without
momentum or weight decay, lr ×0.1 for every milestone 10, 15, 20 below the 0-based epoch; train mode),
loaders without augmentation. The defaults reproduce it: k = 2 (``layer4`` + ``fc``) with the classifier
kept, 25 epochs (the reference's originals' training epochs; on cifar10, digits and fake 30, 15 and 10,
the bench's originals'), the step schedule.

Remaining differences (see ``fidelity``): fresh weights come from ``ctx.new_model()``; BatchNorm running
statistics of the re-initialised blocks are reset too; frozen blocks' running statistics are restored.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.methods.cf_k import frozen_bn_difference, last_blocks, recipe_from, train_last_blocks, trained_blocks


def reinitialise_last_blocks(model: nn.Module, fresh: nn.Module, k: int, train_classifier: bool = True) -> list[str]:
    """Copy the parameters and buffers of the blocks :func:`trained_blocks` names from ``fresh`` into ``model``.

    ``fresh`` must be a newly initialised model of the same architecture. Returns the blocks' names.
    """
    target = trained_blocks(model, k, train_classifier)
    source = trained_blocks(fresh, k, train_classifier)
    with torch.no_grad():
        for (name, block), (fresh_name, fresh_block) in zip(target, source, strict=True):
            if name != fresh_name:
                raise ValueError(f"fresh model's blocks differ: {fresh_name!r} where {name!r} was expected")
            # load_state_dict copies into the existing tensors, so device and identity are kept.
            block.load_state_dict(fresh_block.state_dict())
    return [name for name, _ in target]


_SCRUB = "meghdadk/SCRUB"
_COMMIT = "98ffb1196ffbec2665092598c13ad3b6ec3d095d"
_MIA = "MIA_experiments.ipynb"
_SMALL = "small_scale_unlearning.ipynb"
_LOOPS = "thirdparty/repdistiller/helper/loops.py"
_UTIL = "thirdparty/repdistiller/helper/util.py"


class EUk:
    """EU-k: re-initialise the last k blocks and train only them on the retain set."""

    name: ClassVar[str] = "eu_k"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain", "new_model")
    description: ClassVar[str] = (
        "Exact unlearning of the last k blocks: re-initialise them and retrain only them on the retain set "
        "(Goel et al., arXiv 2022)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "k": 2,
        "train_classifier": False,
        # As long as the original was trained: the reference's training_epochs (its CIFAR-10 originals: 25).
        "epochs": 25,
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
    #: The reference retrains for as many epochs as its original was trained; so do these: the bench's
    #: originals train 30 (cifar10), 15 (digits) and 10 (fake) epochs (the datasets' ``default_epochs``).
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "cifar10": {"epochs": 30},
        "digits": {"epochs": 15},
        "fake": {"epochs": 10},
    }
    #: k = 2, 3, 4 with the classifier kept: the last 1, 2 or 3 feature blocks.
    grid: ClassVar[dict[str, list[Any]]] = {"k": [2, 3, 4]}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="Goel, Prabhu, Sanyal, Lim, Torr and Kumaraguru, \"Towards Adversarial Evaluations for Inexact "
        "Machine Unlearning\", arXiv 2201.06640, 2022; run as in Kurmanji et al., NeurIPS 2023 (SCRUB)",
        repository=_SCRUB,
        commit=_COMMIT,
        loop=(
            Source(_MIA, "cell 22", note="euk_unlearn: freeze all; copy layer4's conv and BatchNorm weights and "
                   "biases from model_initial; unfreeze layer4; fk_fientune on a retain loader of batch 64"),
            Source(_MIA, "cell 17", note="fk_fientune: SGD(lr, weight_decay=0); per epoch "
                   "sgda_adjust_learning_rate(epoch 0-based) then train_vanilla"),
            Source(_LOOPS, "78-135", note="train_vanilla: model.train(), CE, one step per batch"),
            Source(_UTIL, "22-30", note="lr = base · rate^(#milestones < epoch)"),
        ),
        defaults={
            "k": Source(_MIA, "cell 22", 2, note="layer4 only: in named_blocks terms the last 2 blocks "
                        "(layer4, fc) with the classifier kept"),
            "train_classifier": Source(_MIA, "cell 22", False, note="ResNet branch: the linear layer is "
                                       "neither re-initialised nor unfrozen"),
            "epochs": Source(_MIA, "cell 22", 25, note="args.euk_epochs = training_epochs, the epochs of the "
                             "original (25, cell 23)"),
            "lr": Source(_MIA, "cell 22", 0.01, note="args.euk_lr"),
            "momentum": Source(_MIA, "cell 17", 0.0, note="torch.optim.SGD default"),
            "weight_decay": Source(_MIA, "cell 17", 0.0, note="SGD(..., weight_decay=0.0)"),
            "nesterov": Source(_MIA, "cell 17", False, note="torch.optim.SGD default"),
            "batch_size": Source(_MIA, "cell 22", 64, note="args.euk_bs"),
            "schedule": Source(_UTIL, "22-30", "step", note="sgda_adjust_learning_rate"),
            "lr_decay_epochs": Source(_MIA, "cell 22", "10/15/20", note="args.lr_decay_epochs"),
            "lr_decay_rate": Source("main_merged.py", "134", 0.1, note="--lr_decay_rate default; the notebook "
                                    f"%runs main_merged.py ({_MIA} cell 23) and never sets it"),
            "augment": Source(_MIA, "cell 23", False, note="datasets.get_loaders(..., augment=False)"),
            "update_frozen_bn": Source(_LOOPS, "80", True, note="model.train() on the whole model: frozen "
                                       "BatchNorm layers update their running statistics"),
        },
        differences=(
            frozen_bn_difference(
                "measured on digits, mean of 3 seeds (FA / TA / simple MIA), restored vs drifting: 10 % random "
                "0.953 / 0.956 / 0.483 vs 0.969 / 0.960 / 0.511; class:3 0.000 / 0.863 / 0.927 vs 0.000 / "
                "0.869 / 0.927."
            ),
            Difference(
                what="Fresh weights come from ctx.new_model() (the architecture's initialisation, seeded per "
                "replicate). The reference copies them from model_initial, the checkpoint saved when the "
                "original's training started (main_merged.py 203-206; in the SCRUB runs a CIFAR-100 "
                "pre-trained backbone, --resume in MIA_experiments.ipynb cell 23).",
                why="The bench's originals are trained from a random initialisation that is not kept; a "
                "fresh initialisation of the same architecture is its closest stand-in.",
                effect="not measured: the original's initial weights are not stored by the bench.",
            ),
            Difference(
                what="The re-initialised blocks' BatchNorm running statistics are reset to 0 / 1 as well; the "
                "reference copies only weights and biases (cell 22) and keeps the original's running "
                "statistics.",
                why="A re-initialised block keeps nothing of the original; the train-mode loop re-estimates "
                "the statistics anyway.",
                effect="not measured: after n training steps the initial statistics keep a weight of "
                "0.9^n (BatchNorm momentum 0.1): below 1e-4 after 88 steps, i.e. within the first epoch "
                "(digits: 16 steps per epoch, CIFAR-10: 703).",
            ),
            Difference(
                what="All-CNN in the reference: its EU-k re-initialises the classifier but leaves it frozen "
                f"(cell 22; {_SMALL} cell 91), a random fixed read-out. Here the classifier is either kept "
                "and frozen (default, the reference's ResNet branch) or re-initialised and trained "
                "(train_classifier=true).",
                why="Reference inconsistency between its two architectures; the ResNet branch is followed.",
                effect="not measured: no All-CNN in this bench.",
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
        """Re-initialise the last ``k`` blocks of ``model`` and train them on the retain set, in place."""
        params = {**self.defaults, **ctx.params}
        k, train_classifier = int(params["k"]), bool(params["train_classifier"])
        last_blocks(model, k)  # validate k before paying for a fresh model
        trained_blocks(model, k, train_classifier)
        reinitialise_last_blocks(model, ctx.new_model(), k, train_classifier)
        return train_last_blocks(model, ctx, k, **recipe_from(params))


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``eu_k`` method."""
    return [EUk]
