"""Fidelity of the saliency / sparsity family to its reference code (OPTML-Group/Unlearn-Saliency@a6e89fd,
OPTML-Group/Unlearn-Sparse@80ba55d): salun, random_label, gradient_ascent, l1_sparse and influence.

The loop structure is recorded through a spy on ``TensorData.batches``: the shared training loop asks every
pass for its batches with ``drop_last`` (so its calls can be told from the saliency and gradient passes,
which never pass it), with the data it iterates and whether it augments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from unlearnbench import tensordata
from unlearnbench.data import pipeline
from unlearnbench.data.pipeline import TensorData
from unlearnbench.methods.gradient_ascent import GradientAscent
from unlearnbench.methods.influence import Influence
from unlearnbench.methods.l1_sparse import L1Sparse
from unlearnbench.methods.random_label import RandomLabel
from unlearnbench.methods.salun import SalUn
from unlearnbench.testing import run_method, split_accuracy, tiny_bench


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass(frozen=True)
class Pass:
    """One call of ``TensorData.batches``."""

    size: int
    labels: frozenset[int]
    shuffle: bool
    augment: bool
    training: bool  # asked for by the shared training loop (it passes drop_last)


def record_passes(monkeypatch: pytest.MonkeyPatch) -> list[Pass]:
    seen: list[Pass] = []
    real = TensorData.batches

    def spy(self: TensorData, batch_size: int, *args: Any, **kwargs: Any) -> Any:
        names = ("shuffle", "augment", "generator", "drop_last")
        given = {**dict(zip(names, args, strict=False)), **kwargs}
        seen.append(
            Pass(
                len(self), frozenset(int(v) for v in self.y.unique()), bool(given.get("shuffle", False)),
                bool(given.get("augment", False)), "drop_last" in given,
            )
        )  # fmt: skip
        return real(self, batch_size, *args, **kwargs)

    monkeypatch.setattr(TensorData, "batches", spy)
    return seen


# ------------------------------------------------------------------- RL and SalUn: the loop of RL.py 109-176


@pytest.mark.parametrize("cls", [RandomLabel, SalUn])
def test_every_epoch_is_a_forget_pass_then_a_retain_pass(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """RL.py 123-159: the forget loader with random labels, then the retain loader, each epoch (not one mix)."""
    bench = tiny_bench("class:1")
    n_forget, n_retain = len(bench.data["forget"]), len(bench.data["retain"])
    seen = record_passes(monkeypatch)
    run_method(cls, {"epochs": 3}, bench=bench)
    training = [(p.size, p.augment) for p in seen if p.training]
    assert training == [(n_forget, True), (n_retain, True)] * 3


@pytest.mark.parametrize("cls", [RandomLabel, SalUn])
def test_mixed_keeps_the_single_shuffled_stream(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mixed=True``: one pass over forget ∪ retain per epoch (the reference's CIFAR-100 branch)."""
    bench = tiny_bench("class:1")
    total = len(bench.data["forget"]) + len(bench.data["retain"])
    seen = record_passes(monkeypatch)
    run_method(cls, {"epochs": 2, "mixed": True}, bench=bench)
    assert [p.size for p in seen if p.training] == [total, total]


