"""Tests for the dataset plugins, the splits and the dataset fingerprints."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from unlearnbench.api import Dataset, RawDataset
from unlearnbench.data import cifar10, digits, fake
from unlearnbench.data.cifar10 import CIFAR10, ENV_VAR, load_npz
from unlearnbench.data.digits import Digits
from unlearnbench.data.fake import Fake
from unlearnbench.data.splits import fingerprint, make_splits, split_tensors, splits_fingerprint
from unlearnbench.errors import UsageError
from unlearnbench.models.small_cnn import SmallCNN
from unlearnbench.training import Recipe, train

#: The real CIFAR-10 next to the project (see shared/data/README.md), or wherever the variable points.
REAL_CIFAR = Path(
    os.environ.get(ENV_VAR) or Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10.npz"
)


@pytest.fixture(scope="module")
def raw() -> RawDataset:
    """The default fake dataset: 256 train / 128 held-out, 4 classes, 3×8×8."""
    return Fake().load("unused")


@pytest.fixture(scope="module")
def digits_raw() -> RawDataset:
    """scikit-learn's digits, loaded once."""
    return Digits().load("unused")


def accuracy(model: torch.nn.Module, data: Any) -> float:
    """Top-1 accuracy of ``model`` on a TensorData."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in data.batches(512):
            correct += int((model(xb).argmax(1) == yb).sum())
    return correct / len(data)


def usage_error(match: str) -> Any:
    """``pytest.raises(UsageError, match=...)``; every message must also be one line (checked after)."""
    return pytest.raises(UsageError, match=match)


# --- plugin registration -------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [digits, cifar10, fake])
def test_dataset_plugins_are_registered_under_their_file_stem(module: Any) -> None:
    (cls,) = module.unlearnbench_add_datasets()
    stem = module.__name__.rsplit(".", 1)[1]
    plugin = cls()
    assert cls.name == stem
    assert isinstance(plugin, Dataset)
    assert cls.description and "\n" not in cls.description
    assert cls.default_model in {"small_cnn", "resnet18"}
    assert isinstance(cls.default_epochs, int) and cls.default_epochs > 0


# --- fake ----------------------------------------------------------------------------------------------


def test_fake_has_requested_shapes_and_is_deterministic(raw: RawDataset) -> None:
    assert raw.x_train.shape == (256, 3, 8, 8) and raw.x_train.dtype == torch.uint8
    assert raw.x_heldout.shape == (128, 3, 8, 8)
    assert raw.y_train.dtype == torch.int64 and raw.y_heldout.dtype == torch.int64
    assert torch.bincount(raw.y_train).tolist() == [64, 64, 64, 64]  # balanced classes
    assert raw.num_classes == 4 and len(raw.class_names) == 4
    assert (raw.crop_padding, raw.hflip) == (1, False)
    again = Fake().load("unused")
    assert torch.equal(again.x_train, raw.x_train) and torch.equal(again.y_heldout, raw.y_heldout)
    other = Fake().load("unused", seed=1)
    assert not torch.equal(other.x_train, raw.x_train)


def test_fake_mean_and_std_are_the_training_statistics(raw: RawDataset) -> None:
    x = raw.x_train.double() / 255
    assert raw.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)
    assert raw.std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-9)


def test_fake_options_change_the_shape_and_strings_are_parsed() -> None:
    data = Fake().load("unused", n_train="40", n_heldout=10, num_classes=5, channels=1, image_size=12)
    assert data.x_train.shape == (40, 1, 12, 12) and data.x_heldout.shape == (10, 1, 12, 12)
    assert int(data.y_train.max()) == 4


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_trian": 10}, r"Unknown option 'n_trian' for dataset 'fake' \(valid options: .*n_train"),
        ({"num_classes": 1}, r"num_classes=1 must be at least 2"),
        ({"n_train": "many"}, r"n_train='many' must be an integer"),
        ({"image_size": 2.5}, r"image_size=2.5 must be an integer"),
    ],
)
def test_fake_rejects_bad_options(options: dict[str, Any], match: str) -> None:
    with usage_error(match) as info:
        Fake().load("unused", **options)
    assert "\n" not in str(info.value)


def test_fake_is_learnable_by_small_cnn(raw: RawDataset) -> None:
    data = split_tensors(raw, make_splits(raw))
    torch.manual_seed(0)
    model = SmallCNN().build(raw.num_classes, raw.in_channels, raw.image_size)
    train(model, data["train"], Recipe(epochs=Fake.default_epochs), seed=0)
    assert accuracy(model, data["test"]) > 0.8  # chance is 0.25
    assert accuracy(model, data["val"]) > 0.8


# --- digits --------------------------------------------------------------------------------------------


def test_digits_shapes_and_stratified_holdout(digits_raw: RawDataset) -> None:
    raw = digits_raw
    assert raw.x_train.shape[1:] == (1, 8, 8) and raw.x_train.dtype == torch.uint8
    assert raw.x_train.shape[0] + raw.x_heldout.shape[0] == 1797
    held = torch.bincount(raw.y_heldout, minlength=10)
    total = held + torch.bincount(raw.y_train, minlength=10)
    # round(n_c / 3) of every class is held out.
    assert held.tolist() == [round(n / 3) for n in total.tolist()]
    assert (raw.num_classes, raw.crop_padding, raw.hflip) == (10, 1, False)
    assert raw.source == "sklearn.datasets.load_digits"


def test_digits_pixels_are_scaled_from_0_16_to_0_255(digits_raw: RawDataset) -> None:
    allowed = {round(v * 255 / 16) for v in range(17)}
    values = set(
        torch.unique(torch.cat([digits_raw.x_train.flatten(), digits_raw.x_heldout.flatten()])).tolist()
    )
    assert values <= allowed and 255 in values and 0 in values
    from sklearn.datasets import load_digits

    first = load_digits().images[0]
    # The first digit sits in the training part unless the seeded draw held it out; find it either way.
    expected = torch.from_numpy(np.rint(first * 255 / 16).astype(np.uint8))
    pool = torch.cat([digits_raw.x_train, digits_raw.x_heldout])[:, 0]
    assert bool((pool == expected).all(dim=(1, 2)).any())


def test_digits_holdout_depends_on_its_seed_only(digits_raw: RawDataset) -> None:
    torch.manual_seed(123)
    np.random.seed(123)
    assert torch.equal(Digits().load("unused").y_heldout, digits_raw.y_heldout)
    assert not torch.equal(Digits().load("unused", seed=1).x_heldout, digits_raw.x_heldout)


@pytest.mark.slow
def test_digits_default_epochs_reach_95_percent(digits_raw: RawDataset) -> None:
    data = split_tensors(digits_raw, make_splits(digits_raw))
    torch.manual_seed(0)
    model = SmallCNN().build(10, 1, 8)
    train(model, data["retain"], Recipe(epochs=Digits.default_epochs), seed=0)
    assert accuracy(model, data["test"]) >= 0.95
    assert accuracy(model, data["val"]) >= 0.95


# --- splits --------------------------------------------------------------------------------------------


def test_fraction_split_sizes_and_partition(raw: RawDataset) -> None:
    splits = make_splits(raw, "0.1", seed=42)
    assert len(splits.forget) == round(0.1 * 256) == 26
    assert len(splits.retain) == 230
    assert np.array_equal(np.union1d(splits.forget, splits.retain), np.arange(256))
    assert np.intersect1d(splits.forget, splits.retain).size == 0
    assert len(splits.test) == len(splits.val) == 64
    assert np.array_equal(np.union1d(splits.test, splits.val), np.arange(128))
    for index in (splits.forget, splits.retain, splits.test, splits.val):
        assert index.dtype == np.int64 and np.all(np.diff(index) > 0)
    assert (splits.forget_spec, splits.seed) == ("0.1", 42)


def test_splits_are_deterministic_and_ignore_global_rng(raw: RawDataset) -> None:
    torch.manual_seed(1)
    np.random.seed(1)
    first = make_splits(raw, "0.25", seed=7)
    torch.manual_seed(999)
    np.random.seed(999)
    torch.rand(10)
    second = make_splits(raw, "0.25", seed=7)
    for name in ("forget", "retain", "test", "val"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    other = make_splits(raw, "0.25", seed=8)
    assert not np.array_equal(first.forget, other.forget)
    assert not np.array_equal(first.test, other.test)


def test_heldout_halves_do_not_depend_on_the_forget_spec(raw: RawDataset) -> None:
    a = make_splits(raw, "0.1", seed=3)
    b = make_splits(raw, "class:2", seed=3)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val)


def test_heldout_split_matches_torch_random_split() -> None:
    # The seed protocol splits the 10,000 CIFAR-10 test images with random_split(..., [0.5, 0.5]) and
    # manual_seed(42); the bench must pick the same images for test and validation.
    data = Fake().load("unused", n_train=8, n_heldout=10_001)
    splits = make_splits(data, "0.5", seed=42)
    every = torch.utils.data.TensorDataset(torch.arange(10_001))
    test, val = torch.utils.data.random_split(every, [0.5, 0.5], torch.Generator().manual_seed(42))
    assert np.array_equal(splits.test, np.sort(np.asarray(test.indices)))
    assert np.array_equal(splits.val, np.sort(np.asarray(val.indices)))
    assert (len(splits.test), len(splits.val)) == (5001, 5000)


def test_class_forget_specs(raw: RawDataset) -> None:
    labels = raw.y_train.numpy()
    one = make_splits(raw, "class:2")
    assert np.array_equal(one.forget, np.flatnonzero(labels == 2))
    assert np.array_equal(one.retain, np.flatnonzero(labels != 2))
    two = make_splits(raw, " class:3, 1 ")
    assert np.array_equal(two.forget, np.flatnonzero(np.isin(labels, [1, 3])))
    assert two.forget_spec == "class:3, 1"
    repeated = make_splits(raw, "class:1,1")
    assert np.array_equal(repeated.forget, np.flatnonzero(labels == 1))


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("abc", r"Invalid forget spec 'abc': expected a fraction such as 0.1, or class:N or class:N,M"),
        ("0", r"Invalid forget fraction 0: must be strictly between 0 and 1"),
        ("1", r"Invalid forget fraction 1: must be strictly between 0 and 1"),
        ("1.5", r"strictly between 0 and 1"),
        ("-0.1", r"strictly between 0 and 1"),
        ("nan", r"strictly between 0 and 1"),
        ("class:", r"expected class:N or class:N,M with integer classes"),
        ("class:1,", r"expected class:N or class:N,M with integer classes"),
        ("class:x", r"class 'x' is not an integer \(valid classes: 0\.\.3\)"),
        ("class:4", r"class 4 is out of range \(valid classes: 0\.\.3\)"),
        ("class:-1", r"class -1 is out of range \(valid classes: 0\.\.3\)"),
        ("0.001", r"Forget set is empty: fraction 0.001 of 256 training examples rounds to 0"),
        (
            "class:0,1,2,3",
            r"Retain set is empty: forget spec 'class:0,1,2,3' covers all 256 training examples",
        ),
        ("0.999", r"Retain set is empty"),
    ],
)
def test_bad_forget_specs(raw: RawDataset, spec: str, match: str) -> None:
    with usage_error(match) as info:
        make_splits(raw, spec)
    assert "\n" not in str(info.value)


def test_forgetting_an_absent_class_is_an_error(raw: RawDataset) -> None:
    keep = raw.y_train != 3
    no_threes = dataclasses.replace(raw, x_train=raw.x_train[keep], y_train=raw.y_train[keep])
    with usage_error(r"Forget set is empty: dataset 'fake' has no training examples of class 3"):
        make_splits(no_threes, "class:3")


def test_too_few_heldout_examples_is_an_error(raw: RawDataset) -> None:
    tiny = dataclasses.replace(raw, x_heldout=raw.x_heldout[:1], y_heldout=raw.y_heldout[:1])
    with usage_error(r"has 1 held-out examples; at least 2"):
        make_splits(tiny)


def test_splits_fingerprint(raw: RawDataset) -> None:
    base = splits_fingerprint(make_splits(raw, "0.1", 1))
    assert base == splits_fingerprint(make_splits(raw, "0.1", 1))
    assert len(base) == 64
    assert base != splits_fingerprint(make_splits(raw, "0.1", 2))
    assert base != splits_fingerprint(make_splits(raw, "0.2", 1))
    same_indices = dataclasses.replace(make_splits(raw, "0.1", 1), forget_spec="0.10")
    assert base != splits_fingerprint(same_indices)


def test_dataset_fingerprint_follows_content(raw: RawDataset) -> None:
    base = fingerprint(raw)
    assert base == fingerprint(Fake().load("unused")) and len(base) == 64
    changed = raw.x_heldout.clone()
    changed[5, 0, 0, 0] ^= 1
    assert fingerprint(dataclasses.replace(raw, x_heldout=changed)) != base
    assert fingerprint(dataclasses.replace(raw, name="other")) != base
    assert fingerprint(dataclasses.replace(raw, std=(0.5, 0.5, 0.5))) != base
    # Same bytes in another shape is other data.
    reshaped = raw.x_train.reshape(256, 3, 4, 16)
    assert fingerprint(dataclasses.replace(raw, x_train=reshaped)) != base


def test_split_tensors(raw: RawDataset) -> None:
    splits = make_splits(raw, "class:1")
    data = split_tensors(raw, splits, torch.device("cpu"))
    assert set(data) == {"forget", "retain", "test", "val", "train"}
    assert len(data["forget"]) == len(splits.forget) and len(data["train"]) == 256
    assert torch.equal(data["forget"].x, raw.x_train[torch.from_numpy(splits.forget)])
    assert torch.equal(data["val"].y, raw.y_heldout[torch.from_numpy(splits.val)])
    assert torch.equal(data["train"].y, raw.y_train)
    assert bool((data["forget"].y == 1).all()) and not bool((data["retain"].y == 1).any())
    for part in data.values():
        assert (part.mean, part.std) == (raw.mean, raw.std)
        assert (part.crop_padding, part.hflip) == (1, False)
        assert part.x.dtype == torch.uint8


# --- cifar10 -------------------------------------------------------------------------------------------


def cifar_arrays(n_train: int = 12, n_test: int = 6) -> dict[str, np.ndarray]:
    """A tiny, valid CIFAR-10-shaped dataset (HWC uint8, uint8 labels 0..9)."""
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }


def write_npz(path: Path, **arrays: Any) -> Path:
    """Save ``arrays`` as an uncompressed .npz at ``path``."""
    np.savez(path, **arrays)
    return path


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure a developer's UNLEARNBENCH_CIFAR10 does not leak into the tests."""
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_cifar_npz_loads_and_converts_to_chw(tmp_path: Path, no_env: None) -> None:
    arrays = cifar_arrays()
    path = write_npz(tmp_path / "c.npz", **arrays)
    data = CIFAR10().load(str(tmp_path), path=str(path))
    assert data.x_train.shape == (12, 3, 32, 32) and data.x_train.is_contiguous()
    assert data.x_train.dtype == torch.uint8 and data.y_train.dtype == torch.int64
    # Pixel (row 4, column 7) of image 3: channel c of CHW equals the c-th value of HWC.
    assert data.x_train[3, :, 4, 7].tolist() == arrays["x_train"][3, 4, 7].tolist()
    assert data.y_heldout.tolist() == arrays["y_test"].tolist()
    assert data.mean == (0.4914, 0.4822, 0.4465) and data.std == (0.2470, 0.2435, 0.2616)
    assert data.class_names[0] == "airplane" and data.class_names[9] == "truck"
    assert (data.crop_padding, data.hflip, data.num_classes) == (4, True, 10)
    assert data.source == str(path.resolve())


