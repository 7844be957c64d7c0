"""The ``resnet18`` architecture: torchvision's ResNet-18 with the ImageNet stem, as in the starting kit.

The NeurIPS 2023 Machine Unlearning Challenge kit (and the course report built on it) used
``torchvision.models.resnet18(weights=None, num_classes=10)`` unchanged on 32×32 CIFAR-10 images: a 7×7
stride-2 convolution and a max-pool shrink the input to 8×8 before the first residual stage. It reaches
about 88 % test accuracy; see ``resnet18_cifar`` for the stem most papers use.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from unlearnbench.hookspec import hookimpl


def init_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """Initialise a replaced convolution as torchvision initialises ResNet's (Kaiming normal, fan-out)."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def torchvision_resnet18(num_classes: int) -> nn.Module:
    """``torchvision.models.resnet18(weights=None, num_classes=num_classes)``: random init, no download."""
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=num_classes)


class ResNet18:
    """ResNet-18 with the ImageNet stem (7×7 stride-2 conv + max-pool), untrained."""

    name: ClassVar[str] = "resnet18"
    description: ClassVar[str] = (
        "ResNet-18 with the ImageNet stem, torchvision resnet18(weights=None) as in the NeurIPS 2023 kit"
    )

    def build(self, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        """The torchvision model; ``conv1`` takes ``in_channels`` (same 7×7 stride-2 shape otherwise)."""
        model = torchvision_resnet18(num_classes)
        if in_channels != 3:
            model.conv1 = init_conv(
                nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            )
        return model


@hookimpl
def unlearnbench_add_models() -> list[type]:
    """Register the ``resnet18`` architecture."""
    return [ResNet18]
