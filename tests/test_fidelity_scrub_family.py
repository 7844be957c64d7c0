"""Fidelity of the SCRUB family to its reference code (issue 15): neggrad_plus, scrub, cf_k, eu_k,
fisher_forgetting and finetune.

Each fix of the fidelity pass has a test here that fails on the code before it: the optimiser set-up and
batch sizes of NegGrad+, its ℓ2 pull; SCRUB's single optimiser, its pass order with every batch kept, its
learning-rate decay; CF-k / EU-k's plain SGD, frozen classifier, step schedule and BatchNorm option.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn
from train_spies import resolved_call

from unlearnbench.api import UnlearnContext
from unlearnbench.methods.cf_k import CFk
from unlearnbench.methods.eu_k import EUk
from unlearnbench.methods.finetune import Finetune
from unlearnbench.methods.fisher_forgetting import FisherForgetting
from unlearnbench.methods.neggrad_plus import NegGradPlus
from unlearnbench.methods.scrub import Scrub
from unlearnbench.models import named_blocks
from unlearnbench.session import merge_params
from unlearnbench.testing import run_method, tiny_bench, unlearn_context

PLUGINS = (NegGradPlus, Scrub, CFk, EUk, FisherForgetting, Finetune)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Single-threaded CPU math: faster for these tiny tensors and bitwise reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def record_train(monkeypatch: pytest.MonkeyPatch, train: bool = True) -> list[dict[str, Any]]:
    """Make ``UnlearnContext.train`` record its keyword arguments (and still train when ``train``).

    Patched on the class, so contexts derived with ``dataclasses.replace`` are recorded too.
    """
    calls: list[dict[str, Any]] = []
    real = UnlearnContext.train

    def spy(self: UnlearnContext, model: nn.Module, data: Any, recipe: Any = None, **overrides: Any) -> Any:
        calls.append(resolved_call(self, recipe, overrides))
        return real(self, model, data, recipe, **overrides) if train else None

    monkeypatch.setattr(UnlearnContext, "train", spy)
    return calls


def states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def parameters_moved(a: nn.Module, b: nn.Module) -> bool:
    return any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def one_pass(n: int, batch: int) -> list[int]:
    """Batch sizes of one pass over ``n`` examples that keeps the last partial batch."""
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


class CountingSGD(torch.optim.SGD):
    """torch.optim.SGD that counts its instances and records the learning rate of every step."""

    created = 0
    lrs: list[float] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        CountingSGD.created += 1

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        CountingSGD.lrs.append(float(self.param_groups[0]["lr"]))
        return super().step(closure)


@pytest.fixture
def counting_sgd(monkeypatch: pytest.MonkeyPatch) -> type[CountingSGD]:
    CountingSGD.created = 0
    CountingSGD.lrs = []
    monkeypatch.setattr(torch.optim, "SGD", CountingSGD)
    return CountingSGD


# --------------------------------------------------------------------------------------- fidelity records


@pytest.mark.parametrize("cls", PLUGINS, ids=lambda c: c.name)
def test_every_default_is_cited_with_the_reference_value(cls: Any) -> None:
    record = cls.fidelity
    assert record.repository and re.fullmatch(r"[0-9a-f]{40}", record.commit or "")
    assert record.loop
    assert set(record.defaults) == set(cls.defaults)
    allowed = record.differing_parameters()
    for key, value in cls.defaults.items():
        source = record.defaults[key]
        assert source.file and source.lines, key
        if key not in allowed:
            assert source.value == value, f"{cls.name}.{key}: ours {value!r}, reference {source.value!r}"
    for difference in record.differences:
        assert difference.what and difference.why and difference.effect


# --------------------------------------------------------------------------------------- NegGrad+


def test_neggrad_plus_takes_the_reference_optimiser(monkeypatch: pytest.MonkeyPatch) -> None:
    # MIA_experiments.ipynb cells 17 and 23: plain SGD (no momentum, no weight decay), lr 0.01, 5 epochs,
    # α 0.9999, retain batch 32; the old defaults (momentum 0.9, weight decay 5e-4, α 0.999) ascended ~100×
    # harder.
    assert NegGradPlus.defaults["alpha"] == 0.9999
    model, ctx = unlearn_context(tiny_bench(), merge_params(NegGradPlus, "digits", {}))
    calls = record_train(monkeypatch, train=False)
    NegGradPlus().unlearn(model, ctx)
    (call,) = calls
    assert {k: call[k] for k in ("epochs", "lr", "momentum", "weight_decay", "nesterov", "batch_size")} == {
        "epochs": 5, "lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False, "batch_size": 32
    }  # fmt: skip
    assert call["schedule"] == "constant" and call["augment"] is False


def test_neggrad_plus_pairs_each_retain_batch_with_a_smaller_forget_batch() -> None:
    bench = tiny_bench()
    model, ctx = unlearn_context(bench, merge_params(NegGradPlus, "fake", {"epochs": 1}))
    sizes: list[int] = []
    model.register_forward_pre_hook(lambda _m, args: sizes.append(int(args[0].shape[0])))
    NegGradPlus().unlearn(model, ctx)
    # Both sets keep their last partial batch (as the reference's DataLoaders); the forget set is cycled.
    retain = one_pass(len(bench.data["retain"]), 32)
    forget = one_pass(len(bench.data["forget"]), 16) * len(retain)
    expected = [size for step, r in enumerate(retain) for size in (r, forget[step])]
    assert sizes == expected  # retain forward, then forget forward, every step


def test_neggrad_plus_l2_pull_holds_the_weights_near_the_original() -> None:
    # The small-scale notebook's regulariser α·λ/2·‖w − w₀‖² (small_scale_unlearning.ipynb cell 71).
    bench = tiny_bench("class:1")
    params = {"epochs": 2, "alpha": 0.9, "lr": 0.05}

    def moved(run: Any) -> float:
        pairs = zip(run.after.parameters(), run.before.parameters(), strict=True)
        return sum(float((p.detach() - q.detach()).pow(2).sum()) for p, q in pairs)

    free = moved(run_method(NegGradPlus, params, bench=bench))
    pulled = moved(run_method(NegGradPlus, {**params, "l2_pull": 5.0}, bench=bench))
    assert pulled < 0.5 * free


def test_neggrad_plus_l2_term_by_hand() -> None:
    from unlearnbench.methods.neggrad_plus import l2_pull

    layer = nn.Linear(2, 1)
    anchor = {name: p.detach().clone() for name, p in layer.named_parameters()}
    with torch.no_grad():
        layer.weight.add_(torch.tensor([[1.0, -2.0]]))
        layer.bias.add_(3.0)
    assert float(l2_pull(layer, anchor).detach()) == pytest.approx(0.5 * (1 + 4 + 9))


# --------------------------------------------------------------------------------------- SCRUB


def test_scrub_keeps_one_optimiser_across_passes(counting_sgd: type[CountingSGD]) -> None:
    # large_scale_unlearning.ipynb cell 35: one optimizer, so momentum carries from pass to pass.
    run_method(Scrub, {"epochs": 3, "msteps": 2, "forget_batch_size": 16, "retain_batch_size": 64})
    assert counting_sgd.created == 1


def test_scrub_loop_order_keeps_every_batch() -> None:
    # Per epoch: a max-pass over the forget set while epoch <= msteps, then a min-pass over the retain set;
    # the reference's DataLoaders keep the last partial batch.
    bench = tiny_bench()
    params = merge_params(Scrub, "fake", {"epochs": 3, "msteps": 2, "forget_batch_size": 10, "retain_batch_size": 64})
    model, ctx = unlearn_context(bench, params)
    sizes: list[int] = []
    ctx.original.register_forward_pre_hook(lambda _m, args: sizes.append(int(args[0].shape[0])))
    Scrub().unlearn(model, ctx)

    forget = one_pass(len(bench.data["forget"]), 10)
    retain = one_pass(len(bench.data["retain"]), 64)
    assert sizes == forget + retain + forget + retain + retain


def test_scrub_decays_the_learning_rate_after_the_milestones(counting_sgd: type[CountingSGD]) -> None:
    # thirdparty/repdistiller/helper/util.py 22-30: lr = base · rate^(number of milestones below the epoch).
    params = {"epochs": 4, "msteps": 1, "lr": 0.01, "lr_decay_epochs": "1/2", "lr_decay_rate": 0.5,
              "forget_batch_size": 1_000, "retain_batch_size": 1_000}  # fmt: skip
    run_method(Scrub, params)
    # One batch per pass: epoch 1 has a max and a min step, epochs 2-4 a min step each.
    assert counting_sgd.lrs == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.0025])


def test_scrub_defaults_are_the_large_scale_configuration() -> None:
    d = Scrub.defaults
    assert (d["epochs"], d["msteps"], d["lr"], d["momentum"], d["weight_decay"]) == (3, 2, 5e-4, 0.9, 5e-4)
    assert (d["forget_batch_size"], d["retain_batch_size"], d["lr_decay_epochs"]) == (512, 256, "3/5/9")


# --------------------------------------------------------------------------------------- CF-k / EU-k


def test_cf_k_takes_the_reference_fine_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    # MIA_experiments.ipynb cells 17 and 21: SGD lr 0.01 without momentum or weight decay, 10 epochs,
    # batch 64, no augmentation.
    model, ctx = unlearn_context(tiny_bench(), merge_params(CFk, "digits", {}))
    calls = record_train(monkeypatch, train=False)
    CFk().unlearn(model, ctx)
    (call,) = calls
    assert {k: call[k] for k in ("epochs", "lr", "momentum", "weight_decay", "batch_size", "augment")} == {
        "epochs": 10, "lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "batch_size": 64, "augment": False
    }  # fmt: skip


def test_cf_k_default_trains_the_last_feature_block_and_freezes_the_classifier() -> None:
    # cfk_unlearn unfreezes ResNet's layer4 only: the linear classifier stays as it was.
    run = run_method(CFk, {"lr": 0.05})
    after, before = dict(named_blocks(run.after)), dict(named_blocks(run.before))
    assert states_equal(after["fc"], before["fc"])
    assert parameters_moved(after["features.2"], before["features.2"])
    assert states_equal(after["features.1"], before["features.1"])


def test_cf_k_update_frozen_bn_lets_frozen_running_statistics_drift() -> None:
    bench = tiny_bench()
    kept = run_method(CFk, {"epochs": 1}, bench=bench)
    drift = run_method(CFk, {"epochs": 1, "update_frozen_bn": True}, bench=bench)
    frozen = [name for name, _ in named_blocks(kept.after)][:2]
    for name in frozen:
        assert states_equal(dict(named_blocks(kept.after))[name], dict(named_blocks(kept.before))[name])
        stats = dict(named_blocks(drift.after))[name].state_dict()
        original = dict(named_blocks(drift.before))[name].state_dict()
        assert any(not torch.equal(stats[k], original[k]) for k in stats if k.endswith("running_mean"))


def test_step_schedule_segments_by_hand() -> None:
    from unlearnbench.methods.cf_k import step_segments

    # 0-based epochs e = 0 … 24; ×0.1 for every milestone m < e.
    segments = step_segments(25, 0.01, (10, 15, 20), 0.1)
    assert [count for count, _ in segments] == [11, 5, 5, 4]
    assert [lr for _, lr in segments] == pytest.approx([0.01, 1e-3, 1e-4, 1e-5])
    assert step_segments(10, 0.01, (10, 15, 20), 0.1) == [(10, 0.01)]


def test_eu_k_runs_the_reference_step_schedule_for_the_originals_epochs(monkeypatch: pytest.MonkeyPatch) -> None:
    # euk_unlearn: lr 0.01 for training_epochs epochs, ×0.1 after the 0-based epochs 10, 15 and 20.
    bench = tiny_bench()
    model, ctx = unlearn_context(bench, merge_params(EUk, "digits", {"epochs": 25}))
    calls = record_train(monkeypatch, train=False)
    EUk().unlearn(model, ctx)
    assert [c["epochs"] for c in calls] == [11, 5, 5, 4]
    assert [c["lr"] for c in calls] == pytest.approx([0.01, 1e-3, 1e-4, 1e-5])
    assert all(c["momentum"] == 0.0 and c["weight_decay"] == 0.0 and c["batch_size"] == 64 for c in calls)
    assert all(c["augment"] is False for c in calls)
    # As long as the original was trained: the reference's 25, and each dataset's own original's epochs.
    assert EUk.defaults["epochs"] == 25
    assert {name: d["epochs"] for name, d in EUk.dataset_defaults.items()} == {"cifar10": 30, "digits": 15, "fake": 10}
    model, ctx = unlearn_context(bench, merge_params(EUk, "fake", {}))
    calls.clear()
    EUk().unlearn(model, ctx)
    assert sum(c["epochs"] for c in calls) == bench.recipe.epochs


def test_eu_k_default_reinitialises_the_last_feature_block_and_keeps_the_classifier() -> None:
    run = run_method(EUk, {"epochs": 1})
    after, before = dict(named_blocks(run.after)), dict(named_blocks(run.before))
    assert states_equal(after["fc"], before["fc"])
    assert parameters_moved(after["features.2"], before["features.2"])
    assert states_equal(after["features.1"], before["features.1"])


def test_k_one_without_the_classifier_is_refused() -> None:
    for cls in (CFk, EUk):
        with pytest.raises(ValueError, match="leaves nothing to train"):
            run_method(cls, {"k": 1, "epochs": 1})


# --------------------------------------------------------------------------------------- finetune


def test_finetune_passes_every_optimiser_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # unlearning-CIFAR10.ipynb cell 12: SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine, 5 epochs.
    model, ctx = unlearn_context(tiny_bench(), merge_params(Finetune, "digits", {}))
    calls = record_train(monkeypatch, train=False)
    Finetune().unlearn(model, ctx)
    (call,) = calls
    assert {k: call[k] for k in ("epochs", "lr", "momentum", "weight_decay", "batch_size", "schedule")} == {
        "epochs": 5, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128, "schedule": "cosine"
    }  # fmt: skip
    assert call["augment"] is False