def test_cifar_accepts_chw_images_and_keras_labels(tmp_path: Path, no_env: None) -> None:
    arrays = cifar_arrays()
    chw = {
        **arrays,
        "x_train": arrays["x_train"].transpose(0, 3, 1, 2).copy(),
        "y_test": arrays["y_test"][:, None],
    }
    data = CIFAR10().load(str(tmp_path), path=str(write_npz(tmp_path / "c.npz", **chw)))
    assert torch.equal(data.x_train, torch.from_numpy(chw["x_train"]))
    assert data.y_heldout.shape == (6,)


def test_cifar_subsets_take_the_first_examples(tmp_path: Path, no_env: None) -> None:
    arrays = cifar_arrays()
    path = write_npz(tmp_path / "c.npz", **arrays)
    data = CIFAR10().load(str(tmp_path), path=str(path), train_size=5, heldout_size="4")
    assert data.y_train.tolist() == [0, 1, 2, 3, 4] and len(data.y_heldout) == 4
    with usage_error(r"train_size=13 exceeds the 12 examples available"):
        CIFAR10().load(str(tmp_path), path=str(path), train_size=13)


def test_cifar_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    (cache / "datasets").mkdir(parents=True)
    write_npz(cache / "datasets" / "cifar10.npz", **cifar_arrays(n_train=10))
    env_file = write_npz(tmp_path / "env.npz", **cifar_arrays(n_train=11))
    option_file = write_npz(tmp_path / "opt.npz", **cifar_arrays(n_train=12))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert len(CIFAR10().load(str(cache)).y_train) == 10
    monkeypatch.setenv(ENV_VAR, str(env_file))
    assert len(CIFAR10().load(str(cache)).y_train) == 11
    assert len(CIFAR10().load(str(cache), path=str(option_file)).y_train) == 12
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone.npz"))
    with usage_error(rf"gone.npz \(from {ENV_VAR}\) does not exist"):
        CIFAR10().load(str(cache))


