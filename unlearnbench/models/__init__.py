"""Model architectures (one plugin module per family) and a helper to walk a model block by block.

Built-in architectures: :mod:`~unlearnbench.models.resnet18` (ImageNet stem, as the NeurIPS 2023 kit),
:mod:`~unlearnbench.models.resnet18_cifar` (CIFAR stem) and :mod:`~unlearnbench.models.small_cnn`. Each
names its classifier ``fc``, so methods that reset or fine-tune "the last k blocks" can use
:func:`named_blocks` on any of them.
"""

from __future__ import annotations

from torch import nn

_RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def named_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's blocks from input to classifier, as (name, module) pairs.

    - ResNet (``conv1``, ``bn1``, ``layer1..4``, ``fc``): ``stem`` (conv1 and bn1 together), ``layer1`` …
      ``layer4``, ``fc``.
    - A model with a ``features`` Sequential and ``fc`` (``small_cnn``): ``features.0`` …, ``fc``.
    - Anything else: its direct children that hold parameters, in registration order.

    The modules are the model's own (not copies), so freezing or re-initialising the last k entries acts
    on the model.
    """
    children = dict(model.named_children())
    if all(name in children for name in ("conv1", "bn1", *_RESNET_STAGES, "fc")):
        stem = nn.ModuleList([children["conv1"], children["bn1"]])
        return [("stem", stem), *((name, children[name]) for name in _RESNET_STAGES), ("fc", children["fc"])]
    features = children.get("features")
    if isinstance(features, nn.Sequential) and "fc" in children:
        blocks = [(f"features.{name}", block) for name, block in features.named_children()]
        return [*blocks, ("fc", children["fc"])]
    return [(name, child) for name, child in children.items() if any(True for _ in child.parameters())]


__all__ = ["named_blocks"]