def cross_entropy_targets(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    targets: list[torch.Tensor] = []
    real = nn.functional.cross_entropy

    def spy(logits: torch.Tensor, target: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        targets.append(target.detach().clone())
        return real(logits, target, *args, **kwargs)

    monkeypatch.setattr(nn.functional, "cross_entropy", spy)
    return targets


@pytest.mark.parametrize("cls", [RandomLabel, SalUn])
def test_random_labels_are_wrong_by_default_and_uniform_over_all_classes_as_the_code(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Class 1 is forgotten, so only a random label can be 1: never with the paper's y' ≠ y (the default),
    about 1/K of the forget labels with the code's torch.randint(0, K) (``wrong_only=False``)."""
    bench = tiny_bench("class:1")
    def random(targets: list[torch.Tensor]) -> list[torch.Tensor]:
        # SalUn's saliency pass sees the forget set's true labels (all 1); random labels never are all 1.
        return [t for t in targets if not bool((t == 1).all())]

    targets = cross_entropy_targets(monkeypatch)
    run_method(cls, {"epochs": 4, "batch_size": 16}, bench=bench)
    assert random(targets) and not any(bool((t == 1).any()) for t in random(targets))
    targets.clear()
    run_method(cls, {"epochs": 4, "batch_size": 16, "wrong_only": False}, bench=bench)
    forget_batches = [t for t in random(targets) if 1 in t.tolist()]
    ones = sum(int((t == 1).sum()) for t in random(targets))
    assert forget_batches, "uniform labels over all K classes include the forgotten one"
    n_forget_labels = 4 * len(bench.data["forget"])  # every forget example, the last partial batch included
    assert 0.1 < ones / n_forget_labels < 0.45  # ≈ 1/K = 0.25


def test_salun_saliency_pass_is_shuffled_and_augmented_and_restores_non_salient_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """generate_mask.py 25-48: one pass over the shuffled forget loader through the training transform."""
    bench = tiny_bench("class:1")
    seen = record_passes(monkeypatch)
    run = run_method(SalUn, {"epochs": 2, "lr": 0.05}, bench=bench)
    saliency = [p for p in seen if not p.training]
    assert saliency == [Pass(len(bench.data["forget"]), frozenset({1}), True, True, False)]
    # Half the weights never move, in either pass (RL.py 134-140 and 153-159, a6e89fd's restore).
    before = dict(run.before.named_parameters())
    after = dict(run.after.named_parameters())
    unchanged = sum(int((after[n] == before[n]).sum()) for n in before)
    total = sum(p.numel() for p in before.values())
    assert unchanged >= total // 2


def test_l1_sparse_coefficient_follows_the_real_epochs_with_the_partial_batch_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FT.py 92-105: γ_e = α(1 − e/E) for every batch of epoch e, the last partial retain batch included.

    230 retain examples at batch 64 make 4 steps an epoch (3 full batches and one of 38); a count of full
    batches only (3) would move γ to the next epoch's value one step early each epoch and reach 0 in the
    last epoch.
    """
    from unlearnbench.methods import l1_sparse

    bench = tiny_bench()
    n_retain, batch, epochs, alpha = len(bench.data["retain"]), 64, 3, 1e-3
    assert n_retain % batch and n_retain > batch
    seen = record_passes(monkeypatch)
    coefficients: list[tuple[int, float]] = []
    real = l1_sparse.decayed_coefficient

    def spy(a: float, epoch: int, total: int) -> float:
        value = real(a, epoch, total)
        coefficients.append((sum(p.training for p in seen) - 1, value))
        return value

    monkeypatch.setattr(l1_sparse, "decayed_coefficient", spy)
    run_method(L1Sparse, {"epochs": epochs, "batch_size": batch, "alpha": alpha}, bench=bench)
    steps = -(-n_retain // batch)
    assert len(coefficients) == epochs * steps
    for epoch, value in coefficients:
        assert value == pytest.approx(alpha * (1 - epoch / epochs)), coefficients


# ------------------------------------------------------------------- augmentation through the training transform


@pytest.mark.parametrize(
    ("cls", "params", "split"),
    [
        (GradientAscent, {"epochs": 2}, "forget"),
        (L1Sparse, {"epochs": 2}, "retain"),
        (RandomLabel, {"epochs": 1}, None),
        (SalUn, {"epochs": 1}, None),
    ],
)
def test_training_passes_go_through_the_training_augmentation(
    cls: type, params: dict[str, Any], split: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The references' loaders keep the training transform (dataset.py 542-555) unless --no-aug."""
    bench = tiny_bench()
    seen = record_passes(monkeypatch)
    run_method(cls, params, bench=bench)
    training = [p for p in seen if p.training]
    assert training and all(p.augment for p in training)
    if split is not None:
        assert {p.size for p in training} == {len(bench.data[split])}
    seen.clear()
    run_method(cls, {**params, "augment": False}, bench=bench)
    assert not any(p.augment for p in seen)


def test_influence_gradients_go_through_the_training_augmentation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wfisher.py 116-124 reuses the forget / retain datasets, which carry the training transform."""
    bench = tiny_bench("class:1")
    crops: list[int] = []
    real = pipeline.augment_batch

    def spy(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        crops.append(int(x.shape[0]))
        return real(x, *args, **kwargs)

    monkeypatch.setattr(pipeline, "augment_batch", spy)  # the path influence.py calls
    monkeypatch.setattr(tensordata, "augment_batch", spy)  # where TensorData.batches finds it
    augmented = run_method(Influence, {"alpha": 1.0, "samples": 40}, bench=bench)
    n_f, n_r = len(bench.data["forget"]), len(bench.data["retain"])
    assert sum(crops) == n_f + n_r + 40  # the two gradient sums and the recursion's examples, once each
    crops.clear()
    plain = run_method(Influence, {"alpha": 1.0, "samples": 40, "augment": False}, bench=bench)
    assert not crops
    moved = [not torch.equal(a, b) for a, b in zip(augmented.after.parameters(), plain.after.parameters())]
    assert any(moved)
    assert split_accuracy(augmented.after, bench, "forget") < split_accuracy(augmented.before, bench, "forget")


# ------------------------------------------------------------------- pinned reference values


REFERENCE_DEFAULTS: dict[type, dict[str, Any]] = {
    # Unlearn-Saliency Classification/README.md 34 and arg_parser.py 69-84; impl.py 68-97.
    SalUn: {"mask_ratio": 0.5, "lr": 0.013, "epochs": 10, "batch_size": 256, "momentum": 0.9,
            "weight_decay": 5e-4, "nesterov": False, "schedule": "constant", "optimizer": "sgd",
            "augment": True, "mixed": False},
    RandomLabel: {"lr": 0.01, "epochs": 10, "batch_size": 256, "momentum": 0.9, "weight_decay": 5e-4,
                  "nesterov": False, "schedule": "constant", "optimizer": "sgd", "augment": True,
                  "mixed": False},
    # Unlearn-Sparse README.MD 74 / 86, arg_parser.py 67-76, unlearn/impl.py 72-100.
    GradientAscent: {"lr": 1e-4, "epochs": 5, "batch_size": 256, "momentum": 0.9, "weight_decay": 5e-4,
                     "nesterov": False, "schedule": "constant", "optimizer": "sgd", "augment": True},
    L1Sparse: {"lr": 0.01, "epochs": 10, "batch_size": 256, "momentum": 0.9, "weight_decay": 5e-4,
               "nesterov": False, "schedule": "constant", "optimizer": "sgd", "augment": True},
    # Unlearn-Sparse unlearn/Wfisher.py 66 and 82-83, 116-124.
    Influence: {"damping": 1000.0, "samples": 1002, "batch_size": 256, "augment": True},
}  # fmt: skip


@pytest.mark.parametrize("cls", list(REFERENCE_DEFAULTS), ids=lambda c: c.name)
def test_defaults_are_the_reference_values(cls: type) -> None:
    for key, value in REFERENCE_DEFAULTS[cls].items():
        assert cls.defaults.get(key) == value, f"{cls.name}.{key}"
    if "wrong_only" in cls.defaults:
        assert cls.defaults["wrong_only"] is True  # the paper's y' ≠ y (the code draws from all K)