def test_cifar_missing_everywhere_says_how_to_provide_it(tmp_path: Path, no_env: None) -> None:
    hint = r"CIFAR-10 not found: pass --data-path FILE.npz \(the dataset option path; keys x_train, "
    with usage_error(hint) as info:
        CIFAR10().load(str(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    assert f"set {ENV_VAR}=FILE.npz" in message and "--dataset-option download=true" in message
    assert str(tmp_path / "datasets" / "cifar10.npz") in message


def test_cifar_missing_path_option_names_the_file(tmp_path: Path, no_env: None) -> None:
    with usage_error(r"CIFAR-10 file .*nothing.npz does not exist"):
        CIFAR10().load(str(tmp_path), path=str(tmp_path / "nothing.npz"))


def test_cifar_rejects_bad_options(tmp_path: Path, no_env: None) -> None:
    with usage_error(r"Unknown option 'size' for dataset 'cifar10'"):
        CIFAR10().load(str(tmp_path), size=3)
    with usage_error(r"download='perhaps' must be true or false"):
        CIFAR10().load(str(tmp_path), download="perhaps")


def _bad(**changes: Any) -> dict[str, Any]:
    arrays: dict[str, Any] = dict(cifar_arrays())
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        (_bad(y_test=None), r"lacks key\(s\) y_test \(it has: "),
        (_bad(x_train=None, x_test=None), r"lacks key\(s\) x_train, x_test"),
        (
            _bad(x_train=np.zeros((4, 28, 28, 3), np.uint8)),
            r"x_train has shape \(4, 28, 28, 3\), expected N×32×32×3",
        ),
        (_bad(x_test=np.zeros((4, 32, 32), np.uint8)), r"x_test has shape \(4, 32, 32\)"),
        (
            _bad(x_train=np.zeros((12, 32, 32, 3), np.float32)),
            r"x_train has dtype float32, expected uint8 images",
        ),
        (_bad(y_train=np.zeros(12, np.float64)), r"y_train has dtype float64, expected integer labels"),
        (_bad(y_train=np.zeros((12, 2), np.int64)), r"y_train has shape \(12, 2\), expected \(N,\) labels"),
        (_bad(y_train=np.full(12, 10, np.int64)), r"y_train has label 10, expected labels in 0\.\.9"),
        (_bad(y_test=np.full(6, -1, np.int64)), r"y_test has label -1, expected labels in 0\.\.9"),
        (_bad(y_train=np.zeros(11, np.uint8)), r"x_train has 12 images but y_train has 11 labels"),
        (_bad(x_test=np.zeros((0, 32, 32, 3), np.uint8), y_test=np.zeros(0, np.uint8)), r"x_test is empty"),
    ],
)
def test_cifar_npz_validation(tmp_path: Path, arrays: dict[str, Any], match: str) -> None:
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with usage_error(f"CIFAR-10 file {tmp_path}{os.sep}bad.npz.*{match}") as info:
        load_npz(path)
    assert "\n" not in str(info.value)


