"""Tests of the structural and boundary methods: CF-k, EU-k, Boundary Shrink / Expanding and UNSIR."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn
from train_spies import resolved_call

from unlearnbench.api import Method, UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.methods import boundary_expand, boundary_shrink, cf_k, eu_k, unsir
from unlearnbench.methods.boundary_expand import BoundaryExpand, classifier_of, prune, widen
from unlearnbench.methods.boundary_shrink import BoundaryShrink, fgsm_uint8, nearest_labels, nearest_wrong_labels
from unlearnbench.methods.cf_k import CFk, last_blocks
from unlearnbench.methods.eu_k import EUk, reinitialise_last_blocks
from unlearnbench.methods.unsir import UNSIR, impair_data, learn_noise, noise_objective, retain_subset
from unlearnbench.models import named_blocks
from unlearnbench.selection import expand_grid
from unlearnbench.session import merge_params
from unlearnbench.testing import check_method, run_method, split_accuracy, tiny_bench, unlearn_context

MODULES = {
    "boundary_shrink": boundary_shrink,
    "boundary_expand": boundary_expand,
    "cf_k": cf_k,
    "eu_k": eu_k,
    "unsir": unsir,
}
CLASSES: dict[str, Any] = {
    "boundary_shrink": BoundaryShrink,
    "boundary_expand": BoundaryExpand,
    "cf_k": CFk,
    "eu_k": EUk,
    "unsir": UNSIR,
}
# Boundary Shrink / Expanding run on random forget sets too, as in SalUn's tables (tests/test_fidelity_boundary.py).
CLASS_WISE = {"unsir"}
# Short settings that still change the weights, for the contract tests.
FAST: dict[str, dict[str, Any]] = {
    "boundary_shrink": {"lr": 1e-3, "epochs": 2},
    "boundary_expand": {"lr": 1e-3, "epochs": 2},
    "cf_k": {"epochs": 1},
    "eu_k": {"epochs": 1},
    "unsir": {"noise_steps": 5},
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Single-threaded CPU math: faster for these tiny tensors and bitwise reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def bench_for(name: str) -> Any:
    """The class-wise tiny bench for class-wise methods, the random-forget one for the others."""
    return tiny_bench("class:1") if name in CLASS_WISE else tiny_bench()


def states_equal(a: nn.Module, b: nn.Module) -> bool:
    """Whether two modules hold identical parameters and buffers."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def spy_train(ctx: UnlearnContext, inspect: Callable[[nn.Module, TensorData, dict[str, Any]], None]) -> None:
    """Replace ``ctx.train`` by a wrapper that calls ``inspect(model, data, overrides)`` after training."""
    real = ctx.train

    def train(model: nn.Module, data: TensorData, recipe: Any = None, **overrides: Any) -> Any:
        stats = real(model, data, recipe, **overrides)
        inspect(model, data, resolved_call(ctx, recipe, overrides))
        return stats

    ctx.train = train  # type: ignore[method-assign,assignment]


