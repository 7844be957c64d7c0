"""The ``cifar100`` dataset: CIFAR-100 (the 100 fine labels) from a local ``.npz``.

The small-scale protocol's reference pre-trains its backbone on CIFAR-100 (docs/reproductions.md); a user who
has it points the ``backbone`` table at this dataset instead of the CIFAR-10 stand-in:
``[backbone] dataset = "cifar100"`` and ``dataset_options = { path = "cifar100.npz" }``.

Where the data comes from, first match wins: the ``path`` option; the environment variable
``UNLEARNBENCH_CIFAR100``; ``<cache_dir>/datasets/cifar100.npz``. The file has the keys ``x_train``,
``y_train``, ``x_test``, ``y_test`` (uint8 images N×32×32×3 or N×3×32×32, fine labels 0..99), validated as
strictly as CIFAR-10's. Nothing is downloaded. Options ``train_size`` / ``heldout_size`` keep the first n.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from unlearnbench.api import RawDataset
from unlearnbench.data.cifar10 import colour_dataset, load_npz, take_first
from unlearnbench.data.splits import check_options
from unlearnbench.errors import UsageError
from unlearnbench.hookspec import hookimpl

__all__ = ["CIFAR100", "ENV_VAR", "MEAN", "STD"]

ENV_VAR = "UNLEARNBENCH_CIFAR100"
#: Per-channel mean and std of the 50,000 CIFAR-100 training images, in [0, 1] units.
MEAN: tuple[float, float, float] = (0.5071, 0.4865, 0.4409)
STD: tuple[float, float, float] = (0.2673, 0.2564, 0.2762)
_OPTIONS = ("path", "train_size", "heldout_size")


def find_file(cache_dir: str, path: str | None) -> Path:
    """The CIFAR-100 file: ``path``, then the environment variable, then the cache; one line when absent."""
    if path:
        return Path(path)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env)
    cached = Path(cache_dir) / "datasets" / "cifar100.npz"
    if cached.is_file():
        return cached
    raise UsageError(
        f"CIFAR-100 not found: pass the dataset option path=FILE.npz (keys x_train, y_train, x_test, y_test), "
        f"set {ENV_VAR}=FILE.npz or put the file at {cached}"
    )


class CIFAR100:
    """CIFAR-100: 60,000 32×32 colour images in 100 classes (50,000 train, 10,000 test)."""

    name: ClassVar[str] = "cifar100"
    description: ClassVar[str] = "CIFAR-100: 60,000 32x32 colour images in 100 classes (Krizhevsky 2009), from an .npz"
    default_model: ClassVar[str] = "resnet18"
    default_epochs: ClassVar[int] = 30

    def load(self, cache_dir: str, **options: Any) -> RawDataset:
        """Load CIFAR-100; options ``path``, ``train_size`` and ``heldout_size``."""
        check_options(self.name, options, _OPTIONS)
        path = options.get("path")
        file = find_file(cache_dir, str(path) if path else None)
        x_train, y_train, x_test, y_test = load_npz(file, classes=100, what="CIFAR-100")
        x_train, y_train = take_first(self.name, "train_size", options.get("train_size"), x_train, y_train)
        x_test, y_test = take_first(self.name, "heldout_size", options.get("heldout_size"), x_test, y_test)
        names = tuple(f"class {i}" for i in range(100))
        return colour_dataset(self.name, (x_train, y_train, x_test, y_test), names, (MEAN, STD), str(file.resolve()))


@hookimpl
def unlearnbench_add_datasets() -> list[type]:
    """Register the ``cifar100`` dataset."""
    return [CIFAR100]
