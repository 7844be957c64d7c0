"""The ``preact_resnet18`` architecture: the pre-activation ResNet-18 at width 0.4 of the small-scale protocol.

The model of the Fisher / NTK forgetting papers' and SCRUB's small-scale CIFAR-5 experiments (reference:
AdityaGolatkar/SelectiveForgetting@4c028253c282c43693b5d8f1ee51eac2fca403f2 ``models.py``, classes
``_ResBlock`` and ``ResNet18``; the same class in meghdadk/SCRUB ``models.py``):

* a CIFAR stem: one 3×3 convolution, stride 1, to 64 channels whatever the width, BatchNorm, ReLU, no
  max-pool;
* four stages of two pre-activation blocks with ``int(width · 64/128/256/512)`` channels (25/51/102/204 at
  width 0.4), strides 1/2/2/2. A block pre-activates its input (BatchNorm, ReLU), feeds that to its first
  3×3 convolution and, when the shape changes, to a 1×1 projection shortcut (no bias); an unchanged shape
  adds the block's raw input;
* no final BatchNorm; 4×4 average pooling of the 4×4 map, then the linear classifier.

Every 3×3 convolution has a bias: the reference module defines ``conv3x3`` twice and the later definition
(``bias=True``) is the one its blocks call. With five classes the network has 1,787,741 parameters, the
count the reference notebook prints. The classifier is named ``fc`` (the reference: ``linear``) so that
methods addressing "the last k blocks" find it as in the other ResNets (:func:`unlearnbench.models.named_blocks`).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional

from unlearnbench.hookspec import hookimpl

__all__ = ["PreActBlock", "PreActResNet18", "PreActResNet18Net"]

#: The small-scale protocol's width factor (``--filters 0.4``).
WIDTH = 0.4
_STAGE_CHANNELS = (64, 128, 256, 512)
_STAGE_STRIDES = (1, 2, 2, 2)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=True)


class PreActBlock(nn.Module):
    """BatchNorm → ReLU → conv 3×3 → BatchNorm → ReLU → conv 3×3, plus the shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = _conv3x3(in_channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output: the residual path plus the (projected, pre-activated) or raw input."""
        activated = functional.relu(self.bn1(x))
        skip = self.shortcut(activated) if self.shortcut is not None else x
        out = self.conv2(functional.relu(self.bn2(self.conv1(activated))))
        return out + skip


class PreActResNet18Net(nn.Module):
    """``conv1`` / ``bn1`` (the stem), ``layer1`` … ``layer4``, ``fc``."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = WIDTH) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, _STAGE_CHANNELS[0])
        self.bn1 = nn.BatchNorm2d(_STAGE_CHANNELS[0])
        current = _STAGE_CHANNELS[0]
        stages: list[nn.Sequential] = []
        for base, stride in zip(_STAGE_CHANNELS, _STAGE_STRIDES, strict=True):
            channels = int(base * width)
            stages.append(nn.Sequential(PreActBlock(current, channels, stride), PreActBlock(channels, channels, 1)))
            current = channels
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(current, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, num_classes); 32×32 input gives the 4×4 map the pooling expects."""
        out = functional.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = functional.avg_pool2d(out, 4)
        return self.fc(torch.flatten(out, 1))


class PreActResNet18:
    """The pre-activation ResNet-18 at width 0.4 of the small-scale forgetting experiments (32×32 input)."""

    name: ClassVar[str] = "preact_resnet18"
    description: ClassVar[str] = (
        "Pre-activation ResNet-18, width 0.4 (25-51-102-204 channels), CIFAR stem: the small-scale CIFAR-5 model"
    )

    def build(self, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        """A freshly initialised network (PyTorch's default initialisation, as the reference)."""
        if image_size != 32:
            raise ValueError(f"preact_resnet18 needs 32x32 images (its 4x4 pooling), got {image_size}x{image_size}")
        return PreActResNet18Net(num_classes, in_channels)


@hookimpl
def unlearnbench_add_models() -> list[type]:
    """Register the ``preact_resnet18`` architecture."""
    return [PreActResNet18]
