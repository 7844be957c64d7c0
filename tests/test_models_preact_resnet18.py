"""unlearnbench.models.preact_resnet18 against the small-scale reference model's structure."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearnbench.models import named_blocks
from unlearnbench.models.preact_resnet18 import PreActBlock, PreActResNet18


def test_parameter_count_is_the_reference_notebooks() -> None:
    """SelectiveForgetting's Forgetting.ipynb prints 1,787,741 parameters for width 0.4 and five classes."""
    model = PreActResNet18().build(5, 3, 32)
    assert sum(p.numel() for p in model.parameters()) == 1_787_741


def test_widths_strides_and_biases() -> None:
    model = PreActResNet18().build(5, 3, 32)
    assert model.conv1.out_channels == 64 and model.conv1.stride == (1, 1)  # the stem ignores the width
    widths = [stage[0].conv1.out_channels for stage in (model.layer1, model.layer2, model.layer3, model.layer4)]
    assert widths == [25, 51, 102, 204]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all((m.bias is not None) == (m.kernel_size == (3, 3)) for m in convs)  # 3x3 with bias, 1x1 without
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert [name for name, _ in named_blocks(model)] == ["stem", "layer1", "layer2", "layer3", "layer4", "fc"]


def test_a_block_of_unchanged_shape_adds_its_raw_input() -> None:
    torch.manual_seed(0)
    block = PreActBlock(8, 8, 1).eval()
    assert block.shortcut is None
    with torch.no_grad():
        for conv in (block.conv1, block.conv2):
            conv.weight.zero_()
            conv.bias.zero_()
        x = torch.randn(2, 8, 4, 4)
        assert torch.equal(block(x), x)  # residual path zero: the output is the input itself, not relu(bn(x))


def test_a_projected_block_sees_the_pre_activated_input() -> None:
    torch.manual_seed(0)
    block = PreActBlock(4, 6, 2).eval()
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
        x = torch.randn(2, 4, 8, 8)
        expected = block.shortcut(torch.relu(block.bn1(x)))
        assert torch.allclose(block(x), expected)


def test_output_shape_and_size_check() -> None:
    model = PreActResNet18().build(5, 3, 32)
    assert model(torch.zeros(3, 3, 32, 32)).shape == (3, 5)
    with pytest.raises(ValueError, match="32x32"):
        PreActResNet18().build(5, 3, 28)
