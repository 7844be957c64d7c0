"""Boundary Shrink / Boundary Expanding against their reference code (the authors' release, mirrored at
TY-LEE-KR/Boundary-Unlearning-Code, and SalUn's re-implementation): random forgetting runs, pinned
defaults, the per-batch adversarial labels, the shadow neuron's initialisation and pruning."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn
from train_spies import resolved_call

from unlearnbench.data.pipeline import TensorData
from unlearnbench.methods.boundary_expand import BoundaryExpand, widen
from unlearnbench.methods.boundary_shrink import BoundaryShrink, nearest_wrong_labels
from unlearnbench.session import merge_params
from unlearnbench.testing import run_bench, tiny_bench, unlearn_context
from unlearnbench.testing import testing_cache_dir as _cache_dir

BOUNDARY: dict[str, Any] = {"boundary_shrink": BoundaryShrink, "boundary_expand": BoundaryExpand}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Single-threaded CPU math: faster for these tiny tensors and bitwise reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- random forgetting


def test_both_boundary_methods_run_under_the_default_random_forgetting() -> None:
    """SalUn's tables run BS and BE on random forget sets: the CLI must run them there, not skip them."""
    results = run_bench(
        methods=["boundary_shrink[epochs=1,lr=0.001]", "boundary_expand[epochs=1,lr=0.001]"],
        metrics=["accuracy"], cache_dir=_cache_dir(), seeds=1,
    )
    items = {item.method: item for item in results.items if item.method.startswith("boundary_")}
    assert set(items) == {"boundary_shrink", "boundary_expand"}
    for name, item in items.items():
        assert item.outcome == "passed", f"{name}: {item.outcome} {item.skip_reason or item.errors}"
        assert "accuracy.FA" in item.summary


def test_collect_only_lists_both_under_random_forgetting(capsys: pytest.CaptureFixture[str]) -> None:
    from unlearnbench.cli import main

    assert main(["run", "--dataset", "fake", "--method", "boundary_*", "--collect-only"]) == 0
    out = capsys.readouterr().out
    assert "boundary_shrink[lr=1e-05]" in out and "boundary_expand[lr=1e-05]" in out


@pytest.mark.parametrize("name", sorted(BOUNDARY))
def test_not_restricted_to_class_wise_forgetting(name: str) -> None:
    assert not getattr(BOUNDARY[name], "requires_class_forget", False)


# ----------------------------------------------------------------------------- defaults


def test_shrink_defaults_are_the_authors_code() -> None:
    # boundary_unlearning.py 15 (bound, poison_epoch), 31 (SGD lr 1e-5, momentum 0.9, no weight decay),
    # main.py 32 (batch 64), utils.py 33-35 (no augmentation), 44-45 (argmax of the adversarial logits).
    assert BoundaryShrink.defaults == {
        "eps": 0.1, "relabel": "adversarial", "lr": 1e-5, "momentum": 0.9, "weight_decay": 0.0,
        "nesterov": False, "optimizer": "sgd", "schedule": "constant", "epochs": 10, "batch_size": 64,
        "augment": False,
    }  # fmt: skip


def test_expand_defaults_are_the_authors_code() -> None:
    # boundary_unlearning.py 112 + models.py 47-49 (Xavier-normal, zero bias), 127 (10 epochs), 130 (SGD lr 1e-5,
    # momentum 0.9; optimizer_picker sets no weight decay), main.py 25 / 32 (sgd, batch 64), utils.py 33-35.
    assert BoundaryExpand.defaults == {
        "shadow_init": "xavier", "lr": 1e-5, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False,
        "optimizer": "sgd", "schedule": "constant", "epochs": 10, "batch_size": 64, "augment": False,
    }  # fmt: skip


class _Recorded(Exception):
    pass


def _recorded_train_call(cls: type, params: dict[str, Any], forget: str = "0.1") -> tuple[TensorData, dict[str, Any]]:
    """The data and keyword arguments of the method's (only) ``ctx.train`` call, which is not run."""
    bench = tiny_bench(forget)
    model, ctx = unlearn_context(bench, merge_params(cls, bench.raw.name, params), seed=0)
    seen: dict[str, Any] = {}

    def train(model: nn.Module, data: TensorData, recipe: Any = None, **kwargs: Any) -> Any:
        seen["data"], seen["kwargs"] = data, resolved_call(ctx, recipe, kwargs)
        raise _Recorded

    ctx.train = train  # type: ignore[method-assign,assignment]
    with pytest.raises(_Recorded):
        cls().unlearn(model, ctx)
    return seen["data"], seen["kwargs"]


