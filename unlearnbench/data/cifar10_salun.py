"""SalUn's CIFAR-10 split and random forget draw (Fan et al., ICLR 2024, Table 1), index for index.

Reference: OPTML-Group/Unlearn-Saliency@a6e89fd17ff737c24c6aa16c9574469a234ffd91, ``Classification/``:

1. ``dataset.py`` ``cifar10_dataloaders`` (lines 529-645): ``RandomState(seed)`` draws, class by class for
   classes 0-9, ``int(0.1 * n_c)`` validation images (500 per class) from CIFAR-10's training split without
   replacement; they are stacked in that order (5,000). The other 45,000 are the training set, in ascending
   index order (what ``list(set(range(50000)) - set(valid))`` gives for these small ints);
2. ``dataset.py`` ``replace_class`` (lines 673-704) with ``class_to_replace = -1`` (random data forgetting):
   ``RandomState(seed - 1).choice`` of ``num_indexes_to_replace`` positions (4,500 for 10 %, 22,500 for
   50 %) of the 45,000, without replacement, in the draw's order;
3. the test set is CIFAR-10's 10,000 test images (``utils.py`` ``setup_model_dataset``, lines 118-132).

The reference builds the original's split with seed 1 (its default) but the forget split with ``--seed``
(default 2, ``arg_parser.py`` line 47), so about 10 % of the images its unlearning treats as forgotten were
validation images of the original. Here one ``seed`` (default 2, the forgetting runs' default) fixes both:
the forget set is part of the original's training set, as the paper describes it.

:func:`salun_draw` returns those indices. The dataset ``cifar10_salun`` serves the 45,000 as the training
set, the 10,000 test images followed by the 5,000 validation images as the held-out set (``test_count``
fixes the partition), and ``--forget reference`` forgets the drawn positions. Normalisation (0.4914,
0.4822, 0.4465) / (0.2470, 0.2435, 0.2616) as the reference's ``NormalizeByChannelMeanStd``; crop 32 with
padding 4 and horizontal flip for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnbench.api import RawDataset
from unlearnbench.data.cifar10 import CLASS_NAMES, MEAN, STD, resolve
from unlearnbench.data.splits import bool_option, check_options, int_option
from unlearnbench.errors import UsageError
from unlearnbench.hookspec import hookimpl

__all__ = ["SalunCIFAR10", "SalunDraw", "salun_draw"]

_OPTIONS = ("path", "download", "seed", "forget_count")
#: Random data forgetting of 10 % of the 45,000 training images (Table 1's left half).
DEFAULT_FORGET_COUNT = 4500
#: ``--seed`` of the reference's forgetting runs (``arg_parser.py`` line 47).
DEFAULT_SEED = 2


@dataclass(frozen=True)
class SalunDraw:
    """Indices of one SalUn draw: ``train`` and ``val`` into CIFAR-10's training split, in the reference's
    order; ``forget`` positions into ``train``."""

    train: np.ndarray
    val: np.ndarray
    forget: np.ndarray


def salun_draw(labels: np.ndarray, seed: int = DEFAULT_SEED, forget_count: int = DEFAULT_FORGET_COUNT) -> SalunDraw:
    """The reference's validation split and random forget set for CIFAR-10 training ``labels``."""
    labels = np.asarray(labels)
    stream = np.random.RandomState(seed)
    val = np.concatenate([
        stream.choice(np.flatnonzero(labels == c), int(0.1 * int((labels == c).sum())), replace=False)
        for c in range(int(labels.max()) + 1)
    ])  # fmt: skip
    train = np.setdiff1d(np.arange(len(labels)), val)  # ascending
    if not 0 < forget_count <= len(train):
        raise ValueError(f"forget_count must be between 1 and the {len(train)} training images, got {forget_count}")
    forget = np.random.RandomState(seed - 1).choice(np.arange(len(train)), forget_count, replace=False)
    return SalunDraw(train=train, val=val, forget=forget)


class SalunCIFAR10:
    """SalUn's CIFAR-10: 45,000 training images, 5,000 validation and the 10,000 test images; its forget draw."""

    name: ClassVar[str] = "cifar10_salun"
    description: ClassVar[str] = (
        "CIFAR-10 split as SalUn's code splits it: 45,000 train / 5,000 val / 10,000 test, random forget draw"
    )
    default_model: ClassVar[str] = "resnet18_cifar"

    def load(self, cache_dir: str, **options: Any) -> RawDataset:
        """Load and split CIFAR-10; options ``path``, ``download``, ``seed`` (default 2), ``forget_count``."""
        check_options(self.name, options, _OPTIONS)
        download = bool_option(self.name, "download", options.get("download", False))
        seed = int_option(self.name, "seed", options.get("seed", DEFAULT_SEED), minimum=1)
        count = int_option(self.name, "forget_count", options.get("forget_count", DEFAULT_FORGET_COUNT), minimum=1)
        path = options.get("path")
        (x_train, y_train, x_test, y_test), source = resolve(cache_dir, str(path) if path else None, download)
        try:
            draw = salun_draw(y_train, seed=seed, forget_count=count)
        except ValueError as exc:
            raise UsageError(f"dataset {self.name!r}: {exc}") from None
        x_held = np.concatenate([x_test, x_train[draw.val]])
        y_held = np.concatenate([y_test, y_train[draw.val]])
        return RawDataset(
            name=self.name,
            x_train=torch.from_numpy(np.ascontiguousarray(x_train[draw.train])),
            y_train=torch.from_numpy(np.ascontiguousarray(y_train[draw.train], dtype=np.int64)),
            x_heldout=torch.from_numpy(np.ascontiguousarray(x_held)),
            y_heldout=torch.from_numpy(np.ascontiguousarray(y_held, dtype=np.int64)),
            num_classes=10, class_names=CLASS_NAMES, mean=MEAN, std=STD, crop_padding=4, hflip=True,
            source=f"{source} (SalUn split, seed {seed})", test_count=len(y_test),
            reference_forget=tuple(int(i) for i in draw.forget),
        )  # fmt: skip


@hookimpl
def unlearnbench_add_datasets() -> list[type]:
    """Register the ``cifar10_salun`` dataset."""
    return [SalunCIFAR10]