def test_cifar_unreadable_files(tmp_path: Path) -> None:
    text = tmp_path / "text.npz"
    text.write_text("not a zip file\n")
    with usage_error(r"text.npz is not a readable .npz"):
        load_npz(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3, np.uint8))
    with usage_error(r"single.npy holds a single array, not an .npz"):
        load_npz(single)
    pickled = tmp_path / "pickled.npz"
    arrays: dict[str, Any] = {**cifar_arrays(), "y_train": np.array([1, "a"], dtype=object)}
    np.savez(pickled, **arrays)
    with usage_error(r"pickled.npz is not a readable .npz: .*allow_pickle") as info:
        load_npz(pickled)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def real_cifar() -> RawDataset:
    """The real CIFAR-10 from the shared data folder, loaded once (skips where it is absent)."""
    if not REAL_CIFAR.is_file():
        pytest.skip(f"real CIFAR-10 not available at {REAL_CIFAR}")
    return CIFAR10().load("unused", path=str(REAL_CIFAR))


@pytest.mark.cifar
def test_real_cifar10_matches_its_readme(real_cifar: RawDataset) -> None:
    raw = real_cifar
    assert raw.x_train.shape == (50_000, 3, 32, 32) and raw.x_heldout.shape == (10_000, 3, 32, 32)
    assert raw.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert raw.y_heldout[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert torch.bincount(raw.y_train).tolist() == [5000] * 10
    assert torch.bincount(raw.y_heldout).tolist() == [1000] * 10
    # Exact per-channel moments in integer arithmetic, a chunk at a time to bound memory.
    total = torch.zeros(3, dtype=torch.int64)
    squares = torch.zeros(3, dtype=torch.int64)
    for chunk in raw.x_train.split(5000):
        values = chunk.to(torch.int64)
        total += values.sum(dim=(0, 2, 3))
        squares += (values * values).sum(dim=(0, 2, 3))
    count = 50_000 * 32 * 32
    mean = total.double() / count / 255
    std = (squares.double() / count / 255**2 - mean**2).sqrt()
    assert mean.tolist() == pytest.approx(raw.mean, abs=5e-5)
    assert std.tolist() == pytest.approx(raw.std, abs=5e-5)
    splits = make_splits(raw)
    assert (len(splits.forget), len(splits.retain), len(splits.test), len(splits.val)) == (
        5000,
        45000,
        5000,
        5000,
    )


def test_digits_arrays_are_scikit_learns_load_digits() -> None:
    """Read from the shipped file without importing scikit-learn, they equal load_digits() exactly."""
    from sklearn.datasets import load_digits

    images, target = digits.digits_arrays()
    bunch = load_digits()
    assert images.dtype == np.float64 and target.dtype == np.int64
    assert np.array_equal(images, bunch.images) and np.array_equal(target, bunch.target)
