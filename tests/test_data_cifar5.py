"""unlearnbench.data.cifar5 against the reference code's draw, re-enacted with NumPy's global generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unlearnbench.data.cifar5 import small_scale_draw

#: Forgetting.ipynb (AdityaGolatkar/SelectiveForgetting), cells 10 and 26: the 25 class-0 positions, seed 1.
NOTEBOOK_FORGET_SEED_1 = [
    26, 86, 2, 55, 75, 93, 16, 73, 54, 95, 53, 92, 78, 13, 7, 30, 22, 24, 33, 8, 43, 62, 3, 71, 45,
]


def cifar_like_labels(per_class: int = 400, seed: int = 3) -> np.ndarray:
    """Shuffled labels of a 10-class training split."""
    labels = np.repeat(np.arange(10), per_class)
    return np.random.default_rng(seed).permutation(labels)


def reference_draw(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reference's steps written out with the global generator, as Small_CIFAR5 and get_loaders run them."""
    np.random.seed(seed)
    train_ds = np.concatenate([np.random.choice(np.where(labels == i)[0], 125, replace=False) for i in range(5)])
    test_ds = np.concatenate([np.random.choice(np.where(labels == i)[0], 100, replace=False) for i in range(5)])
    rng = np.random.RandomState(seed)
    targets = labels[train_ds]
    valid_idx = np.hstack([rng.choice(np.where(targets == i)[0], int(0.2 * 125), replace=False)
                           for i in range(max(targets) + 1)])  # fmt: skip
    train_idx = list(set(range(len(train_ds))) - set(valid_idx))
    train = train_ds[train_idx]
    forget = np.random.RandomState(seed - 1).choice(np.flatnonzero(labels[train] == 0), 25, replace=False)
    return train, train_ds[valid_idx], test_ds, forget


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_the_draw_is_the_reference_codes_index_for_index(seed: int) -> None:
    labels = cifar_like_labels()
    draw = small_scale_draw(labels, seed=seed)
    train, val, test, forget = reference_draw(labels, seed)
    assert np.array_equal(draw.train, train) and np.array_equal(draw.val, val)
    assert np.array_equal(draw.test, test) and np.array_equal(draw.forget, forget)


def test_counts_per_class() -> None:
    labels = cifar_like_labels()
    draw = small_scale_draw(labels)
    assert (len(draw.train), len(draw.val), len(draw.test), len(draw.forget)) == (500, 125, 500, 25)
    for split, per_class in ((draw.train, 100), (draw.val, 25), (draw.test, 100)):
        assert np.bincount(labels[split], minlength=5).tolist() == [per_class] * 5
    assert set(labels[draw.train[draw.forget]]) == {0}
    assert not set(draw.train) & set(draw.val)  # validation leaves the training pool


def test_seed_1_forgets_the_images_the_notebook_prints() -> None:
    draw = small_scale_draw(cifar_like_labels(), seed=1)
    assert draw.forget.tolist() == NOTEBOOK_FORGET_SEED_1


def test_too_few_images_of_the_forget_class_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        small_scale_draw(cifar_like_labels(), forget_count=101)


def tiny_cifar10(path: Path, per_class: int = 240) -> Path:
    """A CIFAR-10-shaped .npz with ``per_class`` training images per class (random pixels)."""
    rng = np.random.default_rng(0)
    y_train = rng.permutation(np.repeat(np.arange(10), per_class))
    np.savez(path, x_train=rng.integers(0, 255, (len(y_train), 32, 32, 3), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 255, (50, 32, 32, 3), dtype=np.uint8), y_test=rng.integers(0, 10, 50))  # fmt: skip
    return path


