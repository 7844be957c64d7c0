"""Fidelity of unsir, bad_teacher, ssd and adversarial to their reference code (issue 15).

Each test pins a behaviour that the fidelity pass changed to follow the authors' code: what the impair
set of UNSIR holds and how its noise is learnt (the notebook of vikram2000b/Fast-Machine-Unlearning), the
bad-teacher loss scale (vikram2000b/bad-teaching-unlearning), the minibatches SSD's importances are
computed over (if-loops/selective-synaptic-dampening), and the adversarial method's augmentation switch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn
from train_spies import resolved_call

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.methods import adversarial, ssd
from unlearnbench.methods.adversarial import Adversarial
from unlearnbench.methods.bad_teacher import BadTeacher, bad_teacher_loss
from unlearnbench.methods.ssd import SSD
from unlearnbench.methods.unsir import UNSIR
from unlearnbench.session import merge_params
from unlearnbench.testing import tiny_bench, unlearn_context


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Single-threaded CPU math: faster for these tiny tensors and bitwise reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def context(cls: type, forget: str, **params: Any) -> tuple[nn.Module, UnlearnContext]:
    """The model and context the runner would give ``cls`` on the tiny fake bench."""
    bench = tiny_bench(forget)
    return unlearn_context(bench, merge_params(cls, bench.raw.name, params), seed=0)


def record_train(ctx: UnlearnContext) -> list[tuple[TensorData, dict[str, Any]]]:
    """Replace ``ctx.train`` by a spy that records (data, keyword arguments) and then trains."""
    calls: list[tuple[TensorData, dict[str, Any]]] = []
    real = ctx.train

    def train(model: nn.Module, data: TensorData, recipe: Any = None, **kwargs: Any) -> Any:
        calls.append((data, resolved_call(ctx, recipe, kwargs)))
        return real(model, data, recipe, **kwargs)

    ctx.train = train  # type: ignore[method-assign,assignment]
    return calls


def batchnorm_stats(model: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for name, t in model.state_dict().items() if "running_" in name]


# ------------------------------------------------------------------------------------------- UNSIR


def test_unsir_defaults_are_the_notebooks() -> None:
    """Machine Unlearning.ipynb cells 8, 10, 20, 23-30 (commit 252bc92)."""
    d = UNSIR.defaults
    assert (d["noise_size"], d["noise_images"], d["noise_copies"], d["noise_steps"]) == (256, 3, 20, 40)
    assert (d["noise_lr"], d["noise_lambda"], d["noise_mode"]) == (0.1, 0.1, "train")
    assert (d["retain_per_class"], d["impair_lr"], d["repair_lr"], d["batch_size"]) == (1000, 0.02, 0.01, 256)
    assert (d["impair_epochs"], d["repair_epochs"], d["weight_decay"], d["schedule"]) == (1, 1, 0.0, "constant")
    assert d["augment"] is False


def test_unsir_impair_set_holds_twenty_copies_of_three_noise_images_per_class() -> None:
    # The notebook appends range(batch[0].size(0)) = 3 images of each of its 20 copies (cell 26): 60 noise
    # images per forget class beside the retain subset, not 20 copies of the whole 256-image batch.
    model, ctx = context(UNSIR, "class:1", noise_steps=2)
    calls = record_train(ctx)
    UNSIR().unlearn(model, ctx)
    (impair, impair_kw), (repair, repair_kw) = calls
    assert impair_kw["description"] == "impair" and repair_kw["description"] == "repair"
    noise_x, noise_y = impair.x[len(repair) :], impair.y[len(repair) :]
    assert len(impair) - len(repair) == 3 * 20
    assert noise_y.tolist() == [1] * 60  # labelled with its forget class
    copies = noise_x.view(20, 3, *noise_x.shape[1:])
    assert torch.equal(copies, copies[:1].expand_as(copies))  # 20 copies of the same 3 images
    assert len({tuple(image.flatten().tolist()) for image in copies[0]}) == 3
    for kw in (impair_kw, repair_kw):
        assert (kw["optimizer"], kw["momentum"], kw["weight_decay"], kw["schedule"]) == ("adam", 0.0, 0.0, "constant")
        assert kw["augment"] is False and kw["epochs"] == 1
    assert (impair_kw["lr"], repair_kw["lr"]) == (0.02, 0.01)


def test_unsir_learns_the_noise_on_the_model_in_train_mode() -> None:
    # Cell 23 loads the weights into a fresh module (train mode) and cell 24 optimises the noise through it:
    # BatchNorm sees the noise batch's own statistics and its running statistics move before the impair step.
    model, ctx = context(UNSIR, "class:1", noise_steps=3)
    seen: list[tuple[bool, int]] = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append((module.training, args[0].shape[0])))
    stats_at_impair: list[list[torch.Tensor]] = []
    real = ctx.train

    def train(m: nn.Module, data: TensorData, recipe: Any = None, **kwargs: Any) -> Any:
        if not stats_at_impair:
            stats_at_impair.append(batchnorm_stats(m))
            hook.remove()
        return real(m, data, recipe, **kwargs)

    ctx.train = train  # type: ignore[method-assign,assignment]
    UNSIR().unlearn(model, ctx)
    assert seen == [(True, 256)] * 3  # three noise steps on the model itself, train mode, the whole batch
    before = batchnorm_stats(ctx.original)
    assert any(not torch.equal(a, b) for a, b in zip(before, stats_at_impair[0], strict=True))


def test_unsir_keeps_the_earlier_behaviour_as_named_values() -> None:
    model, ctx = context(UNSIR, "class:1", noise_steps=2, noise_size=8, noise_images=None, noise_mode="eval")
    stats: list[list[torch.Tensor]] = []
    sizes: list[int] = []
    real = ctx.train

    def train(m: nn.Module, data: TensorData, recipe: Any = None, **kwargs: Any) -> Any:
        stats.append(batchnorm_stats(m))
        sizes.append(len(data))
        return real(m, data, recipe, **kwargs)

    ctx.train = train  # type: ignore[method-assign,assignment]
    UNSIR().unlearn(model, ctx)
    assert sizes[0] - sizes[1] == 8 * 20  # the whole noise batch in every copy
    assert all(torch.equal(a, b) for a, b in zip(batchnorm_stats(ctx.original), stats[0], strict=True))


# ------------------------------------------------------------------------------------------- bad teacher


class Const(nn.Module):
    """A 'model' that returns the same logits row for every input."""

    def __init__(self, row: list[float]) -> None:
        super().__init__()
        self.row = torch.tensor(row)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.row.expand(x.shape[0], -1)


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def test_bad_teacher_loss_is_the_references_elementwise_mean_without_t_squared() -> None:
    # unlearn.py 9-19: F.kl_div(log_softmax(student / T), mixed teacher probabilities) with the default
    # reduction, i.e. the summed KL over the batch divided by batch size x number of classes; no T² factor.
    competent, incompetent = Const([0.0, 0.0]), Const([0.0, math.log(3.0)])
    student = torch.zeros(2, 2)  # uniform
    flags = torch.tensor([1, 0])  # row 0 forget (incompetent teacher), row 1 retain (competent)
    loss = bad_teacher_loss(competent, incompetent, 1.0)
    assert float(loss(nn.Identity(), student, flags)) == pytest.approx(kl([0.25, 0.75], [0.5, 0.5]) / 4, rel=1e-5)
    # At T = 2 the incompetent teacher's probabilities are softmax(0, ln(3) / 2) = (1, √3) / (1 + √3).
    soft = [1 / (1 + math.sqrt(3.0)), math.sqrt(3.0) / (1 + math.sqrt(3.0))]
    hot = bad_teacher_loss(competent, incompetent, 2.0)
    assert float(hot(nn.Identity(), student, flags)) == pytest.approx(kl(soft, [0.5, 0.5]) / 4, rel=1e-5)


def test_bad_teacher_trains_with_the_references_loss_and_settings() -> None:
    model, ctx = context(BadTeacher, "0.1")
    calls = record_train(ctx)
    BadTeacher().unlearn(model, ctx)
    ((data, kw),) = calls
    assert (kw["optimizer"], kw["momentum"], kw["weight_decay"], kw["schedule"]) == ("adam", 0.0, 0.0, "constant")
    assert kw["augment"] is False and kw["lr"] == 1e-4
    competent, incompetent = Const([0.0, 0.0]), Const([0.0, math.log(3.0)])
    reference = bad_teacher_loss(competent, incompetent, 1.0)(nn.Identity(), torch.zeros(2, 2), torch.tensor([1, 0]))
    assert float(reference) == pytest.approx(kl([0.25, 0.75], [0.5, 0.5]) / 4, rel=1e-5)
    # The loss the run used has the same scale: per example KL / number of classes on the run's data.
    x, flags = next(data.batches(8))
    with torch.no_grad():
        used = float(kw["loss_fn"](model, x, flags))
        student = nn.functional.log_softmax(model(x), dim=1)
        good = nn.functional.softmax(ctx.original(x), dim=1)
        bad = nn.functional.softmax(ctx.new_model().eval()(x), dim=1)
        teacher = torch.where(flags.view(-1, 1).bool(), bad, good)
        by_hand = float((torch.xlogy(teacher, teacher) - teacher * student).sum() / teacher.numel())
    assert used == pytest.approx(by_hand, rel=1e-5)


def test_bad_teacher_keeps_the_earlier_loss_as_batchmean() -> None:
    competent, incompetent = Const([0.0, 0.0]), Const([0.0, math.log(3.0)])
    loss = bad_teacher_loss(competent, incompetent, 1.0, "batchmean")
    flags = torch.tensor([1, 0])
    expected = kl([0.25, 0.75], [0.5, 0.5]) / 2  # the mean KL per example (T² = 1)
    assert float(loss(nn.Identity(), torch.zeros(2, 2), flags)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="kl_reduction"):
        bad_teacher_loss(competent, incompetent, 1.0, "sum")


# ------------------------------------------------------------------------------------------- SSD


def record_importance(monkeypatch: pytest.MonkeyPatch) -> list[tuple[torch.Tensor, int]]:
    """Record (labels in visiting order, batch size) of every importance computation of ``ssd``."""
    calls: list[tuple[torch.Tensor, int]] = []
    real = ssd.squared_batch_gradients

    def spy(model: nn.Module, data: TensorData, batch_size: int = 128) -> dict[str, torch.Tensor]:
        calls.append((data.y.clone(), int(batch_size)))
        return real(model, data, batch_size)

    monkeypatch.setattr(ssd, "squared_batch_gradients", spy)
    return calls


def test_ssd_class_wise_uses_batches_of_64_over_a_retain_set_ordered_by_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # forget_full_class_main.py 58, 137-157: -b defaults to 64 for both loaders, and the retain set is
    # appended class by class (forget_full_class_strategies.py 24-63), then the forget set, unshuffled.
    calls = record_importance(monkeypatch)
    model, ctx = context(SSD, "class:1")
    assert not bool((ctx.retain.y[1:] >= ctx.retain.y[:-1]).all())  # the bench's own order mixes classes
    SSD().unlearn(model, ctx)
    (forget_y, forget_bs), (full_y, full_bs) = calls
    assert (forget_bs, full_bs) == (64, 64)
    assert torch.equal(forget_y, ctx.forget.y)
    n = len(ctx.retain)
    assert torch.equal(full_y[:n], torch.sort(ctx.retain.y).values) and torch.equal(full_y[n:], ctx.forget.y)


def test_ssd_random_forgetting_uses_batches_of_128_in_data_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # forget_random_main.py 57, 117-136: batch 128, retain (random_split order) then forget, unshuffled.
    calls = record_importance(monkeypatch)
    model, ctx = context(SSD, "0.1")
    SSD().unlearn(model, ctx)
    (forget_y, forget_bs), (full_y, full_bs) = calls
    assert (forget_bs, full_bs) == (128, 128)
    assert torch.equal(full_y, torch.cat([ctx.retain.y, ctx.forget.y]))


def test_ssd_keeps_the_earlier_set_up_as_named_values(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_importance(monkeypatch)
    model, ctx = context(SSD, "class:1", batch_size=128, sort_retain_by_class=False)
    SSD().unlearn(model, ctx)
    assert [bs for _, bs in calls] == [128, 128]
    assert torch.equal(calls[1][0], torch.cat([ctx.retain.y, ctx.forget.y]))


def test_ssd_augment_passes_each_image_through_one_random_crop_and_flip(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.Tensor] = []
    real = ssd.squared_batch_gradients

    def spy(model: nn.Module, data: TensorData, batch_size: int = 128) -> dict[str, torch.Tensor]:
        seen.append(data.x.clone())
        return real(model, data, batch_size)

    monkeypatch.setattr(ssd, "squared_batch_gradients", spy)
    model, ctx = context(SSD, "0.1", augment=True)
    SSD().unlearn(model, ctx)
    assert seen[0].shape == ctx.forget.x.shape and not torch.equal(seen[0], ctx.forget.x)
    model, ctx = context(SSD, "0.1")
    SSD().unlearn(model, ctx)
    assert torch.equal(seen[2], ctx.forget.x)  # the default: no augmentation (datasets.py 24-28)


# ------------------------------------------------------------------------------------------- adversarial


def test_adversarial_augment_switch_reaches_its_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # No augmentation by default (seed-protocol.md 15); augment=True augments every stream.
    flags: list[bool] = []
    real = TensorData.batches

    def batches(self: TensorData, batch_size: int, shuffle: bool = False, augment: bool = False, **kw: Any) -> Any:
        flags.append(augment)
        return real(self, batch_size, shuffle=shuffle, augment=augment, **kw)

    monkeypatch.setattr(TensorData, "batches", batches)
    fast = {"epochs": 1, "disc_warmup": 1}
    model, ctx = context(Adversarial, "0.1", **fast)
    Adversarial().unlearn(model, ctx)
    assert flags and not any(flags)
    flags.clear()
    model, ctx = context(Adversarial, "0.1", augment=True, **fast)
    Adversarial().unlearn(model, ctx)
    assert flags and all(flags)
    assert Adversarial.defaults["augment"] is False and Adversarial.defaults["weight_decay"] == 0.0


def test_adversarial_weight_decay_reaches_both_optimisers(monkeypatch: pytest.MonkeyPatch) -> None:
    decays: list[float] = []
    real = torch.optim.Adam

    def adam(params: Any, **kw: Any) -> torch.optim.Optimizer:
        decays.append(float(kw.get("weight_decay", 0.0)))
        return real(params, **kw)

    monkeypatch.setattr(adversarial.torch.optim, "Adam", adam)
    model, ctx = context(Adversarial, "0.1", epochs=1, disc_warmup=1, weight_decay=0.01)
    Adversarial().unlearn(model, ctx)
    assert decays == [0.01, 0.01]
