"""unlearnbench.data.cifar10_salun against the reference code's split and forget draw, re-enacted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unlearnbench.data.cifar10_salun import SalunCIFAR10, salun_draw


def shuffled_labels(per_class: int, seed: int = 3) -> np.ndarray:
    """Shuffled labels of a 10-class training split."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(10), per_class))


def reference_draw(labels: np.ndarray, seed: int, count: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """cifar10_dataloaders and replace_class(class_to_replace=-1) as the reference runs them, step by step."""
    rng = np.random.RandomState(seed)
    valid_idx = np.hstack([rng.choice(np.where(labels == i)[0], int(0.1 * len(np.where(labels == i)[0])),
                                      replace=False) for i in range(max(labels) + 1)])  # fmt: skip
    train_idx = list(set(range(len(labels))) - set(valid_idx))
    indexes = np.flatnonzero(np.ones_like(labels[train_idx]))
    forget = np.random.RandomState(seed - 1).choice(indexes, size=count, replace=False)
    return train_idx, valid_idx, forget


@pytest.mark.parametrize(("seed", "count"), [(2, 45), (1, 90), (7, 225)])
def test_the_draw_is_the_reference_codes_index_for_index(seed: int, count: int) -> None:
    labels = shuffled_labels(50)
    train, val, forget = reference_draw(labels, seed, count)
    draw = salun_draw(labels, seed=seed, forget_count=count)
    assert draw.train.tolist() == train and draw.val.tolist() == val.tolist()
    assert draw.forget.tolist() == forget.tolist()


def test_at_full_size_the_reference_set_difference_is_ascending_and_the_counts_are_the_papers() -> None:
    labels = shuffled_labels(5000)
    draw = salun_draw(labels)
    assert list(set(range(50000)) - set(draw.val.tolist())) == draw.train.tolist()
    assert (len(draw.train), len(draw.val), len(draw.forget)) == (45000, 5000, 4500)
    assert np.bincount(labels[draw.val]).tolist() == [500] * 10
    assert len(set(draw.forget.tolist())) == 4500 and draw.forget.max() < 45000
    assert len(salun_draw(labels, forget_count=22500).forget) == 22500  # Table 1's 50 % half


def test_the_dataset_serves_the_split_and_the_forget_set(tmp_path: Path) -> None:
    from unlearnbench.data.splits import make_splits
    from unlearnbench.errors import UsageError

    rng = np.random.default_rng(0)
    y_train = shuffled_labels(30)
    path = tmp_path / "c.npz"
    np.savez(path, x_train=rng.integers(0, 255, (300, 32, 32, 3), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), y_test=rng.integers(0, 10, 40))  # fmt: skip
    raw = SalunCIFAR10().load(str(tmp_path), path=str(path), forget_count=27)
    draw = salun_draw(y_train, forget_count=27)
    assert len(raw.y_train) == 270 and raw.y_train.tolist() == y_train[draw.train].tolist()
    assert len(raw.y_heldout) == 70 and raw.test_count == 40
    assert raw.y_heldout[40:].tolist() == y_train[draw.val].tolist()
    splits = make_splits(raw, "reference", seed=42)
    assert splits.forget.tolist() == sorted(draw.forget.tolist()) and len(splits.retain) == 243
    assert splits.test.tolist() == list(range(40)) and splits.val.tolist() == list(range(40, 70))
    with pytest.raises(UsageError, match="forget_count must be between 1 and the 270 training images"):
        SalunCIFAR10().load(str(tmp_path), path=str(path), forget_count=271)