# --- contract --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODULES))
def test_registered_under_its_file_stem(name: str) -> None:
    cls = CLASSES[name]
    assert MODULES[name].unlearnbench_add_methods() == [cls]
    assert cls.name == name
    assert isinstance(cls(), Method)
    assert "\n" not in cls.description and "20" in cls.description  # one line, cites a year
    points = expand_grid(cls.grid)
    assert 1 <= len(points) <= 3
    assert all(set(point) <= set(cls.defaults) for point in points)
    assert bool(getattr(cls, "requires_class_forget", False)) is (name in CLASS_WISE)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_keeps_the_shared_method_contract(name: str) -> None:
    run = check_method(CLASSES[name], FAST[name])
    assert run.bench is bench_for(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_deterministic_keeps_shapes_and_leaves_original_alone(name: str) -> None:
    bench = bench_for(name)
    first = run_method(CLASSES[name], FAST[name], bench=bench, seed=0)
    second = run_method(CLASSES[name], FAST[name], bench=bench, seed=0)
    assert states_equal(first.after, second.after)
    # The frozen original the method saw is exactly the original model.
    assert states_equal(first.ctx.original, first.before)
    assert states_equal(first.before, bench.model_from_state(bench.original().state))
    after, before = first.after.state_dict(), first.before.state_dict()
    assert {k: v.shape for k, v in after.items()} == {k: v.shape for k, v in before.items()}
    assert not states_equal(first.after, first.before)
    assert all(p.requires_grad for p in first.after.parameters())


# --- CF-k ------------------------------------------------------------------------------------------------


def test_last_blocks_validates_k() -> None:
    model = tiny_bench().new_model(0)
    assert [name for name, _ in last_blocks(model, 2)] == ["features.2", "fc"]
    assert len(last_blocks(model, 4)) == 4  # every block: plain fine-tuning
    for k in (0, 5):
        with pytest.raises(ValueError, match="k must be between 1 and 4"):
            last_blocks(model, k)


@pytest.mark.parametrize(("train_classifier", "trained"), [(False, 1), (True, 2)])
def test_cf_k_touches_only_the_last_k_blocks(train_classifier: bool, trained: int) -> None:
    # k = 2: features.2 and fc; with the classifier frozen (the default, as the reference) only features.2.
    params = {"k": 2, "epochs": 2, "lr": 0.05, "train_classifier": train_classifier}
    run = run_method(CFk, params, bench=tiny_bench())
    after, before = named_blocks(run.after), named_blocks(run.before)
    split = len(after) - 2
    changed = [False] * split + [True] * trained + [False] * (2 - trained)
    for (name, block), (_, original), moves in zip(after, before, changed, strict=True):
        if not moves:
            assert states_equal(block, original), f"frozen block {name} changed"  # BN statistics included
            continue
        pairs = zip(block.parameters(), original.parameters(), strict=True)
        assert all(not torch.equal(p, q) for p, q in pairs), f"trained block {name} has unchanged parameters"


# --- EU-k ------------------------------------------------------------------------------------------------


def test_reinitialise_last_blocks_copies_fresh_weights() -> None:
    bench = tiny_bench()
    model = bench.model_from_state(bench.original().state)
    original = bench.model_from_state(bench.original().state)
    fresh = bench.new_model(123)
    assert reinitialise_last_blocks(model, fresh, 2) == ["features.2", "fc"]
    blocks, fresh_blocks, old_blocks = named_blocks(model), named_blocks(fresh), named_blocks(original)
    assert all(states_equal(blocks[i][1], old_blocks[i][1]) for i in (0, 1))
    assert all(states_equal(blocks[i][1], fresh_blocks[i][1]) for i in (2, 3))
    assert not states_equal(blocks[3][1], old_blocks[3][1])


def test_eu_k_retrains_last_blocks_with_the_run_recipe() -> None:
    bench = tiny_bench("class:1")
    model, ctx = unlearn_context(bench, merge_params(EUk, "fake", {"k": 3}), seed=0)
    seen: list[dict[str, Any]] = []
    spy_train(ctx, lambda m, d, overrides: seen.append(overrides))
    EUk().unlearn(model, ctx)
    # epochs=None means "as long as the original was trained"; the rest is the reference's plain SGD.
    assert [(s["epochs"], s["lr"], s["momentum"], s["weight_decay"], s["batch_size"], s["augment"]) for s in seen] == [
        (bench.recipe.epochs, 0.01, 0.0, 0.0, 64, False)
    ]
    # Re-initialising and training the classifier part too, with the original's own recipe.
    recipe = {"lr": bench.recipe.lr, "momentum": bench.recipe.momentum, "weight_decay": bench.recipe.weight_decay,
              "batch_size": bench.recipe.batch_size, "schedule": "cosine"}  # fmt: skip
    params = merge_params(EUk, "fake", {"k": 3, "epochs": 20, "train_classifier": True, **recipe})
    model, ctx = unlearn_context(bench, params, seed=0)
    before = bench.model_from_state(bench.original().state)
    after = EUk().unlearn(model, ctx)
    assert states_equal(named_blocks(after)[0][1], named_blocks(before)[0][1])
    # Retraining the classifier part on the retain set alone forgets the class, as a retrained model does.
    assert split_accuracy(after, bench, "forget") <= 0.1
    assert split_accuracy(after, bench, "retain") >= 0.9


# --- Boundary Shrink -------------------------------------------------------------------------------------


def linear_model(weight: list[list[float]], bias: list[float] | None = None) -> nn.Module:
    """Flatten → Linear with the given weights (a model whose input gradients are known in closed form)."""
    rows, cols = len(weight), len(weight[0])
    layer = nn.Linear(cols, rows, bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias))
    return nn.Sequential(nn.Flatten(), layer).eval()


def two_by_two(x: list[list[int]], y: list[int]) -> TensorData:
    """1-channel 2×2 uint8 images, normalised with mean 0.5 and std 0.25."""
    images = torch.tensor(x, dtype=torch.uint8).view(-1, 1, 2, 2)
    return TensorData(images, torch.tensor(y), (0.5,), (0.25,), crop_padding=0, hflip=False)


