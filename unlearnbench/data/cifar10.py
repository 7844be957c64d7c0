"""The ``cifar10`` dataset: CIFAR-10 from a local ``.npz`` file or torchvision's copy.

Where the data comes from, first match wins:

1. the ``path`` option: an ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (uint8 images
   N×32×32×3 as NumPy/Keras users have them, or N×3×32×32; integer labels 0..9);
2. the environment variable ``UNLEARNBENCH_CIFAR10``: the path of such a file;
3. ``<cache_dir>/datasets/cifar10.npz`` if it exists;
4. ``torchvision.datasets.CIFAR10(root=<cache_dir>/datasets, download=<download option>)``.

Every file is validated strictly, so a wrong file fails with one line naming it and the problem instead
of a shape error deep inside training. Options ``train_size`` / ``heldout_size`` keep only the first n
examples of each part (quick runs). Normalisation uses the true per-channel statistics of the training
set (std 0.2470, 0.2435, 0.2616). The NeurIPS 2023 starting kit used the widely copied std (0.2023,
0.1994, 0.2010, :data:`KIT_STD`), which is not CIFAR-10's std; it only rescales the inputs, but models
normalised one way are not interchangeable with models normalised the other.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnbench.api import RawDataset
from unlearnbench.data.splits import bool_option, check_options, int_option
from unlearnbench.errors import UsageError
from unlearnbench.hookspec import hookimpl

ENV_VAR = "UNLEARNBENCH_CIFAR10"
CLASS_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
#: Per-channel mean and (true, population) std of the 50,000 training images, in [0, 1] units.
MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
#: The std the NeurIPS 2023 starting kit used (copied from older code; not CIFAR-10's std).
KIT_STD: tuple[float, float, float] = (0.2023, 0.1994, 0.2010)
NPZ_KEYS: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")
_OPTIONS = ("path", "train_size", "heldout_size", "download", "classes")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def how_to_provide(cache_dir: str) -> str:
    """The one-line hint that lists every way to give the bench CIFAR-10."""
    default = Path(cache_dir) / "datasets" / "cifar10.npz"
    return (
        "CIFAR-10 not found: pass --data-path FILE.npz "
        f"(the dataset option path; keys {', '.join(NPZ_KEYS)}), "
        f"set {ENV_VAR}=FILE.npz, put the file at {default}, or pass --dataset-option download=true"
    )


def load_npz(path: str | os.PathLike[str], classes: int = 10, what: str = "CIFAR-10") -> Arrays:
    """Read and validate a CIFAR-10 ``.npz`` (or another 32×32 colour set with labels 0 … ``classes`` − 1,
    called ``what`` in messages); images come back as uint8 N×3×32×32, labels as int64."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{what} file {file} does not exist")
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise UsageError(f"{what} file {file} holds a single array, not an .npz with keys {NPZ_KEYS}")
        with loaded as npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise UsageError(
                    f"{what} file {file} lacks key(s) {', '.join(missing)} (it has: {', '.join(npz.files)})"
                )
            arrays = {key: npz[key] for key in NPZ_KEYS}
    except UsageError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError(f"{what} file {file} is not a readable .npz: {reason}") from None
    x_train, y_train = validate_part(file, "x_train", arrays["x_train"], "y_train", arrays["y_train"], classes, what)
    x_test, y_test = validate_part(file, "x_test", arrays["x_test"], "y_test", arrays["y_test"], classes, what)
    return x_train, y_train, x_test, y_test


def validate_part(
    file: Path, x_key: str, x: np.ndarray, y_key: str, y: np.ndarray, classes: int = 10, what: str = "CIFAR-10"
) -> tuple[np.ndarray, np.ndarray]:
    """Check one (images, labels) pair; returns images N×3×32×32 uint8 and labels (N,) int64."""
    if x.ndim != 4 or x.shape[1:] not in ((32, 32, 3), (3, 32, 32)):
        raise UsageError(
            f"{what} file {file}: {x_key} has shape {x.shape}, expected N×32×32×3 or N×3×32×32"
        )
    if x.dtype != np.uint8:
        raise UsageError(f"{what} file {file}: {x_key} has dtype {x.dtype}, expected uint8 images (0..255)")
    # Keras ships labels as (N, 1); accept that and flatten.
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UsageError(f"{what} file {file}: {y_key} has shape {y.shape}, expected (N,) labels")
    if not np.issubdtype(y.dtype, np.integer):
        raise UsageError(f"{what} file {file}: {y_key} has dtype {y.dtype}, expected integer labels")
    if x.shape[0] != y.shape[0]:
        raise UsageError(
            f"{what} file {file}: {x_key} has {x.shape[0]} images but {y_key} has {y.shape[0]} labels"
        )
    if x.shape[0] == 0:
        raise UsageError(f"{what} file {file}: {x_key} is empty")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high > classes - 1:
        bad = low if low < 0 else high
        raise UsageError(f"{what} file {file}: {y_key} has label {bad}, expected labels in 0..{classes - 1}")
    if x.shape[-1] == 3:
        x = x.transpose(0, 3, 1, 2)
    return x, y.astype(np.int64)


def load_torchvision(root: Path, download: bool) -> Arrays:
    """CIFAR-10 through ``torchvision.datasets.CIFAR10`` (raises whatever torchvision raises)."""
    from torchvision.datasets import CIFAR10

    train = CIFAR10(root=str(root), train=True, download=download)
    test = CIFAR10(root=str(root), train=False, download=download)
    return (
        np.asarray(train.data, dtype=np.uint8).transpose(0, 3, 1, 2),
        np.asarray(train.targets, dtype=np.int64),
        np.asarray(test.data, dtype=np.uint8).transpose(0, 3, 1, 2),
        np.asarray(test.targets, dtype=np.int64),
    )


