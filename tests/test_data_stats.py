"""Dataset statistics for the report and ``unlearnbench data``: by hand, and on the fake and digits data."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from unlearnbench.api import RawDataset
from unlearnbench.data.digits import Digits
from unlearnbench.data.fake import Fake
from unlearnbench.data.splits import channel_stats, make_splits
from unlearnbench.data.stats import (
    channel_statistics,
    class_counts,
    dataset_statistics,
    gray_histogram,
    mean_image,
    sample_images,
)
from unlearnbench.png import encode_png, is_png_data_uri, png_data_uri


def _decode(uri: str) -> np.ndarray:
    assert is_png_data_uri(uri)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def fake() -> RawDataset:
    return Fake().load("unused")


def test_channel_statistics_by_hand() -> None:
    # Channel 0 holds 0, 255, 255, 255 (in [0, 1]: mean 0.75, population std sqrt(0.1875)); channel 1 is flat.
    x = torch.tensor([[[[0, 255]], [[10, 10]]], [[[255, 255]], [[10, 10]]]], dtype=torch.uint8)
    stats = channel_statistics(x)
    assert stats["mean"] == pytest.approx([0.75, 10 / 255], abs=1e-6)
    assert stats["std"] == pytest.approx([0.1875**0.5, 0.0], abs=1e-6)
    assert stats["min"] == pytest.approx([0.0, 10 / 255], abs=1e-6)
    assert stats["max"] == pytest.approx([1.0, 10 / 255], abs=1e-6)


def test_channel_statistics_match_the_normalisation(fake: RawDataset) -> None:
    stats = channel_statistics(fake.x_train)
    mean, std = channel_stats(fake.x_train)
    assert stats["mean"] == pytest.approx(list(mean), abs=1e-6)
    assert stats["std"] == pytest.approx(list(std), abs=1e-6)


def test_mean_image_by_hand() -> None:
    x = torch.zeros((2, 1, 4, 4), dtype=torch.uint8)
    x[0, 0, :2, :2] = 255  # top-left block bright in one of two images: mean 0.5 there
    full = mean_image(x, side=4)
    assert full["factor"] == 1 and full["values"][0][0] == [0.5, 0.5, 0.0, 0.0]
    pooled = mean_image(x, side=2)
    assert pooled["factor"] == 2 and pooled["values"] == [[[0.5, 0.0], [0.0, 0.0]]]


def test_gray_histogram_by_hand() -> None:
    # Luma 0.299 R + 0.587 G + 0.114 B: red 76.245 (bin 19 of 64), green 149.685 (37), blue 29.07 (7),
    # white 255 (63), black 0 (0).
    pixels = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)]
    x = torch.tensor(pixels, dtype=torch.uint8).T.reshape(1, 3, 1, 5)
    counts = gray_histogram(x)["counts"]
    assert len(counts) == 64 and sum(counts) == 5
    assert [i for i, c in enumerate(counts) if c] == [0, 7, 19, 37, 63]
    gray = torch.tensor([[[[3, 4, 255]]]], dtype=torch.uint8)  # one channel: the values themselves
    assert [i for i, c in enumerate(gray_histogram(gray)["counts"]) if c] == [0, 1, 63]


def test_class_counts(fake: RawDataset) -> None:
    splits = make_splits(fake, "class:1")
    counts = class_counts(fake, splits)
    assert list(counts) == ["forget", "retain", "test", "val"]
    y = fake.y_train.numpy()
    assert counts["forget"] == [0, int((y == 1).sum()), 0, 0]
    assert counts["retain"][1] == 0 and sum(counts["retain"]) == len(splits.retain)
    assert sum(counts["test"]) == len(splits.test) and sum(counts["val"]) == len(splits.val)


def test_png_round_trip() -> None:
    rgb = [[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (10, 20, 30)]]
    assert _decode(png_data_uri(rgb, 3)).tolist() == [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]]
    assert _decode(png_data_uri([[0, 300], [-5, 128]], 1)).tolist() == [[0, 255], [0, 128]]
    with pytest.raises(ValueError):
        encode_png(b"\x00" * 3, 2, 2, 1)
    assert not is_png_data_uri("https://example.org/x.png")
    assert not is_png_data_uri('data:image/png;base64,AAAA" onload="alert(1)')


def test_sample_images(fake: RawDataset) -> None:
    samples = sample_images(fake.x_train, fake.y_train, fake.num_classes, per_class=3)
    y = fake.y_train.numpy()
    assert [len(row) for row in samples] == [3] * fake.num_classes
    first = int(np.flatnonzero(y == 2)[0])
    assert _decode(samples[2][0]).tolist() == fake.x_train[first].permute(1, 2, 0).tolist()
    # A tight budget keeps whole rounds: every class gets the same number of images.
    one_round = sum(len(row[0]) for row in samples)
    tight = sample_images(fake.x_train, fake.y_train, fake.num_classes, per_class=3, budget=one_round + 10)
    assert [len(row) for row in tight] == [1] * fake.num_classes


@pytest.mark.parametrize("source", ["fake", "digits"])
def test_dataset_statistics(source: str, fake: RawDataset) -> None:
    raw = fake if source == "fake" else Digits().load("unused")
    stats = dataset_statistics(raw, make_splits(raw, "0.1"))
    assert len(json.dumps(stats, indent=2)) < 200_000
    assert stats["version"] == 1 and stats["class_names"] == list(raw.class_names)
    channels = raw.in_channels
    assert len(stats["channels"]["train"]["mean"]) == channels == len(stats["mean_image"]["values"])
    assert len(stats["mean_image"]["values"][0]) == raw.image_size  # 8 × 8: no pooling needed
    assert sum(stats["gray_histogram"]["counts"]) == raw.x_train[:, 0].numel()
    assert len(stats["samples"]) == raw.num_classes and all(len(row) == 8 for row in stats["samples"])
    assert sum(map(sum, stats["class_counts"].values())) == len(raw.y_train) + len(raw.y_heldout)
