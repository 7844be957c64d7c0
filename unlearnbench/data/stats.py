"""Dataset statistics for the report's dataset section and ``unlearnbench data``: small and JSON-able.

:func:`dataset_statistics` summarises a :class:`~unlearnbench.api.RawDataset` and its
:class:`~unlearnbench.api.Splits`: class counts per split, per-channel mean and standard deviation, the
mean image per channel (average-pooled down to at most :data:`MEAN_IMAGE_SIDE` pixels a side), a grayscale
histogram and a few sample images per class as PNG data URIs. Everything is computed in chunks from the
uint8 tensors (CIFAR-10's 150 MB never becomes a 1.2 GB float copy), and the whole dict stays well under
200 KB of JSON: the sample images are added round-robin across classes until a byte budget is spent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unlearnbench.api import RawDataset, Splits
from unlearnbench.png import png_data_uri

__all__ = [
    "GRAY_BINS",
    "MEAN_IMAGE_SIDE",
    "SAMPLES_PER_CLASS",
    "SAMPLE_BUDGET",
    "STATS_VERSION",
    "channel_statistics",
    "class_counts",
    "dataset_statistics",
    "gray_histogram",
    "grayscale",
    "mean_image",
    "sample_images",
]

STATS_VERSION = 1
#: Bins of the grayscale histogram over 0..255 (four intensity levels each).
GRAY_BINS = 64
#: Largest side of the stored mean image; larger images are average-pooled down to it.
MEAN_IMAGE_SIDE = 16
SAMPLES_PER_CLASS = 8
#: Bytes of data URIs the sample images may take in results.json.
SAMPLE_BUDGET = 140_000
#: ITU-R BT.601 luma weights (per mille): the usual "grayscale" of an RGB image.
_LUMA = (299, 587, 114)
_CHUNK = 4096

SPLIT_ORDER: tuple[str, ...] = ("forget", "retain", "test", "val")


def class_counts(raw: RawDataset, splits: Splits) -> dict[str, list[int]]:
    """Examples per class in each split (forget/retain index the training set, test/val the held-out set)."""
    y_train = raw.y_train.cpu().numpy()
    y_held = raw.y_heldout.cpu().numpy()
    out: dict[str, list[int]] = {}
    for split in SPLIT_ORDER:
        source = y_held if split in ("test", "val") else y_train
        labels = source[np.asarray(getattr(splits, split), dtype=np.int64)]
        out[split] = [int(c) for c in np.bincount(labels, minlength=raw.num_classes)[: raw.num_classes]]
    return out


def _numpy(x: torch.Tensor) -> np.ndarray:
    """A CPU uint8 tensor as a numpy view (no copy)."""
    return np.asarray(x.detach().cpu().numpy())


def _chunks(x: np.ndarray) -> Any:
    for start in range(0, int(x.shape[0]), _CHUNK):
        yield x[start : start + _CHUNK]


def channel_statistics(x: torch.Tensor) -> dict[str, list[float]]:
    """Per-channel mean and population std of uint8 images (N, C, H, W), in [0, 1] units, plus min and max.

    Computed exactly from each channel's 256-level histogram: one integer pass, no float copy of the data.
    """
    images = _numpy(x)
    channels = int(images.shape[1])
    if images.shape[0] == 0:
        raise ValueError("channel statistics of an empty image set are undefined")
    hist = np.zeros((channels, 256), dtype=np.int64)
    for chunk in _chunks(images):
        for c in range(channels):
            hist[c] += np.bincount(chunk[:, c].ravel(), minlength=256)
    levels = np.arange(256, dtype=np.float64)
    out: dict[str, list[float]] = {"mean": [], "std": [], "min": [], "max": []}
    for counts in hist:
        total = counts.sum()
        mean = float((counts * levels).sum() / total)
        var = float((counts * (levels - mean) ** 2).sum() / total)
        present = np.flatnonzero(counts)
        out["mean"].append(round(mean / 255.0, 6))
        out["std"].append(round(var**0.5 / 255.0, 6))
        out["min"].append(round(float(present[0]) / 255.0, 6))
        out["max"].append(round(float(present[-1]) / 255.0, 6))
    return out


def _pool(image: np.ndarray, side: int) -> np.ndarray:
    """Average-pool a (C, H, W) array so that its larger side is at most ``side`` (integer factor)."""
    channels, height, width = image.shape
    factor = max(1, int(np.ceil(max(height, width) / side)))
    if factor == 1:
        return image
    h, w = height // factor, width // factor
    blocks = image[:, : h * factor, : w * factor].reshape(channels, h, factor, w, factor)
    pooled: np.ndarray = blocks.mean(axis=(2, 4))
    return pooled


def mean_image(x: torch.Tensor, side: int = MEAN_IMAGE_SIDE) -> dict[str, Any]:
    """The mean intensity per pixel position and channel, in [0, 1], pooled to at most ``side`` a side.

    ``values`` is [channel][row][column]; ``factor`` is the pooling factor (1: full resolution).
    """
    images = _numpy(x)
    if images.shape[0] == 0:
        raise ValueError("the mean image of an empty image set is undefined")
    total = np.zeros(images.shape[1:], dtype=np.int64)
    for chunk in _chunks(images):
        total += chunk.sum(axis=0, dtype=np.int64)
    pooled = _pool(total / images.shape[0] / 255.0, side)
    return {
        "values": [[[round(float(v), 4) for v in row] for row in channel] for channel in pooled],
        "factor": int(images.shape[-1] // pooled.shape[-1]),
    }


def grayscale(chunk: np.ndarray) -> np.ndarray:
    """Gray levels ×1000 (int32) of uint8 images (N, C, H, W): BT.601 luma of RGB, else the channel mean.

    Integer weights (299, 587, 114) make the luma exact, so a bin edge never depends on float rounding;
    255 000 fits int32, which halves the memory traffic of int64.
    """
    if chunk.shape[1] == 3:
        weighted: np.ndarray = chunk[:, 0].astype(np.int32) * _LUMA[0]
        weighted += chunk[:, 1].astype(np.int32) * _LUMA[1]
        weighted += chunk[:, 2].astype(np.int32) * _LUMA[2]
        return weighted
    mean: np.ndarray = chunk.sum(axis=1, dtype=np.int32) * 1000 // chunk.shape[1]
    return mean


def gray_histogram(x: torch.Tensor, bins: int = GRAY_BINS) -> dict[str, Any]:
    """Counts of pixel gray levels in ``bins`` equal bins over [0, 256)."""
    counts = np.zeros(bins, dtype=np.int64)
    for chunk in _chunks(_numpy(x)):
        index = np.clip(grayscale(chunk).ravel() * bins // 256_000, 0, bins - 1)
        counts += np.bincount(index, minlength=bins)
    return {"bins": bins, "lo": 0, "hi": 256, "counts": [int(c) for c in counts]}


def _image_uri(image: np.ndarray) -> str:
    """PNG data URI of one (C, H, W) uint8 image; channel counts other than 1 and 3 are shown as gray."""
    channels = image.shape[0]
    if channels == 3:
        return png_data_uri(np.transpose(image, (1, 2, 0)).tolist(), 3)
    gray = image[0] if channels == 1 else np.round(image.mean(axis=0)).astype(np.uint8)
    return png_data_uri(gray.tolist(), 1)


def sample_images(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    per_class: int = SAMPLES_PER_CLASS,
    budget: int = SAMPLE_BUDGET,
) -> list[list[str]]:
    """Up to ``per_class`` images of each class as PNG data URIs: the first ones of that class by index.

    Images are taken round-robin (one per class, then the second of each, ...) until ``budget`` bytes of
    URIs are spent, so every class gets the same number of samples whatever the image size.
    """
    labels = y.cpu().numpy()
    firsts = [np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)]
    out: list[list[str]] = [[] for _ in range(num_classes)]
    spent = 0
    for rank in range(per_class):
        row = [(c, int(idx[rank])) for c, idx in enumerate(firsts) if rank < idx.size]
        if not row:
            break
        uris = [(c, _image_uri(x[i].detach().cpu().numpy())) for c, i in row]
        cost = sum(len(uri) for _, uri in uris)
        if rank > 0 and spent + cost > budget:
            break
        for c, uri in uris:
            out[c].append(uri)
        spent += cost
    return out


def dataset_statistics(raw: RawDataset, splits: Splits) -> dict[str, Any]:
    """Everything the dataset pictures need (see the module docstring)."""
    return {
        "version": STATS_VERSION,
        "image_shape": [raw.in_channels, int(raw.x_train.shape[-2]), int(raw.x_train.shape[-1])],
        "class_names": [str(n) for n in raw.class_names],
        "class_counts": class_counts(raw, splits),
        "channels": {"train": channel_statistics(raw.x_train), "heldout": channel_statistics(raw.x_heldout)},
        "mean_image": mean_image(raw.x_train),
        "gray_histogram": gray_histogram(raw.x_train),
        "samples": sample_images(raw.x_train, raw.y_train, raw.num_classes),
    }
