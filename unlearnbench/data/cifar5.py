"""The small-scale CIFAR-5 draw of the Fisher / NTK forgetting papers and SCRUB, index for index.

Reference: AdityaGolatkar/SelectiveForgetting@4c028253c282c43693b5d8f1ee51eac2fca403f2 (the same code in
meghdadk/SCRUB@98ffb1196ffbec2665092598c13ad3b6ec3d095d): ``Small_CIFAR10.py`` class ``Small_CIFAR5`` and
``datasets.py`` ``get_loaders`` / ``replace_class``. After NumPy's global generator is seeded with the run
seed (``manual_seed(seed)``):

1. the "train" set takes, class by class for classes 0–4, 125 images drawn without replacement from the
   CIFAR-10 *training* split; the "test" set then takes 100 per class, continuing the same stream and from
   the same training split (so it may share images with "train");
2. ``RandomState(seed)`` then draws 25 of each class's 125 positions as validation; the other 100 per class
   stay, in ascending position order (what ``list(set(range(625)) - set(valid))`` gives for small ints);
3. the forget set is ``RandomState(seed - 1).choice`` of 25 of the remaining class-0 positions.

:func:`small_scale_draw` returns those indices; with seed 1 the forget positions are the ones the reference
notebook prints (``Forgetting.ipynb``, cells 10 and 26).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnbench.api import RawDataset
from unlearnbench.data.cifar10 import CLASS_NAMES, KIT_STD, MEAN, resolve
from unlearnbench.data.splits import bool_option, check_options, int_option
from unlearnbench.hookspec import hookimpl

__all__ = ["SmallCIFAR5", "SmallScaleDraw", "small_scale_draw"]

_OPTIONS = ("path", "download", "seed")


@dataclass(frozen=True)
class SmallScaleDraw:
    """Indices of one small-scale draw: ``train``, ``val`` and ``test`` into the CIFAR-10 training split, in
    the reference's order; ``forget`` positions into ``train``."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    forget: np.ndarray


def _per_class(stream: np.random.RandomState, labels: np.ndarray, classes: int, count: int) -> np.ndarray:
    """``count`` indices per class 0..classes−1, drawn without replacement class by class from ``stream``."""
    return np.concatenate([stream.choice(np.flatnonzero(labels == c), count, replace=False) for c in range(classes)])


def small_scale_draw(
    labels: np.ndarray,
    seed: int = 1,
    classes: int = 5,
    train_per_class: int = 125,
    test_per_class: int = 100,
    val_fraction: float = 0.2,
    forget_class: int = 0,
    forget_count: int = 25,
) -> SmallScaleDraw:
    """The reference's CIFAR-5 subset, validation split and forget set for CIFAR-10 training ``labels``."""
    labels = np.asarray(labels)
    stream = np.random.RandomState(seed)  # np.random.seed(seed) then np.random.choice: the same stream
    pool = _per_class(stream, labels, classes, train_per_class)
    test = _per_class(stream, labels, classes, test_per_class)
    pool_labels = labels[pool]
    split = np.random.RandomState(seed)
    per_class_val = int(val_fraction * train_per_class)
    val_positions = _per_class(split, pool_labels, int(pool_labels.max()) + 1, per_class_val)
    kept = np.setdiff1d(np.arange(len(pool)), val_positions)  # ascending
    train = pool[kept]
    candidates = np.flatnonzero(labels[train] == forget_class)
    if forget_count > len(candidates):
        raise ValueError(
            f"forget_count {forget_count} exceeds the {len(candidates)} training images of class {forget_class}"
        )
    forget = np.random.RandomState(seed - 1).choice(candidates, forget_count, replace=False)
    return SmallScaleDraw(train=train, val=pool[val_positions], test=test, forget=forget)


class SmallCIFAR5:
    """The small-scale protocol's CIFAR-5: 100 / 25 / 100 images per class of classes 0–4, the reference's draw.

    The training set is the 500 kept images, in the reference's order; the held-out set is the 500 "test"
    images followed by the 125 validation images (``test_count`` fixes that partition), and
    ``--forget reference`` forgets the reference's 25 class-0 images. No augmentation (the small-scale
    commands never pass ``--augment``); normalisation (0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010).
    """

    name: ClassVar[str] = "cifar5"
    description: ClassVar[str] = (
        "CIFAR-5, the small-scale forgetting protocol's subset: 100 train / 25 val / 100 test per class 0-4"
    )
    default_model: ClassVar[str] = "preact_resnet18"
    #: The reference evaluates the epoch-25 checkpoint of a constant-rate run.
    default_epochs: ClassVar[int] = 25

    def load(self, cache_dir: str, **options: Any) -> RawDataset:
        """Draw CIFAR-5 from CIFAR-10's training split; options ``path``, ``download``, ``seed`` (default 1)."""
        check_options(self.name, options, _OPTIONS)
        download = bool_option(self.name, "download", options.get("download", False))
        seed = int_option(self.name, "seed", options.get("seed", 1), minimum=1)
        path = options.get("path")
        (x_train, y_train, _, _), source = resolve(cache_dir, str(path) if path else None, download)
        draw = small_scale_draw(y_train, seed=seed)
        held = np.concatenate([draw.test, draw.val])
        return RawDataset(
            name=self.name,
            x_train=torch.from_numpy(np.ascontiguousarray(x_train[draw.train])),
            y_train=torch.from_numpy(np.ascontiguousarray(y_train[draw.train], dtype=np.int64)),
            x_heldout=torch.from_numpy(np.ascontiguousarray(x_train[held])),
            y_heldout=torch.from_numpy(np.ascontiguousarray(y_train[held], dtype=np.int64)),
            num_classes=5, class_names=CLASS_NAMES[:5], mean=MEAN, std=KIT_STD, crop_padding=0, hflip=False,
            source=f"{source} (small-scale draw, seed {seed})", test_count=len(draw.test),
            reference_forget=tuple(int(i) for i in draw.forget),
        )  # fmt: skip


@hookimpl
def unlearnbench_add_datasets() -> list[type]:
    """Register the ``cifar5`` dataset."""
    return [SmallCIFAR5]