@pytest.mark.parametrize("name", sorted(BOUNDARY))
def test_every_training_setting_is_passed_explicitly(name: str) -> None:
    cls = BOUNDARY[name]
    _, kwargs = _recorded_train_call(cls, {})
    for key in ("epochs", "lr", "momentum", "weight_decay", "batch_size", "schedule", "augment", "optimizer",
                "nesterov"):  # fmt: skip
        assert kwargs[key] == cls.defaults[key], key


@pytest.mark.parametrize("name", sorted(BOUNDARY))
def test_augment_is_a_parameter(name: str) -> None:
    """SalUn fine-tunes through its training transform (random crop + flip): ``augment=True`` must reach the loop."""
    _, kwargs = _recorded_train_call(BOUNDARY[name], {"augment": True})
    assert kwargs["augment"] is True


# ----------------------------------------------------------------------------- Boundary Shrink labels


def _independent_adversarial_argmax(model: nn.Module, data: TensorData, eps: float) -> torch.Tensor:
    """argmax f₀(x') with x' = round₂₅₅(clip(x + ε sign ∇ₓ CE)), from scratch in [0, 1] pixel space."""
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    pixels = (data.x.float() / 255).requires_grad_(True)
    nn.functional.cross_entropy(model((pixels - mean) / std), data.y).backward()
    assert pixels.grad is not None
    adv = torch.round((pixels.detach() + eps * pixels.grad.sign()).clamp(0, 1) * 255) / 255
    with torch.no_grad():
        return model((adv - mean) / std).argmax(1)


