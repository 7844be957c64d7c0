"""Per-example evaluation and the model-copying helpers the runner hands to methods.

:func:`compute_outputs` is the one place logits are computed: inference mode, eval mode, large batches,
no augmentation, float32 throughout (no autocast, so metrics see the same numbers on every device).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from unlearnbench.api import ModelOutputs
from unlearnbench.data.pipeline import TensorData

#: Device types whose input batches are fed as channels_last (NHWC). Only the input is converted:
#: PyTorch then runs NHWC convolution kernels (converting the weights per call) without changing the
#: caller's parameters. On CUDA this is what cuDNN's fast kernels want. On CPU it was measured with
#: ResNet-18 at 32×32 (2 threads, torch 2.14, interleaved repeats): contiguous 0.98 s vs channels_last
#: input 0.79 s per 128 images with the CIFAR stem, 0.25 s vs 0.20 s per 512 with the ImageNet stem,
#: and converting the model as well gained nothing more; so CPU uses it too. Logits differ from the
#: contiguous path by ~1e-6 (summation order), identically on every call.
_CHANNELS_LAST_DEVICES: frozenset[str] = frozenset({"cpu", "cuda"})


def model_device(model: nn.Module, default: torch.device | None = None) -> torch.device:
    """The device of the model's first parameter (or buffer); ``default`` (CPU) for a stateless model."""
    first: torch.Tensor | None = next(model.parameters(), None)
    if first is None:
        first = next(model.buffers(), None)
    if first is not None:
        return first.device
    return default if default is not None else torch.device("cpu")


def compute_outputs(model: nn.Module, data: Mapping[str, TensorData], batch_size: int = 1024) -> ModelOutputs:
    """Logits (float32 numpy, shape [n, classes]) of ``model`` on every split in ``data``, in order.

    Runs under ``torch.inference_mode()`` with every submodule in eval mode, on the model's device (a
    split on another device is moved batch by batch). Every submodule's ``training`` flag is restored
    afterwards, so a model with some layers deliberately frozen in eval mode stays that way.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    modes = [(module, module.training) for module in model.modules()]
    device = model_device(model, default=_first_device(data))
    channels_last = device.type in _CHANNELS_LAST_DEVICES
    logits: dict[str, np.ndarray] = {}
    model.eval()
    try:
        with torch.inference_mode():
            for split, tensors in data.items():
                logits[split] = _split_logits(model, tensors, batch_size, device, channels_last)
            classes = next((a.shape[1] for a in logits.values() if a.shape[0] > 0), None)
            for split, tensors in data.items():
                if len(tensors) == 0:
                    logits[split] = _empty_logits(model, tensors, device, classes)
    finally:
        for module, mode in modes:
            module.training = mode
    return ModelOutputs(logits=logits)


def _first_device(data: Mapping[str, TensorData]) -> torch.device:
    for tensors in data.values():
        return tensors.device
    return torch.device("cpu")


def _split_logits(
    model: nn.Module, data: TensorData, batch_size: int, device: torch.device, channels_last: bool
) -> np.ndarray:
    chunks: list[torch.Tensor] = []
    if len(data) == 0:
        return np.zeros((0, 0), dtype=np.float32)  # filled in by compute_outputs
    for xb, _ in data.batches(batch_size, shuffle=False, augment=False):
        xb = xb.to(device, non_blocking=True)
        if channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        out = model(xb)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"model returned {type(out).__name__}, expected a logits tensor")
        chunks.append(out.float())
    return _as_numpy(torch.cat(chunks))


def _empty_logits(
    model: nn.Module, data: TensorData, device: torch.device, classes: int | None
) -> np.ndarray:
    """[0, classes] logits; the class count comes from another split or a pass over an empty batch."""
    if classes is not None:
        return np.zeros((0, classes), dtype=np.float32)
    return _as_numpy(model(data.normalise(data.x[:0].to(device))).float())


def _as_numpy(logits: torch.Tensor) -> np.ndarray:
    if logits.dim() != 2:
        raise ValueError(f"model returned logits of shape {tuple(logits.shape)}, expected [n, classes]")
    return np.ascontiguousarray(logits.cpu().numpy(), dtype=np.float32)


def copy_model(model: nn.Module) -> nn.Module:
    """An independent deep copy: own parameters and buffers (tied weights stay tied), same modes."""
    return copy.deepcopy(model)


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode with ``requires_grad=False`` everywhere, in place; returns it."""
    model.eval()
    model.requires_grad_(False)
    return model


def state_dict_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as detached CPU tensors that share no memory with the model."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}