def test_fgsm_step_hand_computed() -> None:
    # Two classes with w1 = -w0: dCE/dx = -2·p1·w0 for label 0 and +2·p0·w0 for label 1, so the step is
    # -sign(w0) resp. +sign(w0); ε = 20/255 moves each pixel by exactly 20 (clipped at 255).
    model = linear_model([[1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]])
    data = two_by_two([[100, 100, 100, 250], [100, 100, 100, 250]], [0, 1])
    adv = fgsm_uint8(model, data, data.x, data.y, 20 / 255)
    assert adv.dtype == torch.uint8
    assert adv.view(2, 4).tolist() == [[80, 120, 80, 255], [120, 80, 120, 230]]


def test_nearest_wrong_label_falls_back_to_runner_up_when_the_step_fails() -> None:
    # A huge bias margin for class 0: a 1/255 step cannot flip it; class 2 has the next-highest logit.
    model = linear_model([[0.01] * 4, [0.0] * 4, [-0.01] * 4], bias=[10.0, 0.0, 5.0])
    data = two_by_two([[10, 20, 30, 40]], [0])
    labels, success = nearest_wrong_labels(model, data, 1 / 255)
    assert labels.tolist() == [2] and success == 0.0


def independent_fgsm_labels(model: nn.Module, data: TensorData, eps: float) -> torch.Tensor:
    """Argmax of the model on FGSM examples, computed from scratch in [0, 1] pixel space."""
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    pixels = (data.x.float() / 255).requires_grad_(True)
    loss = nn.functional.cross_entropy(model((pixels - mean) / std), data.y)
    loss.backward()
    assert pixels.grad is not None
    adv = torch.round((pixels.detach() + eps * pixels.grad.sign()).clamp(0, 1) * 255) / 255
    with torch.no_grad():
        return model((adv - mean) / std).argmax(1)


def test_nearest_wrong_labels_on_the_original() -> None:
    bench = tiny_bench("class:1")
    original = bench.model_from_state(bench.original().state)
    forget = bench.data["forget"]
    labels, success = nearest_wrong_labels(original, forget, 0.1)
    assert bool((labels != forget.y).all())
    expected = independent_fgsm_labels(original, forget, 0.1)
    flipped = expected != forget.y
    assert success == pytest.approx(float(flipped.float().mean()))
    assert 0.0 < success < 1.0  # both paths (FGSM flip, runner-up fallback) are exercised
    assert torch.equal(labels[flipped], expected[flipped])


def test_boundary_shrink_moves_forget_examples_to_their_nearest_classes() -> None:
    bench = tiny_bench("class:1")
    forget = bench.data["forget"]
    # The reference's labels (argmax on the FGSM example): only the examples the step flips get another class.
    run = run_method(BoundaryShrink, {"lr": 1e-3}, bench=bench)
    labels, _ = nearest_labels(run.before, forget, 0.1)
    with torch.no_grad():
        predicted = run.after(forget.normalise(forget.x)).argmax(1)
    assert split_accuracy(run.before, bench, "forget") == 1.0
    assert split_accuracy(run.after, bench, "forget") < 1.0
    # Examples that are no longer classified correctly went to their nearest class.
    moved = predicted != forget.y
    assert bool(moved.any()) and float((predicted[moved] == labels[moved]).float().mean()) >= 0.8
    assert split_accuracy(run.after, bench, "retain") >= 0.9
    # relabel="wrong" gives every example another class: much more forgetting at the same rate.
    wrong = run_method(BoundaryShrink, {"lr": 1e-3, "relabel": "wrong"}, bench=bench)
    assert split_accuracy(wrong.after, bench, "forget") <= 0.6
    assert split_accuracy(wrong.after, bench, "retain") >= 0.9


# --- Boundary Expanding ----------------------------------------------------------------------------------


def test_widen_adds_one_fresh_row_and_prune_removes_it() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(3, 4)
    wide = widen(layer, torch.Generator().manual_seed(5))
    assert (wide.in_features, wide.out_features) == (3, 5)
    assert torch.equal(wide.weight[:4], layer.weight) and torch.equal(wide.bias[:4], layer.bias)
    assert float(wide.bias.detach()[4]) == 0.0
    again = widen(layer, torch.Generator().manual_seed(5))
    assert torch.equal(again.weight, wide.weight)  # the shadow row comes from the generator
    pruned = prune(wide)
    assert torch.equal(pruned.weight, layer.weight) and torch.equal(pruned.bias, layer.bias)


def test_classifier_of_finds_the_final_linear_layer() -> None:
    model = tiny_bench().new_model(0)
    parent, attribute, layer = classifier_of(model)
    assert parent is model and attribute == "fc" and layer is model.fc
    with pytest.raises(ValueError, match="final nn.Linear"):
        classifier_of(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))