def test_the_cifar5_dataset_fixes_its_splits_and_forget_set(tmp_path: Path) -> None:
    from unlearnbench.data.cifar5 import SmallCIFAR5
    from unlearnbench.data.splits import make_splits

    raw = SmallCIFAR5().load(str(tmp_path), path=str(tiny_cifar10(tmp_path / "c.npz")))
    assert raw.num_classes == 5 and len(raw.y_train) == 500 and len(raw.y_heldout) == 625
    splits = make_splits(raw, "reference", seed=42)
    assert splits.forget.tolist() == sorted(NOTEBOOK_FORGET_SEED_1) and len(splits.retain) == 475
    assert splits.test.tolist() == list(range(500)) and splits.val.tolist() == list(range(500, 625))
    assert make_splits(raw, "class:0").forget.tolist() == list(range(100))  # the reference's class forgetting


def test_the_reference_forget_spec_needs_a_dataset_that_defines_one(tmp_path: Path) -> None:
    from unlearnbench.data.cifar10 import CIFAR10
    from unlearnbench.data.splits import make_splits
    from unlearnbench.errors import UsageError

    raw = CIFAR10().load(str(tmp_path), path=str(tiny_cifar10(tmp_path / "c.npz", per_class=20)))
    with pytest.raises(UsageError, match="defines no forget set"):
        make_splits(raw, "reference")


def test_cifar10_keeps_and_relabels_the_classes_asked_for(tmp_path: Path) -> None:
    from unlearnbench.data.cifar10 import CIFAR10
    from unlearnbench.errors import UsageError

    path = str(tiny_cifar10(tmp_path / "c.npz", per_class=20))
    raw = CIFAR10().load(str(tmp_path), path=path, classes="5-9")
    assert raw.num_classes == 5 and raw.class_names == ("dog", "frog", "horse", "ship", "truck")
    assert sorted(set(raw.y_train.tolist())) == [0, 1, 2, 3, 4] and len(raw.y_train) == 100
    with pytest.raises(UsageError, match="option classes"):
        CIFAR10().load(str(tmp_path), path=path, classes="5-x")


TINY_SMALL_SCALE = """
epochs = 1
seeds = 1
oracles = 1
# relearn_time runs to its step cap on random pixels (minutes per item): left out of the tiny run.
metrics = ["accuracy", "simple_mia"]
[backbone]
epochs = 1
dataset_options = { classes = "5-9", heldout_size = 50 }
[method_options.finetune]
grid = []
defaults = { epochs = 1, lr = 0.01, momentum = 0.0, l2_to_start = 0.1, freeze_batchnorm = true, augment = false }
[method_options.neggrad_plus]
grid = []
defaults = { epochs = 1 }
[method_options.scrub]
grid = []
defaults = { epochs = 1, msteps = 1, lr_decay_epochs = "1" }
"""


def test_the_small_scale_protocol_runs_end_to_end_and_is_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The small-scale preset, shrunk to one epoch everywhere, on random pixels: every method and readout
    runs, the verdict names the backbone and refuses the table (random pixels are not the regime)."""
    import subprocess
    import sys

    from unlearnbench.results import load

    def main(args: list[str]) -> int:  # in a child process: the run's memory stays out of this one's peak
        done = subprocess.run([sys.executable, "-m", "unlearnbench", *args], capture_output=True, text=True)
        print(done.stdout, done.stderr)
        return done.returncode

    data = tiny_cifar10(tmp_path / "c.npz")
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_SMALL_SCALE, encoding="utf-8")
    out = tmp_path / "run"
    code = main(["run", "--preset", "small-scale", "--config", str(config), "--data-path", str(data),
                 "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(out), "-q"])  # fmt: skip
    assert code == 0, capsys.readouterr().out
    results = load(out / "results.json")
    expected = {"original", "retrain", "finetune", "neggrad_plus", "cf_k", "eu_k", "fisher_forgetting", "scrub"}
    assert expected <= {item.item_id.split("[")[0] for item in results.items}
    assert all(item.outcome == "passed" for item in results.items), [i.outcome for i in results.items]
    capsys.readouterr()
    assert main(["reproduce", "small-scale", "--results", str(out / "results.json")]) == 1
    printed = capsys.readouterr().out
    assert "backbone: pre-trained on cifar10 classes 5-9 for 1 epochs" in printed
    assert "not in the published regime" in printed
