"""Tests of the ``adversarial`` method (CS354 course report) on tiny synthetic data."""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from unlearnbench.api import Method, UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.methods import adversarial as adversarial_module
from unlearnbench.methods.adversarial import (
    Adversarial,
    Discriminator,
    class_match_weights,
    discriminator_loss,
    distillation_loss,
)
from unlearnbench.training import Recipe, train

NUM_CLASSES = 4


class TinyNet(nn.Module):
    """An MLP with a BatchNorm layer, enough to memorise 240 8×8 images."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, NUM_CLASSES)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def make_data(seed: int = 0, n: int = 240) -> TensorData:
    """Mostly-noise images with a faint class prototype: fitting them needs memorisation."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    proto = torch.rand(NUM_CLASSES, 1, 8, 8, generator=g) * 255
    noise = torch.rand(n, 1, 8, 8, generator=g) * 255
    x = (0.35 * proto[y] + 0.65 * noise).clamp(0, 255).to(torch.uint8)
    return TensorData(x, y, (0.5,), (0.25,), crop_padding=0, hflip=False)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Single-threaded CPU math: faster for these tiny tensors and bitwise reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained() -> tuple[TensorData, TinyNet]:
    """All data and a model trained on all of it until it fits every example."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = make_data()
        torch.manual_seed(0)
        model = TinyNet()
        train(model, data, Recipe(epochs=30, lr=0.05, batch_size=32, augment=False), seed=0)
    finally:
        torch.set_num_threads(before)
    return data, model


def split_random(data: TensorData) -> tuple[TensorData, TensorData]:
    """A random 40-example forget set and the rest as retain."""
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))
    return data.subset(perm[:40]), data.subset(perm[40:])


def split_class(data: TensorData, cls: int = 0) -> tuple[TensorData, TensorData]:
    """Class-wise forgetting: all of class ``cls`` is forgotten."""
    mask = data.y == cls
    return data.subset(mask), data.subset(~mask)


def make_ctx(
    original: nn.Module,
    forget: TensorData,
    retain: TensorData,
    seed: int = 0,
    **params: Any,
) -> UnlearnContext:
    """A hand-built context; the original is frozen as the bench hands it over."""
    frozen = copy.deepcopy(original).eval().requires_grad_(False)
    return UnlearnContext(
        params={**Adversarial.defaults, "forget_batch_size": 20, "retain_batch_size": 50, **params},
        seed=seed,
        device=torch.device("cpu"),
        retain=retain,
        forget=forget,
        val=retain,
        original=frozen,
        num_classes=NUM_CLASSES,
        recipe=Recipe(),
        new_model=TinyNet,
        oracle_model=TinyNet,
    )


def evaluate(model: nn.Module, data: TensorData) -> tuple[float, float, float]:
    """(mean cross-entropy, accuracy, mean true-class confidence) in eval mode."""
    model.eval()
    with torch.no_grad():
        logits = model(data.normalise(data.x))
        loss = float(nn.functional.cross_entropy(logits, data.y))
        acc = float((logits.argmax(1) == data.y).float().mean())
        conf = float(logits.softmax(1).gather(1, data.y[:, None]).mean())
    return loss, acc, conf


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def batchnorm(model: nn.Module) -> nn.BatchNorm1d:
    """The (only) BatchNorm layer of a TinyNet."""
    return next(m for m in model.modules() if isinstance(m, nn.BatchNorm1d))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- pure functions, against hand-computed values -------------------------------------------------


def test_class_match_weights_match_the_forget_mix() -> None:
    # retain shares c0 .5, c1 .25, c2 .25; forget shares c0 .25, c1 .75 → ratios .5, 3, 0 (mean already 1).
    w = class_match_weights(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 1]), 3)
    assert torch.allclose(w, torch.tensor([0.5, 0.5, 3.0, 0.0]))


def test_class_match_weights_normalise_to_mean_one() -> None:
    # Forget class 2 is absent from retain: raw weights [.5, 0] are rescaled to mean 1 → [2, 0].
    w = class_match_weights(torch.tensor([0, 1]), torch.tensor([0, 2, 2, 2]), 3)
    assert torch.allclose(w, torch.tensor([2.0, 0.0]))


def test_class_match_weights_fall_back_to_uniform_without_shared_classes() -> None:
    w = class_match_weights(torch.tensor([1, 2, 2]), torch.tensor([0, 0]), 3)
    assert torch.equal(w, torch.ones(3))


def test_distillation_loss_by_hand() -> None:
    # T = 2: teacher [2 ln 3, 0] → softmax([ln 3, 0]) = [3/4, 1/4]; student [0, 0] → [1/2, 1/2].
    teacher = torch.tensor([[2 * math.log(3.0), 0.0]])
    student = torch.zeros(1, 2)
    expected = 4 * (0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5))
    assert float(distillation_loss(student, teacher, 2.0)) == pytest.approx(expected, rel=1e-6)
    assert float(distillation_loss(teacher, teacher, 4.0)) == pytest.approx(0.0, abs=1e-7)


def test_discriminator_loss_by_hand() -> None:
    class FirstLogit(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z[:, 0]

    retain = torch.tensor([[0.0, 5.0], [math.log(3.0), 1.0]])
    forget = torch.tensor([[0.0, -2.0]])
    # Retain: mean of [2·softplus(0), 0·softplus(-ln 3)] = ln 2; forget: softplus(0) = ln 2.
    loss = discriminator_loss(FirstLogit(), retain, forget, torch.tensor([2.0, 0.0]))
    assert float(loss) == pytest.approx(2 * math.log(2.0), rel=1e-6)


def test_discriminator_shape() -> None:
    disc = Discriminator(NUM_CLASSES, 8)
    layers = list(disc.net)
    assert isinstance(layers[0], nn.Linear) and layers[0].in_features == NUM_CLASSES
    assert layers[0].out_features == 8
    assert isinstance(layers[1], nn.LeakyReLU) and layers[1].negative_slope == pytest.approx(0.2)
    assert isinstance(layers[2], nn.Linear) and layers[2].out_features == 1
    assert disc(torch.zeros(5, NUM_CLASSES)).shape == (5,)


# --- the plugin contract ---------------------------------------------------------------------------


def test_defaults_grid_and_registration() -> None:
    method = Adversarial()
    assert isinstance(method, Method)
    assert Adversarial.name == Path(adversarial_module.__file__).stem == "adversarial"
    assert "CS354 course report" in Adversarial.description and "\n" not in Adversarial.description
    d = Adversarial.defaults
    assert (d["hidden_size"], d["lr"], d["temperature"], d["strength"], d["disc_warmup"]) == (
        16,
        4e-4,
        4.0,
        0.5,
        10,
    )
    points = list(itertools.product(*Adversarial.grid.values()))
    assert len(points) == 9
    assert set(Adversarial.grid) == {"hidden_size", "lr"}
    assert sorted(Adversarial.grid["hidden_size"]) == [8, 16, 128]
    assert sorted(Adversarial.grid["lr"]) == [4e-5, 4e-4, 4e-3]
    assert adversarial_module.unlearnbench_add_methods() == [Adversarial]


# --- behaviour -------------------------------------------------------------------------------------


def test_class_wise_forgetting_moves_in_the_intended_direction(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_class(data)
    f_loss0, f_acc0, f_conf0 = evaluate(original, forget)
    _, r_acc0, _ = evaluate(original, retain)
    assert f_acc0 == 1.0 and r_acc0 == 1.0
    model = Adversarial().unlearn(
        copy.deepcopy(original), make_ctx(original, forget, retain, lr=4e-3, epochs=10)
    )
    f_loss, f_acc, f_conf = evaluate(model, forget)
    _, r_acc, _ = evaluate(model, retain)
    assert f_loss > f_loss0 + 1.0
    assert f_conf < f_conf0 - 0.5
    assert f_acc <= 0.5
    assert r_acc >= r_acc0 - 0.05


def test_random_forgetting_raises_forget_loss_only(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    f_loss0, _, f_conf0 = evaluate(original, forget)
    r_loss0, r_acc0, _ = evaluate(original, retain)
    model = Adversarial().unlearn(
        copy.deepcopy(original), make_ctx(original, forget, retain, lr=4e-3, epochs=20)
    )
    f_loss, _, f_conf = evaluate(model, forget)
    r_loss, r_acc, _ = evaluate(model, retain)
    assert f_loss > 1.3 * f_loss0
    assert f_conf < f_conf0
    assert f_loss / f_loss0 > r_loss / r_loss0
    assert r_acc >= r_acc0 - 0.02


def test_without_the_adversarial_term_distillation_keeps_the_original(
    trained: tuple[TensorData, TinyNet],
) -> None:
    # The teacher is the frozen original and the student starts equal to it, so distillation alone has
    # (up to round-off, which Adam turns into tiny steps) zero gradient; a method distilling from itself,
    # from a drifting copy, or with drifting BN statistics would move far more.
    data, original = trained
    forget, retain = split_random(data)
    model = Adversarial().unlearn(
        copy.deepcopy(original), make_ctx(original, forget, retain, lr=4e-3, epochs=20, strength=0.0)
    )
    with torch.no_grad():
        for split in (forget, retain):
            x = split.normalise(split.x)
            gap = (model(x).softmax(1) - original(x).softmax(1)).abs().max()
            assert float(gap) < 0.02


def test_original_is_untouched(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    ctx = make_ctx(original, forget, retain, lr=4e-3, epochs=3)
    before = snapshot(ctx.original)
    model = Adversarial().unlearn(copy.deepcopy(original), ctx)
    assert states_equal(snapshot(ctx.original), before)
    assert not ctx.original.training
    assert not any(p.requires_grad for p in ctx.original.parameters())
    assert not states_equal(snapshot(model), before)


def test_batchnorm_running_statistics_are_frozen(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    model = Adversarial().unlearn(
        copy.deepcopy(original), make_ctx(original, forget, retain, lr=4e-3, epochs=3)
    )
    bn, bn0 = batchnorm(model), batchnorm(original)
    assert bn.running_mean is not None and bn0.running_mean is not None
    assert bn.running_var is not None and bn0.running_var is not None
    assert torch.equal(bn.running_mean, bn0.running_mean)
    assert torch.equal(bn.running_var, bn0.running_var)
    assert bn.num_batches_tracked is not None and bn0.num_batches_tracked is not None
    assert torch.equal(bn.num_batches_tracked, bn0.num_batches_tracked)
    # The affine BN parameters still learn.
    assert not torch.equal(bn.weight, bn0.weight)
    assert not model.training


def test_same_seed_same_weights(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    rng_before = torch.get_rng_state()

    def run(seed: int) -> dict[str, torch.Tensor]:
        ctx = make_ctx(original, forget, retain, seed=seed, lr=4e-3, epochs=3)
        return snapshot(Adversarial().unlearn(copy.deepcopy(original), ctx))

    first, second, other = run(3), run(3), run(4)
    assert states_equal(first, second)
    assert not states_equal(first, other)
    # The method's own seeding does not disturb the caller's global RNG.
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_time_budget_stops_early_with_a_valid_model(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    calls: list[tuple[str, int, int]] = []
    ctx = make_ctx(original, forget, retain, lr=4e-3, epochs=100_000)
    ctx.time_budget = 0.3
    ctx.progress = lambda desc, done, total: calls.append((desc, done, total))
    start = time.perf_counter()
    model = Adversarial().unlearn(copy.deepcopy(original), ctx)
    assert time.perf_counter() - start < 5.0
    assert not model.training
    _, done, total = calls[-1]
    assert 0 < done < total
    assert not states_equal(snapshot(model), snapshot(original))
    with torch.no_grad():
        logits = model(forget.normalise(forget.x))
    assert logits.shape == (len(forget), NUM_CLASSES) and torch.isfinite(logits).all()


def test_progress_reports_completion(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    calls: list[tuple[str, int, int]] = []
    ctx = make_ctx(original, forget, retain, epochs=2, disc_warmup=10, disc_steps=1)
    ctx.progress = lambda desc, done, total: calls.append((desc, done, total))
    Adversarial().unlearn(copy.deepcopy(original), ctx)
    # 2 passes × 2 forget batches of 20 = 4 model steps, each after 1 D step, plus 10 warm-up D steps.
    assert calls[-1] == ("adversarial", 18, 18)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)


def test_empty_forget_set_returns_the_model_unchanged(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    empty = forget.subset(torch.zeros(len(forget), dtype=torch.bool))
    model = Adversarial().unlearn(copy.deepcopy(original), make_ctx(original, empty, retain))
    assert states_equal(snapshot(model), snapshot(original))


def test_invalid_parameters_are_rejected(trained: tuple[TensorData, TinyNet]) -> None:
    data, original = trained
    forget, retain = split_random(data)
    with pytest.raises(ValueError, match="hidden_size"):
        Adversarial().unlearn(copy.deepcopy(original), make_ctx(original, forget, retain, hidden_size=0))
