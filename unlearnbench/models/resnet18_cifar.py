"""The ``resnet18_cifar`` architecture: ResNet-18 with the CIFAR stem of He et al. (2016).

``conv1`` is a 3×3 stride-1 convolution and the max-pool is removed, so the first residual stage sees
the full 32×32 image. Most unlearning papers use this variant: about 95 % CIFAR-10 test accuracy, at
roughly 17× the compute of the ImageNet-stem ``resnet18``.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from unlearnbench.hookspec import hookimpl
from unlearnbench.models.resnet18 import init_conv, torchvision_resnet18


class ResNet18CIFAR:
    """ResNet-18 with a 3×3 stride-1 stem and no max-pool, untrained."""

    name: ClassVar[str] = "resnet18_cifar"
    description: ClassVar[str] = (
        "ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no max-pool) of He et al. 2016, torchvision-based"
    )

    def build(self, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        """torchvision's ResNet-18 with ``conv1`` = 3×3/1 (padding 1, no bias) and ``maxpool`` = Identity."""
        model = torchvision_resnet18(num_classes)
        model.conv1 = init_conv(nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False))
        model.maxpool = nn.Identity()
        return model


@hookimpl
def unlearnbench_add_models() -> list[type]:
    """Register the ``resnet18_cifar`` architecture."""
    return [ResNet18CIFAR]
