"""Tests of the loss-based methods: gradient_ascent, neggrad_plus, random_label, l1_sparse, bad_teacher and
scrub.

Each method's objective is checked against hand-computed values, and each method is run on the tiny fake
bench to show it does what its paper says; every method is also checked for determinism under a seed and
for leaving the frozen original untouched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from unlearnbench.data.pipeline import TensorData
from unlearnbench.evaluation import state_dict_cpu
from unlearnbench.methods import bad_teacher, gradient_ascent, l1_sparse, neggrad_plus, random_label, scrub
from unlearnbench.selection import expand_grid
from unlearnbench.testing import (
    check_method,
    run_method,
    split_accuracy,
    split_loss,
    tiny_bench,
    unlearn_context,
)

MODULES = {
    "gradient_ascent": gradient_ascent,
    "neggrad_plus": neggrad_plus,
    "random_label": random_label,
    "l1_sparse": l1_sparse,
    "bad_teacher": bad_teacher,
    "scrub": scrub,
}
#: Small but effective settings for the tiny bench (a few hundred images, 4 classes).
SMALL: dict[str, dict[str, Any]] = {
    "gradient_ascent": {"epochs": 3, "lr": 1e-2, "batch_size": 8},
    # Plain SGD as in the reference (no momentum): a larger step than its lr 0.01 acts within 2 epochs.
    "neggrad_plus": {"epochs": 2, "alpha": 0.95, "batch_size": 16, "lr": 0.05},
    "random_label": {"epochs": 2, "lr": 0.05, "batch_size": 32},
    "l1_sparse": {"epochs": 2, "alpha": 1e-3, "batch_size": 32},
    "bad_teacher": {"epochs": 2, "lr": 1e-3, "batch_size": 32},
    # One optimiser across passes (as the reference): momentum from the max-pass carries into the min-pass,
    # so the min-pass needs enough steps (12 here) to recover.
    "scrub": {"epochs": 3, "msteps": 2, "lr": 5e-3, "forget_batch_size": 32, "retain_batch_size": 16},
}


def method_class(name: str) -> Any:
    """The class a method module registers."""
    (cls,) = MODULES[name].unlearnbench_add_methods()
    return cls


def labelled(labels: list[int]) -> TensorData:
    """Blank 1×1 images with the given labels."""
    return TensorData(
        torch.zeros(len(labels), 1, 1, 1, dtype=torch.uint8), torch.tensor(labels), (0.5,), (0.25,)
    )


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Single-threaded CPU math: faster for these tiny tensors and bitwise reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Const(nn.Module):
    """A 'model' that returns the same logits row for every input."""

    row: torch.Tensor

    def __init__(self, row: list[float]) -> None:
        super().__init__()
        self.register_buffer("row", torch.tensor([row]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.row.expand(x.shape[0], -1)


def kl(p: list[float], q: list[float]) -> float:
    """KL(p ‖ q) in nats, by hand."""
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def mean_kl(teacher: nn.Module, student: nn.Module, data: TensorData) -> float:
    """Mean KL(softmax(teacher) ‖ softmax(student)) over ``data``."""
    teacher.eval()
    student.eval()
    with torch.no_grad():
        x = data.normalise(data.x)
        log_t = teacher(x).log_softmax(1)
        log_s = student(x).log_softmax(1)
        return float((log_t.exp() * (log_t - log_s)).sum(1).mean())


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether two models have bitwise identical state dicts."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------------------- every method


@pytest.mark.parametrize("name", sorted(MODULES))
def test_registration_defaults_and_grid(name: str) -> None:
    cls = method_class(name)
    assert cls.name == name == MODULES[name].__name__.rsplit(".", 1)[-1]
    assert "\n" not in cls.description and any(str(year) in cls.description for year in range(2015, 2026))
    points = expand_grid(cls.grid)
    assert 1 <= len(points) <= 3
    for point in points:
        assert set(point) <= set(cls.defaults)
    for overrides in cls.dataset_defaults.values():
        assert set(overrides) <= set(cls.defaults)
    doc = MODULES[name].__doc__
    assert doc is not None and len(doc) > 400


@pytest.mark.parametrize("name", sorted(MODULES))
def test_same_seed_same_weights_and_the_original_is_untouched(name: str) -> None:
    cls = method_class(name)
    bench = tiny_bench()
    first = run_method(cls, SMALL[name], bench=bench, seed=0)
    again = run_method(cls, SMALL[name], bench=bench, seed=0)
    other = run_method(cls, SMALL[name], bench=bench, seed=1)
    assert same_weights(first.after, again.after)
    assert not same_weights(first.after, other.after)
    assert not same_weights(first.after, first.before)
    original = bench.model_from_state(bench.original().state)
    for run in (first, again, other):
        assert same_weights(run.ctx.original, original)
        assert not run.ctx.original.training
        assert not any(p.requires_grad for p in run.ctx.original.parameters())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_plugin_contract(name: str) -> None:
    run = check_method(method_class(name), SMALL[name])
    assert run.ctx.params["epochs"] == SMALL[name]["epochs"]


# --------------------------------------------------------------------------------------- gradient ascent


def test_negative_cross_entropy_by_hand() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = (1/4, 3/4)
    value = gradient_ascent.negative_cross_entropy(nn.Identity(), logits, torch.tensor([0]))
    assert float(value) == pytest.approx(-math.log(4.0))


def test_gradient_ascent_raises_the_forget_loss() -> None:
    bench = tiny_bench()
    params = SMALL["gradient_ascent"]
    still = run_method(method_class("gradient_ascent"), {**params, "lr": 0.0}, bench=bench)
    moved = run_method(method_class("gradient_ascent"), params, bench=bench)
    # lr 0 isolates what the BatchNorm statistics alone do; the ascent must add to it, on the forget set
    # above all (the retain loss rises too: the sets share their classes).
    forget_rise = split_loss(moved.after, bench, "forget") / split_loss(still.after, bench, "forget")
    retain_rise = split_loss(moved.after, bench, "retain") / split_loss(still.after, bench, "retain")
    assert forget_rise > 2.5
    assert forget_rise > 1.2 * retain_rise
    assert split_loss(moved.after, bench, "forget") > split_loss(moved.before, bench, "forget")


# --------------------------------------------------------------------------------------- NegGrad+


def test_neggrad_plus_loss_by_hand() -> None:
    loss = neggrad_plus.neggrad_plus_loss(0.75)
    xr, yr = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([1])  # CE = ln(4/3)
    xf, yf = torch.tensor([[0.0, 0.0]]), torch.tensor([0])  # CE = ln 2
    expected = 0.75 * math.log(4.0 / 3.0) - 0.25 * math.log(2.0)
    assert float(loss(nn.Identity(), xr, yr, xf, yf)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="alpha"):
        neggrad_plus.neggrad_plus_loss(1.5)


def test_neggrad_plus_ascends_on_forget_and_keeps_retain() -> None:
    bench = tiny_bench("class:1")
    cls = method_class("neggrad_plus")
    plain = run_method(cls, {**SMALL["neggrad_plus"], "alpha": 1.0}, bench=bench)  # pure retain descent
    mixed = run_method(cls, SMALL["neggrad_plus"], bench=bench)
    assert split_loss(mixed.after, bench, "forget") > 3 * split_loss(plain.after, bench, "forget")
    assert split_accuracy(plain.after, bench, "forget") > 0.5  # fine-tuning alone forgets little here
    assert split_accuracy(mixed.after, bench, "forget") < 0.2
    assert split_accuracy(mixed.after, bench, "retain") >= 0.95


# --------------------------------------------------------------------------------------- random labels


def test_random_wrong_labels_are_wrong_and_uniform() -> None:
    y = torch.zeros(30_000, dtype=torch.long)
    drawn = random_label.random_wrong_labels(y, 4, torch.Generator().manual_seed(0))
    assert not bool((drawn == y).any())
    shares = torch.bincount(drawn, minlength=4).float() / len(y)
    assert shares[0] == 0
    assert torch.allclose(shares[1:], torch.full((3,), 1 / 3), atol=0.02)
    anything = random_label.random_labels(y, 4, torch.Generator().manual_seed(0))
    assert 0.2 < float((anything == 0).float().mean()) < 0.3


def test_relabelling_loss_relabels_only_forget_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    forget = TensorData(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([1, 2]), (0.5,), (0.25,))
    retain = TensorData(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 3]), (0.5,), (0.25,))
    union = random_label.flagged_union(forget, retain, 4)
    assert union.y.tolist() == [5, 6, 0, 1, 3]
    seen: list[torch.Tensor] = []

    def spy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen.append(target)
        return torch.zeros(())

    monkeypatch.setattr(nn.functional, "cross_entropy", spy)
    loss = random_label.relabelling_loss(4, torch.Generator().manual_seed(0))
    for _ in range(20):
        loss(Const([0.0, 0.0, 0.0, 0.0]), union.x.float(), union.y)
    targets = torch.stack(seen)
    assert (targets[:, 2:] == torch.tensor([0, 1, 3])).all()  # retain keeps its labels
    assert (targets[:, 0] != 1).all() and (targets[:, 1] != 2).all()  # forget never gets its own
    assert len(set(targets[:, 0].tolist())) > 1  # and is redrawn on every visit


def test_random_label_forgets_the_forget_set_and_keeps_retain() -> None:
    bench = tiny_bench("class:1")
    run = run_method(method_class("random_label"), SMALL["random_label"], bench=bench)
    assert split_accuracy(run.after, bench, "forget") < 0.2
    assert split_accuracy(run.after, bench, "retain") >= 0.95


# --------------------------------------------------------------------------------------- l1-sparse


def test_l1_norm_and_decay_by_hand() -> None:
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
        layer.bias.fill_(0.5)
    assert float(l1_sparse.l1_norm(layer).detach()) == pytest.approx(3.5)
    layer.bias.requires_grad_(False)  # frozen parameters cannot move, so they are not penalised
    assert float(l1_sparse.l1_norm(layer).detach()) == pytest.approx(3.0)
    coefficients = [l1_sparse.decayed_coefficient(1e-3, e, 4) for e in range(4)]
    assert coefficients == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert l1_sparse.steps_per_epoch(1000, 256) == 4  # the last partial batch (232) is a step too
    assert l1_sparse.steps_per_epoch(1024, 256) == 4
    assert l1_sparse.steps_per_epoch(100, 256) == 1


def test_sparse_loss_decays_per_epoch() -> None:
    model = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0], [-2.0]]))  # ℓ1 = 3; input 0 gives logits (0, 0)
    loss = l1_sparse.sparse_loss(alpha=0.1, epochs=2, per_epoch=2)
    x, y = torch.zeros(1, 1), torch.tensor([0])
    values = [float(loss(model, x, y).detach()) for _ in range(5)]
    ln2 = math.log(2.0)
    assert values == pytest.approx([ln2 + 0.3, ln2 + 0.3, ln2 + 0.15, ln2 + 0.15, ln2])


def test_l1_sparse_shrinks_the_weights() -> None:
    bench = tiny_bench()
    cls = method_class("l1_sparse")
    plain = run_method(cls, {**SMALL["l1_sparse"], "alpha": 0.0}, bench=bench)
    sparse = run_method(cls, {**SMALL["l1_sparse"], "alpha": 0.03}, bench=bench)
    norm_plain = float(l1_sparse.l1_norm(plain.after).detach())
    assert float(l1_sparse.l1_norm(sparse.after).detach()) < 0.85 * norm_plain
    assert split_accuracy(sparse.after, bench, "retain") >= 0.9


# --------------------------------------------------------------------------------------- bad teacher


def test_bad_teacher_loss_picks_the_teacher_per_example() -> None:
    competent, incompetent = Const([0.0, 0.0]), Const([0.0, math.log(3.0)])
    loss = bad_teacher.bad_teacher_loss(competent, incompetent, temperature=1.0)
    student_logits = torch.zeros(2, 2)  # uniform student
    flags = torch.tensor([1, 0])  # first row forget (incompetent teacher), second retain (competent)
    # The reference's F.kl_div default: the summed KL over batch size x number of classes (2 x 2).
    expected = (kl([0.25, 0.75], [0.5, 0.5]) + 0.0) / 4
    assert float(loss(nn.Identity(), student_logits, flags)) == pytest.approx(expected, rel=1e-5)


def test_retain_subset_and_unlearning_data() -> None:
    ids = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1)  # each image is its own index
    retain = TensorData(ids, torch.zeros(50, dtype=torch.long), (0.5,), (0.25,))
    part = bad_teacher.retain_subset(retain, 0.3, torch.Generator().manual_seed(0))
    assert len(part) == 15 and len(set(part.x.flatten().tolist())) == 15
    assert len(bad_teacher.retain_subset(retain, 1.0, torch.Generator())) == 50
    forget = retain.subset(torch.arange(4))
    data = bad_teacher.unlearning_data(forget, part)
    assert data.y.tolist() == [1] * 4 + [0] * 15


def test_bad_teacher_moves_forget_outputs_towards_the_incompetent_teacher() -> None:
    bench = tiny_bench("class:1")
    run = run_method(method_class("bad_teacher"), SMALL["bad_teacher"], bench=bench)
    incompetent = run.ctx.new_model().eval()  # the same random teacher the method used
    forget, retain = bench.data["forget"], bench.data["retain"]
    assert mean_kl(incompetent, run.after, forget) < 0.5 * mean_kl(incompetent, run.before, forget)
    assert mean_kl(run.before, run.after, retain) < 0.2 * mean_kl(run.before, run.after, forget)
    assert split_accuracy(run.after, bench, "retain") >= 0.95


# --------------------------------------------------------------------------------------- SCRUB


def test_scrub_objectives_by_hand() -> None:
    teacher = Const([0.0, math.log(3.0)])  # (1/4, 3/4)
    x, y = torch.zeros(1, 2), torch.tensor([0])  # uniform student, CE = ln 2
    divergence = kl([0.25, 0.75], [0.5, 0.5])
    assert float(scrub.max_loss(teacher, 1.0)(nn.Identity(), x, y)) == pytest.approx(-divergence)
    both = scrub.min_loss(teacher, 1.0, alpha=0.5, gamma=2.0)(nn.Identity(), x, y)
    assert float(both) == pytest.approx(2.0 * math.log(2.0) + 0.5 * divergence)
    # At temperature 2 the teacher's probabilities are softmax(0, ln(3)/2) and the result is scaled by 4.
    soft = [1 / (1 + math.sqrt(3.0)), math.sqrt(3.0) / (1 + math.sqrt(3.0))]
    hot = scrub.max_loss(teacher, 2.0)(nn.Identity(), x, y)
    assert float(hot) == pytest.approx(-4 * kl(soft, [0.5, 0.5]))


def test_scrub_helpers() -> None:
    assert scrub.rewind_index([0.0, 0.2, 0.5], 0.15) == 1
    assert scrub.rewind_index([0.25, 0.75], 0.5) == 0  # ties go to the earliest checkpoint
    val, forget = labelled([0, 1, 2, 1, 3, 0]), labelled([1, 3])
    assert scrub.forget_like_validation(val, forget, None).y.tolist() == [1, 1, 3]
    assert scrub.forget_like_validation(val, forget, (0,)).y.tolist() == [0, 0]
    logits = Const([1.0, 0.0, 0.0, 0.0])  # always predicts class 0
    assert scrub.error_rate(logits, val) == pytest.approx(4 / 6)


def test_scrub_disobeys_the_teacher_on_forget_and_obeys_on_retain() -> None:
    bench = tiny_bench("class:1")
    cls = method_class("scrub")
    run = run_method(cls, SMALL["scrub"], bench=bench)
    forget, retain = bench.data["forget"], bench.data["retain"]
    assert mean_kl(run.before, run.after, forget) > 10 * mean_kl(run.before, run.after, retain)
    assert split_accuracy(run.after, bench, "forget") < 0.6
    assert split_accuracy(run.after, bench, "retain") >= 0.95
    # Without max-steps only the min-passes run: the student stays with the teacher on the forget set too.
    tame = run_method(cls, {**SMALL["scrub"], "msteps": 0}, bench=bench)
    assert mean_kl(tame.before, tame.after, forget) < 0.1 * mean_kl(run.before, run.after, forget)


def test_scrub_rewind_returns_the_checkpoint_closest_to_the_held_out_error() -> None:
    bench = tiny_bench("class:1")
    cls = method_class("scrub")
    params = {**SMALL["scrub"], "epochs": 3, "msteps": 3}
    # Passes are seeded by epoch, so a run of k epochs ends at the k-th checkpoint of a longer run.
    ends = [run_method(cls, {**params, "epochs": k}, bench=bench).after for k in (1, 2, 3)]
    rewound = run_method(cls, {**params, "rewind": True}, bench=bench).after
    held_out = scrub.forget_like_validation(bench.data["val"], bench.data["forget"], bench.forget_classes())
    reference = scrub.error_rate(ends[-1], held_out)
    errors = [scrub.error_rate(model, bench.data["forget"]) for model in ends]
    assert same_weights(rewound, ends[scrub.rewind_index(errors, reference)])


def test_scrub_rewind_loads_the_chosen_checkpoint() -> None:
    bench = tiny_bench("class:1")
    scrubbed = run_method(method_class("scrub"), SMALL["scrub"], bench=bench).after
    model, ctx = unlearn_context(bench, {})
    model.load_state_dict(scrubbed.state_dict())  # the final student: wrong on every held-out class-1 image
    other = run_method(method_class("scrub"), {**SMALL["scrub"], "msteps": 0}, bench=bench).after
    checkpoints = [state_dict_cpu(other), state_dict_cpu(ctx.original), state_dict_cpu(scrubbed)]
    # Reference error 1.0: the first checkpoint's (claimed) forget error 0.9 is the closest.
    scrub.Scrub._rewind(model, ctx, checkpoints, [0.9, 0.0, 0.2])
    assert same_weights(model, other)


def test_scrub_respects_a_spent_time_budget() -> None:
    bench = tiny_bench()
    model, ctx = unlearn_context(bench, {**method_class("scrub").defaults, **SMALL["scrub"]}, time_budget=0.0)
    after = method_class("scrub")().unlearn(model, ctx)
    assert same_weights(after, bench.model_from_state(bench.original().state))