def resolve(cache_dir: str, path: str | None, download: bool) -> tuple[Arrays, str]:
    """Find the data (see the module docstring for the order); returns the arrays and their source."""
    if path:
        return load_npz(path), str(Path(path).resolve())
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        if not Path(env).is_file():
            raise UsageError(f"CIFAR-10 file {env} (from {ENV_VAR}) does not exist")
        return load_npz(env), str(Path(env).resolve())
    root = Path(cache_dir) / "datasets"
    cached = root / "cifar10.npz"
    if cached.is_file():
        return load_npz(cached), str(cached.resolve())
    try:
        arrays = load_torchvision(root, download)
    except Exception as exc:  # torchvision signals "absent" and "offline" with many exception types
        hint = how_to_provide(cache_dir)
        if download:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            hint += f" (download failed: {reason})"
        raise UsageError(hint) from None
    return arrays, f"torchvision.datasets.CIFAR10 ({root})"


def take_first(
    dataset: str, key: str, value: Any, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``value`` examples (all of them when ``value`` is None)."""
    if value is None:
        return x, y
    count = int_option(dataset, key, value, minimum=1)
    if count > x.shape[0]:
        raise UsageError(
            f"Dataset {dataset!r} option {key}={count} exceeds the {x.shape[0]} examples available"
        )
    return x[:count], y[:count]


class CIFAR10:
    """CIFAR-10: 60,000 32×32 colour images in 10 classes (50,000 train, 10,000 test)."""

    name: ClassVar[str] = "cifar10"
    description: ClassVar[str] = (
        "CIFAR-10: 60,000 32x32 colour images in 10 classes (Krizhevsky 2009), from an .npz or torchvision"
    )
    default_model: ClassVar[str] = "resnet18"
    #: The seed protocol never stated its epoch count. 30 epochs of the seed recipe (SGD 0.1, cosine,
    #: batch 128, crop + flip) is an estimate for ResNet-18 with the ImageNet stem to approach the kit's
    #: ~88 % test accuracy; override it with ``--epochs``.
    default_epochs: ClassVar[int] = 30

    def load(self, cache_dir: str, **options: Any) -> RawDataset:
        """Load CIFAR-10; options ``path``, ``train_size``, ``heldout_size``, ``download`` (default false) and
        ``classes`` (e.g. ``"5-9"`` or ``"5,6,7"``: only those classes, relabelled 0, 1, … in that order)."""
        check_options(self.name, options, _OPTIONS)
        download = bool_option(self.name, "download", options.get("download", False))
        path = options.get("path")
        (x_train, y_train, x_test, y_test), source = resolve(cache_dir, str(path) if path else None, download)
        x_train, y_train = take_first(self.name, "train_size", options.get("train_size"), x_train, y_train)
        x_test, y_test = take_first(self.name, "heldout_size", options.get("heldout_size"), x_test, y_test)
        names = CLASS_NAMES
        if options.get("classes") is not None:
            kept = parse_classes(self.name, options["classes"])
            x_train, y_train = keep_classes(x_train, y_train, kept)
            x_test, y_test = keep_classes(x_test, y_test, kept)
            names = tuple(CLASS_NAMES[c] for c in kept)
        return colour_dataset(self.name, (x_train, y_train, x_test, y_test), names, (MEAN, STD), source)


def colour_dataset(
    name: str, arrays: Arrays, class_names: tuple[str, ...], statistics: tuple[tuple[float, ...], ...], source: str
) -> RawDataset:
    """A 32×32 colour :class:`RawDataset` (crop padding 4, flips) from validated arrays and (mean, std)."""
    x_train, y_train, x_test, y_test = arrays
    mean, std = statistics
    return RawDataset(
        name=name,
        # Contiguous copies: the transposed views of HWC files would slow every batch gather.
        x_train=torch.from_numpy(np.ascontiguousarray(x_train)),
        y_train=torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.int64)),
        x_heldout=torch.from_numpy(np.ascontiguousarray(x_test)),
        y_heldout=torch.from_numpy(np.ascontiguousarray(y_test, dtype=np.int64)),
        num_classes=len(class_names),
        class_names=class_names,
        mean=mean,
        std=std,
        crop_padding=4,
        hflip=True,
        source=source,
    )


def parse_classes(dataset: str, value: Any) -> tuple[int, ...]:
    """``"5-9"``, ``"5,7"`` or a list of ints → the sorted distinct CIFAR-10 classes; one line when malformed."""
    text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    classes: set[int] = set()
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            low, _, high = part.partition("-")
            classes.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise UsageError(f"dataset {dataset!r}: option classes must look like 5-9 or 5,7, got {value!r}") from None
    if not classes or min(classes) < 0 or max(classes) > 9:
        raise UsageError(f"dataset {dataset!r}: option classes must name classes 0-9, got {value!r}")
    return tuple(sorted(classes))


def keep_classes(x: np.ndarray, y: np.ndarray, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The examples of ``classes``, relabelled 0 … len(classes) − 1 in the order given."""
    mask = np.isin(y, classes)
    relabel = {c: i for i, c in enumerate(classes)}
    return x[mask], np.asarray([relabel[int(c)] for c in y[mask]], dtype=np.int64)


@hookimpl
def unlearnbench_add_datasets() -> list[type]:
    """Register the ``cifar10`` dataset."""
    return [CIFAR10]