def test_boundary_expand_trains_forget_into_the_shadow_class_then_prunes_it() -> None:
    bench = tiny_bench("class:1")
    params = merge_params(BoundaryExpand, "fake", {"lr": 1e-2, "epochs": 30})
    model, ctx = unlearn_context(bench, params, seed=0)
    seen: dict[str, Any] = {}

    def inspect(widened: nn.Module, data: TensorData, overrides: dict[str, Any]) -> None:
        widened.eval()
        with torch.no_grad():
            seen["shadow_share"] = float((widened(data.normalise(data.x)).argmax(1) == 4).float().mean())
        seen["labels"] = data.y.unique().tolist()
        seen["fc"] = [p.detach().clone() for p in widened.fc.parameters()]  # type: ignore[union-attr]

    spy_train(ctx, inspect)
    after = BoundaryExpand().unlearn(model, ctx)
    assert seen["labels"] == [4]  # every forget example is labelled with the shadow class
    assert seen["shadow_share"] >= 0.9  # and the widened model learnt to put them there
    assert isinstance(after.fc, nn.Linear) and after.fc.out_features == 4
    assert torch.equal(after.fc.weight, seen["fc"][0][:4]) and torch.equal(after.fc.bias, seen["fc"][1][:4])
    assert split_accuracy(after, bench, "forget") <= 0.6
    assert split_accuracy(after, bench, "retain") >= 0.85


# --- UNSIR -----------------------------------------------------------------------------------------------


def test_noise_objective_hand_computed() -> None:
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    noise = torch.stack([torch.ones(1, 2, 2), torch.zeros(1, 2, 2)])
    # CE for class 0: ln 2 and ln(4/3); mean ‖noise‖² = (4 + 0) / 2 = 2.
    expected = -(math.log(2.0) + math.log(4.0 / 3.0)) / 2 + 0.1 * 2.0
    assert float(noise_objective(logits, noise, 0, 0.1)) == pytest.approx(expected, rel=1e-6)


def test_learned_noise_maximises_the_originals_error_on_its_class() -> None:
    bench = tiny_bench("class:1")
    original = bench.model_from_state(bench.original().state)
    kept = bench.model_from_state(bench.original().state)
    shape = (16, 3, 8, 8)
    start = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    noise = learn_noise(original, 1, shape, 30, 0.1, 0.1, generator, torch.device("cpu"))
    labels = torch.ones(16, dtype=torch.long)
    with torch.no_grad():
        before = float(nn.functional.cross_entropy(original(start), labels))
        after = float(nn.functional.cross_entropy(original(noise), labels))
        hits = int((original(noise).argmax(1) == 1).sum())
    assert after > before + 1.0
    assert hits == 0
    assert states_equal(original, kept)  # only the noise was optimised


def test_retain_subset_draws_per_class() -> None:
    data = TensorData(
        torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1),
        torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 2]),
        (0.0,),
        (1.0,),
    )
    subset = retain_subset(data, 3, torch.Generator().manual_seed(0))
    assert torch.bincount(subset.y).tolist() == [3, 2, 3]
    assert set(subset.x.flatten().tolist()) <= set(range(10))
    again = retain_subset(data, 3, torch.Generator().manual_seed(0))
    assert torch.equal(subset.x, again.x)


def test_impair_data_returns_the_noise_as_model_input() -> None:
    retain = tiny_bench("class:1").data["retain"]
    subset = retain.subset(torch.arange(10))
    noise = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    mixed = impair_data(subset, {1: noise}, copies=2)
    assert len(mixed) == 10 + 8
    assert mixed.y[10:].tolist() == [1] * 8
    inputs, labels = next(mixed.batches(len(mixed)))
    assert torch.allclose(inputs[:10], subset.normalise(subset.x))
    assert torch.allclose(inputs[10:14], noise, atol=1e-4) and torch.allclose(inputs[14:], noise, atol=1e-4)
    assert torch.equal(labels, mixed.y)


def test_unsir_forgets_the_class_and_repairs_the_rest() -> None:
    bench = tiny_bench("class:1")
    run = run_method(UNSIR, {}, bench=bench)
    assert split_accuracy(run.before, bench, "forget") == 1.0
    assert split_accuracy(run.after, bench, "forget") <= 0.1
    assert split_accuracy(run.after, bench, "retain") >= 0.85


def test_unsir_needs_forget_classes() -> None:
    model, ctx = unlearn_context(tiny_bench(), merge_params(UNSIR, "fake", {}), seed=0)
    assert ctx.forget_classes is None
    with pytest.raises(ValueError, match="class-wise"):
        UNSIR().unlearn(model, ctx)
