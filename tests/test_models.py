"""Tests for the model architectures and :func:`unlearnbench.models.named_blocks`."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from unlearnbench.api import ModelFactory
from unlearnbench.models import named_blocks, resnet18, resnet18_cifar, small_cnn

MODULES = [resnet18, resnet18_cifar, small_cnn]


def factory(module: Any) -> Any:
    """The one model class a plugin module registers, instantiated."""
    (cls,) = module.unlearnbench_add_models()
    return cls()


@pytest.mark.parametrize("module", MODULES)
def test_model_plugins_are_registered_under_their_file_stem(module: Any) -> None:
    plugin = factory(module)
    assert plugin.name == module.__name__.rsplit(".", 1)[1]
    assert isinstance(plugin, ModelFactory)
    assert plugin.description and "\n" not in plugin.description


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(("channels", "size", "classes"), [(1, 8, 10), (3, 32, 7), (3, 8, 4), (1, 32, 2)])
def test_output_shape(module: Any, channels: int, size: int, classes: int) -> None:
    model = factory(module).build(classes, channels, size)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("module", MODULES)
def test_builds_are_deterministic_under_the_global_seed(module: Any) -> None:
    plugin = factory(module)
    torch.manual_seed(5)
    first = plugin.build(10, 1, 8).state_dict()
    torch.manual_seed(5)
    second = plugin.build(10, 1, 8).state_dict()
    torch.manual_seed(6)
    third = plugin.build(10, 1, 8).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["fc.weight"], third["fc.weight"])


def test_resnet18_keeps_the_imagenet_stem() -> None:
    model = factory(resnet18).build(10, 3, 32)
    conv = model.conv1
    assert isinstance(conv, nn.Conv2d)
    assert (conv.kernel_size, conv.stride, conv.padding, conv.in_channels) == ((7, 7), (2, 2), (3, 3), 3)
    assert isinstance(model.maxpool, nn.MaxPool2d)
    assert sum(p.numel() for p in model.parameters()) == 11_181_642  # torchvision resnet18, 10 classes


def test_resnet18_grayscale_replaces_only_the_input_channels() -> None:
    conv = factory(resnet18).build(10, 1, 8).conv1
    assert conv.weight.shape == (64, 1, 7, 7)
    assert (conv.stride, conv.padding, conv.bias) == ((2, 2), (3, 3), None)


@pytest.mark.parametrize("channels", [1, 3])
def test_resnet18_cifar_has_a_3x3_stride_1_stem_and_no_maxpool(channels: int) -> None:
    model = factory(resnet18_cifar).build(10, channels, 32)
    conv = model.conv1
    assert conv.weight.shape == (64, channels, 3, 3)
    assert (conv.stride, conv.padding, conv.bias) == ((1, 1), (1, 1), None)
    assert isinstance(model.maxpool, nn.Identity)
    # Without the stride-2 stem and max-pool, layer1 sees the full 32×32 input.
    seen: list[tuple[int, ...]] = []
    model.layer1.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, 32, 32))
    assert seen == [(1, 64, 32, 32)]


def test_small_cnn_structure() -> None:
    model = factory(small_cnn).build(10, 1, 8)
    assert isinstance(model.features, nn.Sequential) and len(model.features) == 3
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 10
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3
    with pytest.raises(ValueError, match="at least 4x4"):
        factory(small_cnn).build(10, 1, 3)


def test_named_blocks_of_a_resnet() -> None:
    model = factory(resnet18_cifar).build(10, 3, 32)
    blocks = named_blocks(model)
    assert [name for name, _ in blocks] == ["stem", "layer1", "layer2", "layer3", "layer4", "fc"]
    assert blocks[-1][1] is model.fc and blocks[1][1] is model.layer1
    stem_params = {id(p) for p in blocks[0][1].parameters()}
    assert stem_params == {id(p) for p in [*model.conv1.parameters(), *model.bn1.parameters()]}
    # Every parameter belongs to exactly one block.
    counted = sum(p.numel() for _, block in blocks for p in block.parameters())
    assert counted == sum(p.numel() for p in model.parameters())


def test_named_blocks_of_small_cnn_act_on_the_model() -> None:
    model = factory(small_cnn).build(4, 3, 8)
    blocks = named_blocks(model)
    assert [name for name, _ in blocks] == ["features.0", "features.1", "features.2", "fc"]
    for _, block in blocks[:-2]:
        block.requires_grad_(False)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("features.2.", "fc.")) for name in trainable)
    assert not any(p.requires_grad for p in model.features[0].parameters())


def test_named_blocks_fallback_skips_parameterless_children() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert [name for name, _ in named_blocks(model)] == ["0", "2"]
