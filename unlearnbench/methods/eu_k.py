"""``eu_k``: exact unlearning of the last k blocks (Goel et al., "Towards adversarial evaluations for
inexact machine unlearning", arXiv 2201.06640, 2022).

Algorithm: re-initialise the last ``k`` blocks of the original model (``named_blocks``: for ResNet
``stem, layer1 … layer4, fc``; for ``small_cnn`` ``features.0 … features.2, fc``), freeze the others and
train the re-initialised blocks from scratch on the retain set. If the frozen feature extractor holds no
forget-specific information, the result is an exact unlearner for the last k blocks; with k = all
blocks it is retraining from scratch. CF-k (``cf_k``) is the sibling that fine-tunes instead.

Defaults. Goel et al. train the re-initialised layers with the same procedure as the original model
(their 62-epoch SGD schedule), so the defaults take the run's own recipe (``epochs``, ``lr``, momentum,
weight decay, batch size, augmentation: ``None`` means "as the original was trained"). They sweep the
number of layers; the default here is k = 3 blocks and the grid sweeps k = 1, 2, 3. On the embedded
digits data 5 epochs (a third of the original's 15) keep the default run fast; fewer leave the
re-initialised blocks visibly under-trained.

Choices the paper leaves open:

- "Layer" versus "block": Goel et al. count conv/linear layers; this bench counts the architecture's
  blocks (a ResNet stage is one block), so k means the same on every architecture.
- Fresh weights come from ``ctx.new_model()`` (the architecture's own initialisation, seeded per
  replicate), parameters and buffers alike: BatchNorm running statistics of re-initialised blocks start
  again at 0 / 1. Goel et al. use Kaiming-normal weights and zero biases.
- Frozen blocks: BatchNorm layers normalise with batch statistics while training (the loop's train
  mode, as in the reference code), and their running statistics are restored afterwards, so the frozen
  part leaves the method exactly as it came.
- Augmentation follows the run's recipe, since this is (partial) training from scratch, not a short
  fine-tune; no best-on-validation checkpoint: the model after the last epoch is returned.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl
from unlearnbench.methods.cf_k import last_blocks, train_last_blocks


def reinitialise_last_blocks(model: nn.Module, fresh: nn.Module, k: int) -> list[str]:
    """Copy the last ``k`` blocks' parameters and buffers of ``fresh`` into ``model``; returns their names.

    ``fresh`` must be a newly initialised model of the same architecture.
    """
    target = last_blocks(model, k)
    source = last_blocks(fresh, k)
    with torch.no_grad():
        for (name, block), (fresh_name, fresh_block) in zip(target, source, strict=True):
            if name != fresh_name:
                raise ValueError(f"fresh model's blocks differ: {fresh_name!r} where {name!r} was expected")
            # load_state_dict copies into the existing tensors, so device and identity are kept.
            block.load_state_dict(fresh_block.state_dict())
    return [name for name, _ in target]


class EUk:
    """EU-k: re-initialise the last k blocks and train only them on the retain set."""

    name: ClassVar[str] = "eu_k"
    description: ClassVar[str] = (
        "Exact unlearning of the last k blocks: re-initialise them and retrain only them on the retain set "
        "(Goel et al., arXiv 2022)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "k": 3,
        # None: the run's recipe, i.e. the original model's training procedure (as in the paper).
        "epochs": None,
        "lr": None,
        "momentum": None,
        "weight_decay": None,
        "batch_size": None,
        "augment": None,
    }
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {"digits": {"epochs": 5}, "fake": {"epochs": 10}}
    grid: ClassVar[dict[str, list[Any]]] = {"k": [1, 2, 3]}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Re-initialise the last ``k`` blocks of ``model`` and train them on the retain set, in place."""
        params = {**self.defaults, **ctx.params}
        k = int(params["k"])
        last_blocks(model, k)  # validate k before paying for a fresh model
        reinitialise_last_blocks(model, ctx.new_model(), k)
        recipe = ctx.recipe
        casts = {"epochs": int, "lr": float, "momentum": float, "weight_decay": float, "batch_size": int,
                 "augment": bool}  # fmt: skip
        overrides = {key: cast(params[key]) if params[key] is not None else getattr(recipe, key)
                     for key, cast in casts.items()}  # fmt: skip
        return train_last_blocks(model, ctx, k, schedule=recipe.schedule, **overrides)


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``eu_k`` method."""
    return [EUk]
