"""Splitting a dataset into forget / retain / test / validation, and content fingerprints.

Splits are plain sorted index arrays (see :class:`unlearnbench.api.Splits`), drawn from explicit seeded
generators so they never depend on global RNG state. The held-out set is split as the seed protocol does
(``torch.utils.data.random_split`` of the 10,000 CIFAR-10 test images with ``manual_seed(42)``): one
seeded permutation, the first half is the test split, the second half the validation split.

The module also holds the helpers every dataset plugin shares: :func:`fingerprint` (the content key of a
:class:`~unlearnbench.api.RawDataset` used by the cache) and the coercion of dataset options, which may
arrive as strings from the command line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from unlearnbench.api import RawDataset, Splits
from unlearnbench.data.pipeline import TensorData
from unlearnbench.errors import UsageError

#: Added to the split seed for the forget draw, so the test/validation halves do not change with the
#: forget specification and the two draws are independent.
_FORGET_SEED_OFFSET = 1_000_003

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def make_splits(raw: RawDataset, forget: str = "0.1", seed: int = 42) -> Splits:
    """Draw the four splits of ``raw`` under ``seed``.

    ``forget`` is either a fraction of the training set (``"0.1"``: ``round(0.1 * N)`` examples drawn
    uniformly at random), whole classes (``"class:3"``, ``"class:3,5"``: every training example of
    those classes) or ``"reference"`` (the dataset's own forget set, ``RawDataset.reference_forget``).
    A dataset with ``test_count`` fixes its test / validation partition. The retain split is every other
    training example. Raises :class:`UsageError` with one line for a malformed specification or an empty
    forget or retain split.
    """
    spec = str(forget).strip()
    n_train = int(raw.y_train.shape[0])
    labels = raw.y_train.cpu().numpy()
    if spec == "reference":
        if not raw.reference_forget:
            raise UsageError(f"--forget reference: dataset {raw.name!r} defines no forget set of its own")
        forget_idx = np.unique(np.asarray(raw.reference_forget, dtype=np.int64))
    elif spec.startswith("class:"):
        classes = _parse_classes(spec, raw.num_classes)
        mask = np.isin(labels, np.asarray(classes, dtype=np.int64))
        forget_idx = np.flatnonzero(mask).astype(np.int64)
        if forget_idx.size == 0:
            names = ",".join(str(c) for c in classes)
            raise UsageError(
                f"Forget set is empty: dataset {raw.name!r} has no training examples of class {names}"
            )
    else:
        fraction = _parse_fraction(spec)
        count = int(round(fraction * n_train))
        if count == 0:
            raise UsageError(
                f"Forget set is empty: fraction {spec} of {n_train} training examples rounds to 0"
            )
        generator = torch.Generator().manual_seed(int(seed) + _FORGET_SEED_OFFSET)
        order = torch.randperm(n_train, generator=generator).numpy()
        forget_idx = np.sort(order[:count]).astype(np.int64)
    keep = np.ones(n_train, dtype=bool)
    keep[forget_idx] = False
    retain_idx = np.flatnonzero(keep).astype(np.int64)
    if retain_idx.size == 0:
        raise UsageError(f"Retain set is empty: forget spec {spec!r} covers all {n_train} training examples")
    n_heldout = int(raw.y_heldout.shape[0])
    if raw.test_count is not None:  # the protocol's own partition
        test_idx = np.arange(raw.test_count, dtype=np.int64)
        val_idx = np.arange(raw.test_count, n_heldout, dtype=np.int64)
    else:
        test_idx, val_idx = _split_heldout(n_heldout, int(seed), raw.name)
    return Splits(
        forget=forget_idx, retain=retain_idx, test=test_idx, val=val_idx, forget_spec=spec, seed=int(seed)
    )


def _parse_fraction(spec: str) -> float:
    """The fraction in a ``"0.1"`` forget spec, validated to lie strictly between 0 and 1."""
    try:
        fraction = float(spec)
    except ValueError:
        raise UsageError(
            f"Invalid forget spec {spec!r}: expected a fraction such as 0.1, or class:N or class:N,M"
        ) from None
    if not 0.0 < fraction < 1.0:  # also rejects nan
        raise UsageError(f"Invalid forget fraction {spec}: must be strictly between 0 and 1")
    return fraction


def _parse_classes(spec: str, num_classes: int) -> list[int]:
    """The sorted, de-duplicated class ids in a ``"class:N,M"`` forget spec."""
    body = spec[len("class:") :]
    parts = [p.strip() for p in body.split(",")]
    if not body.strip() or any(not p for p in parts):
        raise UsageError(f"Invalid forget spec {spec!r}: expected class:N or class:N,M with integer classes")
    classes: set[int] = set()
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise UsageError(
                f"Invalid forget spec {spec!r}: class {part!r} is not an integer "
                f"(valid classes: 0..{num_classes - 1})"
            ) from None
        if not 0 <= value < num_classes:
            raise UsageError(
                f"Invalid forget spec {spec!r}: class {value} is out of range "
                f"(valid classes: 0..{num_classes - 1})"
            )
        classes.add(value)
    return sorted(classes)


def _split_heldout(n: int, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted test and validation indices: the first and second half of a seeded permutation.

    With an odd count the test half gets the extra example, as ``random_split(..., [0.5, 0.5])`` does.
    """
    if n < 2:
        raise UsageError(
            f"Dataset {name!r} has {n} held-out examples; at least 2 are needed for test and val"
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator).numpy()
    n_test = n - n // 2
    return np.sort(order[:n_test]).astype(np.int64), np.sort(order[n_test:]).astype(np.int64)


def splits_fingerprint(splits: Splits) -> str:
    """A sha256 hex digest of the split indices, the forget spec and the seed (a cache key part)."""
    h = hashlib.sha256()
    h.update(f"splits|{splits.forget_spec}|{splits.seed}".encode())
    for name in ("forget", "retain", "test", "val"):
        index = np.ascontiguousarray(getattr(splits, name), dtype=np.int64)
        h.update(f"|{name}:{index.size}|".encode())
        h.update(index.tobytes())
    return h.hexdigest()


def split_tensors(
    raw: RawDataset, splits: Splits, device: torch.device | str = "cpu"
) -> dict[str, TensorData]:
    """The splits as :class:`TensorData` on ``device``: keys forget, retain, test, val and train.

    ``train`` is the whole training set (forget + retain), the data of the original model. Every split
    carries the dataset's normalisation and augmentation settings.
    """
    x_train = raw.x_train.to(device)
    y_train = raw.y_train.to(device)
    x_held = raw.x_heldout.to(device)
    y_held = raw.y_heldout.to(device)

    def make(x: torch.Tensor, y: torch.Tensor, index: np.ndarray | None) -> TensorData:
        if index is not None:
            idx = torch.as_tensor(np.asarray(index, dtype=np.int64), device=x.device)
            x, y = x.index_select(0, idx), y.index_select(0, idx)
        return TensorData(x, y, tuple(raw.mean), tuple(raw.std), raw.crop_padding, raw.hflip)

    return {
        "forget": make(x_train, y_train, splits.forget),
        "retain": make(x_train, y_train, splits.retain),
        "test": make(x_held, y_held, splits.test),
        "val": make(x_held, y_held, splits.val),
        "train": make(x_train, y_train, None),
    }


def fingerprint(raw: RawDataset) -> str:
    """A sha256 hex digest of a dataset's content: name, shapes, dtypes and the bytes of its four tensors.

    The normalisation constants and augmentation settings are included too, because they change what a
    model trained on the data learns, so a cached checkpoint must not be reused across them.
    """
    h = hashlib.sha256()
    h.update(
        f"dataset|{raw.name}|{raw.num_classes}|{raw.mean}|{raw.std}|{raw.crop_padding}|{raw.hflip}".encode()
    )
    for key in ("x_train", "y_train", "x_heldout", "y_heldout"):
        array = np.ascontiguousarray(getattr(raw, key).detach().cpu().numpy())
        h.update(f"|{key}:{array.dtype.str}:{array.shape}|".encode())
        # Hashing the buffer directly avoids a copy of the (possibly 150 MB) image array.
        h.update(array.data)
    return h.hexdigest()


def check_options(dataset: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Raise :class:`UsageError` if ``options`` holds a key that dataset ``dataset`` does not accept."""
    valid = sorted(allowed)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(valid) if valid else "none"
        raise UsageError(f"Unknown option {unknown[0]!r} for dataset {dataset!r} (valid options: {listed})")


def int_option(dataset: str, key: str, value: Any, minimum: int | None = None) -> int:
    """``value`` as an int (strings from the command line are parsed), at least ``minimum``."""
    if isinstance(value, bool):
        raise UsageError(f"Dataset {dataset!r} option {key}={value!r} must be an integer")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise UsageError(f"Dataset {dataset!r} option {key}={value!r} must be an integer")
    if minimum is not None and number < minimum:
        raise UsageError(f"Dataset {dataset!r} option {key}={number} must be at least {minimum}")
    return number


def bool_option(dataset: str, key: str, value: Any) -> bool:
    """``value`` as a bool; accepts true/false, yes/no, on/off, 1/0 in any case."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"Dataset {dataset!r} option {key}={value!r} must be true or false")


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images (N, C, H, W), in [0, 1] units."""
    values = x.detach().to(torch.float64).div(255.0).transpose(0, 1).reshape(x.shape[1], -1)
    mean = values.mean(dim=1)
    std = values.std(dim=1, unbiased=False).clamp_min(1e-6)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
