"""The tensor data pipeline: uint8 images resident on the run's device, batched float transforms.

No per-sample PIL transforms anywhere: a batch is gathered by index from one uint8 tensor, converted to
float, optionally augmented (random crop with zero padding, horizontal flip) as whole-batch tensor ops,
and normalised per channel. Randomness comes from an explicit ``torch.Generator`` so runs are
reproducible under a seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TensorData:
    """A labelled set of images: ``x`` uint8 (N, C, H, W), ``y`` int64 (N,), plus normalisation.

    ``crop_padding`` and ``hflip`` describe the augmentation that is label-preserving for this data;
    whether it is applied is decided per call of :meth:`batches`.
    """

    x: torch.Tensor
    y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 4
    hflip: bool = True

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: torch.device | str) -> TensorData:
        """The same data on ``device``."""
        return TensorData(
            self.x.to(device), self.y.to(device), self.mean, self.std, self.crop_padding, self.hflip
        )

    def subset(self, index: torch.Tensor) -> TensorData:
        """The examples at ``index`` (a long tensor or a boolean mask)."""
        index = index.to(self.x.device)
        return TensorData(self.x[index], self.y[index], self.mean, self.std, self.crop_padding, self.hflip)

    def with_labels(self, y: torch.Tensor) -> TensorData:
        """The same images with other labels (e.g. random relabelling)."""
        return TensorData(self.x, y.to(self.x.device), self.mean, self.std, self.crop_padding, self.hflip)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) → normalised float32."""
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
        return (x.float().div_(255.0) - mean) / std

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        augment: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (normalised float images, labels) batches on the data's device."""
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator).to(self.x.device)
        else:
            order = torch.arange(n, device=self.x.device)
        stop = n - n % batch_size if drop_last and n >= batch_size else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            xb = self.x.index_select(0, idx)
            if augment:
                xb = augment_batch(xb, self.crop_padding, self.hflip, generator)
            yield self.normalise(xb), self.y.index_select(0, idx)


def augment_batch(
    x: torch.Tensor, padding: int, hflip: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop (zero padding ``padding``) and random horizontal flip, one draw per image.

    Works on the whole batch at once: the padded batch is unfolded into per-image windows by gathering
    with offset index grids, so the cost is one gather instead of B slicing calls.
    """
    b, _, h, w = x.shape
    if padding > 0:
        padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
        rows = (dy.view(b, 1) + torch.arange(h, device=x.device).view(1, h)).view(b, 1, h, 1)
        cols = (dx.view(b, 1) + torch.arange(w, device=x.device).view(1, w)).view(b, 1, 1, w)
        c = x.shape[1]
        padded_w = padded.shape[-1]
        # Gather rows, then columns, for every image at once.
        x = padded.gather(2, rows.expand(b, c, h, padded_w))
        x = x.gather(3, cols.expand(b, c, h, w))
    if hflip:
        flip = (torch.rand((b,), generator=generator) < 0.5).to(x.device)
        x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    return x
