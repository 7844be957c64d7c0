"""Tests of per-example evaluation and the model-copying helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from unlearnbench.cache import Cache, content_key
from unlearnbench.data.pipeline import TensorData
from unlearnbench.evaluation import compute_outputs, copy_model, freeze, model_device, state_dict_cpu

MEAN = (0.5, 0.4, 0.3)
STD = (0.25, 0.2, 0.3)


class TinyNet(nn.Module):
    """Conv + BatchNorm + Linear: enough structure for eval-mode and buffer behaviour to matter."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x)))
        return self.head(self.drop(h.mean(dim=(2, 3))))


def _model(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    model = TinyNet()
    assert model.bn.running_mean is not None and model.bn.running_var is not None
    with torch.no_grad():  # non-trivial running statistics, so train vs eval BN differ
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model


def _data(n: int, seed: int) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 6, 6), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 5, (n,), generator=g)
    return TensorData(x, y, MEAN, STD)


def _splits() -> dict[str, TensorData]:
    return {"forget": _data(7, 1), "retain": _data(10, 2), "test": _data(5, 3)}


def _manual(model: nn.Module, data: TensorData) -> np.ndarray:
    """Hand-written normalisation and one eval-mode forward pass over the whole split."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    x = (data.x.double() / 255.0 - mean.double()) / std.double()
    model.eval()
    with torch.no_grad():
        return model(x.float()).numpy()


def test_outputs_equal_a_manual_forward_pass() -> None:
    model = _model()
    data = _splits()
    outputs = compute_outputs(model, data, batch_size=3)  # several batches, a ragged last one
    assert list(outputs.logits) == ["forget", "retain", "test"]
    for split, tensors in data.items():
        got = outputs[split]
        assert got.dtype == np.float32 and got.shape == (len(tensors), 5)
        assert got.flags["C_CONTIGUOUS"]
        np.testing.assert_allclose(got, _manual(model, tensors), rtol=1e-5, atol=1e-5)


def test_outputs_do_not_depend_on_batch_size_and_are_deterministic() -> None:
    model = _model()
    data = _splits()
    first = compute_outputs(model, data)
    again = compute_outputs(model, data)
    for split in data:
        np.testing.assert_array_equal(first[split], again[split])
        np.testing.assert_allclose(
            compute_outputs(model, data, batch_size=2)[split], first[split], rtol=1e-5, atol=1e-6
        )


def test_outputs_use_eval_mode_and_leave_buffers_alone() -> None:
    model = _model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    outputs = compute_outputs(model, _splits())
    # Dropout in training mode would make the logits random; BN in training mode would update stats.
    np.testing.assert_allclose(outputs["retain"], _manual(_model(), _data(10, 2)), rtol=1e-5, atol=1e-5)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_training_modes_are_restored(mode: str) -> None:
    model = _model()
    model.train(mode != "eval")
    if mode == "mixed":
        model.bn.eval()  # e.g. a method that keeps BatchNorm frozen while fine-tuning
    expected = {name: m.training for name, m in model.named_modules()}
    compute_outputs(model, _splits())
    assert {name: m.training for name, m in model.named_modules()} == expected


def test_training_modes_are_restored_after_an_error() -> None:
    class Broken(TinyNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert not self.training
            raise RuntimeError("boom")

    model = Broken()
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        compute_outputs(model, _splits())
    assert all(m.training for m in model.modules())


def test_empty_splits_have_the_class_dimension() -> None:
    model = _model()
    outputs = compute_outputs(model, {"forget": _data(0, 1), "test": _data(4, 2)})
    assert outputs["forget"].shape == (0, 5) and outputs["forget"].dtype == np.float32
    only_empty = compute_outputs(model, {"forget": _data(0, 1)})
    assert only_empty["forget"].shape == (0, 5)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        compute_outputs(_model(), _splits(), batch_size=0)

    class NotLogits(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1).unsqueeze(1)

    with pytest.raises(ValueError, match="expected"):
        compute_outputs(NotLogits(), _splits())


def test_model_device_falls_back_for_stateless_models() -> None:
    assert model_device(_model()).type == "cpu"
    assert model_device(nn.Identity(), default=torch.device("meta")).type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_outputs_on_cuda_match_cpu() -> None:
    model = _model()
    data = _splits()
    cpu = compute_outputs(model, data)
    gpu = compute_outputs(copy_model(model).cuda(), {k: v.to("cuda") for k, v in data.items()})
    for split in data:
        np.testing.assert_allclose(gpu[split], cpu[split], rtol=1e-4, atol=1e-4)


# -- copying helpers -------------------------------------------------------------------------------


def test_copy_model_is_independent() -> None:
    model = _model()
    model.bn.eval()
    clone = copy_model(model)
    assert clone is not model and isinstance(clone, TinyNet)
    assert not clone.bn.training and clone.training == model.training
    original = {k: v.clone() for k, v in model.state_dict().items()}
    for (name, a), b in zip(model.state_dict().items(), clone.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
        assert a.data_ptr() != b.data_ptr(), name
    with torch.no_grad():
        for p in clone.parameters():
            p.add_(1.0)
        clone.bn.running_mean.add_(1.0)  # type: ignore[union-attr]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, original[name]), name


def test_copy_model_keeps_tied_weights_tied() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight

    clone = copy_model(Tied())
    assert clone.b.weight is clone.a.weight  # type: ignore[union-attr]


def test_freeze() -> None:
    model = _model()
    model.train()
    assert freeze(model) is model
    assert not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())


def test_state_dict_cpu_is_a_detached_copy() -> None:
    model = _model()
    state = state_dict_cpu(model)
    assert set(state) == set(model.state_dict())
    assert "bn.running_mean" in state and "bn.num_batches_tracked" in state
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor)
        assert state[name].data_ptr() != tensor.data_ptr()
        assert state[name].device.type == "cpu" and not state[name].requires_grad
    state["conv.weight"].zero_()
    assert model.conv.weight.abs().sum() > 0


def test_checkpoint_through_the_cache_reproduces_outputs(tmp_path: Path) -> None:
    model = _model()
    data = _splits()
    key = content_key({"arch": "tiny", "seed": 0})
    cache = Cache(tmp_path)
    cache.save_state("original", key, state_dict_cpu(model), {"seconds": 0.1})
    outputs = compute_outputs(model, data)
    cache.save_outputs(key, outputs, {})

    loaded = cache.load_state("original", key)
    assert loaded is not None
    fresh = _model(seed=123)
    fresh.load_state_dict(loaded[0])
    again = compute_outputs(fresh, data)
    cached = cache.load_outputs(key)
    assert cached is not None
    for split in data:
        np.testing.assert_array_equal(again[split], outputs[split])
        np.testing.assert_array_equal(cached[0][split], outputs[split])
