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

import numpy as np

__all__ = ["SmallScaleDraw", "small_scale_draw"]


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