class _LogitProbe(nn.Module):
    """A "model" whose logits are a zero parameter: the gradient of CE w.r.t. them reveals the targets."""

    def __init__(self, n: int, k: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[: x.shape[0]]


def _training_targets(data: TensorData, kwargs: dict[str, Any], num_classes: int) -> torch.Tensor:
    """The labels a recorded ``ctx.train`` call would train the whole (un-augmented) set towards."""
    loss_fn = kwargs.get("loss_fn")
    if loss_fn is None:
        return data.y.clone()
    probe = _LogitProbe(len(data), num_classes)
    loss_fn(probe, data.normalise(data.x), data.y).backward()
    assert probe.logits.grad is not None
    return probe.logits.grad.argmin(1)  # softmax − one-hot: the target's entry is the only negative one


@pytest.mark.parametrize("forget", ["class:1", "0.1"])
def test_shrink_trains_towards_the_argmax_on_the_adversarial_example(forget: str) -> None:
    """As the reference (boundary_unlearning.py 44-57): y_nbi = argmax f₀(x'), y itself where the step fails."""
    bench = tiny_bench(forget)
    data, kwargs = _recorded_train_call(BoundaryShrink, {}, forget)
    targets = _training_targets(data, kwargs, bench.raw.num_classes)
    original = bench.model_from_state(bench.original().state).eval()
    data = bench.data["forget"]  # the true labels: the recorded set may already carry the new ones
    expected = _independent_adversarial_argmax(original, data, 0.1)
    flipped = expected != data.y
    assert 0 < int(flipped.sum()) < len(data)  # both cases occur
    assert torch.equal(targets, expected)


def test_shrink_relabel_wrong_keeps_the_older_runner_up_choice() -> None:
    bench = tiny_bench("class:1")
    data, kwargs = _recorded_train_call(BoundaryShrink, {"relabel": "wrong"}, "class:1")
    targets = _training_targets(data, kwargs, bench.raw.num_classes)
    original = bench.model_from_state(bench.original().state).eval()
    data = bench.data["forget"]  # the true labels: the recorded set may already carry the new ones
    expected, _ = nearest_wrong_labels(original, data, 0.1)
    assert bool((targets != data.y).all()) and torch.equal(targets, expected)


def test_shrink_labels_each_augmented_batch_afresh() -> None:
    """With ``augment=True`` the labels come from the batch the loop draws (as SalUn labels its augmented batch)."""
    bench = tiny_bench("class:1")
    data, kwargs = _recorded_train_call(BoundaryShrink, {"augment": True}, "class:1")
    loss_fn = kwargs["loss_fn"]
    original = bench.model_from_state(bench.original().state).eval()
    generator = torch.Generator().manual_seed(3)
    (xb, yb), = data.batches(len(data), augment=True, generator=generator)  # fmt: skip
    probe = _LogitProbe(len(data), bench.raw.num_classes)
    loss_fn(probe, xb, yb).backward()
    assert probe.logits.grad is not None
    targets = probe.logits.grad.argmin(1)
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    pixels = torch.round((xb * std + mean) * 255).clamp(0, 255).to(torch.uint8)
    augmented = TensorData(pixels, yb, data.mean, data.std, data.crop_padding, data.hflip)
    assert torch.equal(targets, _independent_adversarial_argmax(original, augmented, 0.1))


def test_shrink_rejects_an_unknown_relabel_mode() -> None:
    bench = tiny_bench("class:1")
    model, ctx = unlearn_context(bench, merge_params(BoundaryShrink, bench.raw.name, {"relabel": "nope"}))
    with pytest.raises(ValueError, match="relabel must be one of"):
        BoundaryShrink().unlearn(model, ctx)


# ----------------------------------------------------------------------------- Boundary Expanding


def test_shadow_row_is_xavier_normal_with_zero_bias_as_init_params() -> None:
    """models.py 47-49 applied to the widened layer: N(0, 2 / (fan_in + fan_out)), fan_out = classes + 1."""
    layer = nn.Linear(4000, 9)
    wide = widen(layer, torch.Generator().manual_seed(0))
    row = wide.weight.detach()[-1]
    assert float(wide.bias.detach()[-1]) == 0.0
    assert float(row.std()) == pytest.approx(math.sqrt(2.0 / (4000 + 10)), rel=0.05)
    assert abs(float(row.mean())) < 0.003


def test_shadow_row_uniform_is_salun_nn_linear_default() -> None:
    """boundary_ex.py 50-56: a fresh nn.Linear, weights and bias U(−1/√in, 1/√in)."""
    layer = nn.Linear(4000, 9)
    wide = widen(layer, torch.Generator().manual_seed(0), "uniform")
    row, bias = wide.weight.detach()[-1], float(wide.bias.detach()[-1])
    bound = 1 / math.sqrt(4000)
    assert float(row.abs().max()) <= bound and float(row.abs().max()) > 0.95 * bound
    assert float(row.std()) == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert 0 < abs(bias) <= bound
    assert torch.equal(wide.weight.detach()[:-1], layer.weight.detach())


def test_expand_trains_every_layer_on_the_shadow_label_under_random_forgetting() -> None:
    """boundary_unlearning.py 130 (SGD over widen_model.parameters()) and 142-143 (target = num_classes)."""
    bench = tiny_bench()
    model, ctx = unlearn_context(bench, merge_params(BoundaryExpand, bench.raw.name, {"lr": 1e-2, "epochs": 1}))
    seen: dict[str, Any] = {}
    real = ctx.train

    def train(widened: nn.Module, data: TensorData, recipe: Any = None, **kwargs: Any) -> Any:
        before = {k: p.detach().clone() for k, p in widened.named_parameters()}
        seen["labels"] = data.y.unique().tolist()
        seen["outputs"] = widened.fc.out_features  # type: ignore[union-attr]
        stats = real(widened, data, recipe, **kwargs)
        seen["unchanged"] = [k for k, p in widened.named_parameters() if torch.equal(p, before[k])]
        return stats

    ctx.train = train  # type: ignore[method-assign,assignment]
    after = BoundaryExpand().unlearn(model, ctx)
    classes = bench.raw.num_classes
    assert seen["labels"] == [classes] and seen["outputs"] == classes + 1
    assert seen["unchanged"] == []
    assert after.fc.out_features == classes  # type: ignore[union-attr]


def test_expand_rejects_an_unknown_shadow_init() -> None:
    bench = tiny_bench()
    model, ctx = unlearn_context(bench, merge_params(BoundaryExpand, bench.raw.name, {"shadow_init": "nope"}))
    with pytest.raises(ValueError, match="shadow_init must be one of"):
        BoundaryExpand().unlearn(model, ctx)
