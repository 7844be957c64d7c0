"""The multi-phase training loop: every epoch one pass per phase, in order, with one optimiser."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearnbench import training
from unlearnbench.data.pipeline import TensorData
from unlearnbench.training import Phase, Recipe, train, train_phases


def _data(n: int, seed: int) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 255, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    return TensorData(x, y, (0.5,), (0.25,), crop_padding=1, hflip=False)


def _model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))


def _tagged(tag: str, log: list[str]):  # type: ignore[no-untyped-def]
    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        log.append(tag)
        return nn.functional.cross_entropy(model(x), y)

    return loss


def test_each_epoch_passes_over_the_phases_in_order() -> None:
    log: list[str] = []
    phases = [Phase(_data(40, 1), _tagged("F", log)), Phase(_data(64, 2), _tagged("R", log))]
    stats = train_phases(_model(), phases, Recipe(epochs=2, batch_size=16, schedule="constant"), seed=0)
    # forget: 40 > 16, so the last partial batch is dropped (2 steps); retain: 4 steps
    assert log == ["F", "F", "R", "R", "R", "R"] * 2
    assert stats.steps == 12


def test_the_phases_share_one_optimiser(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[torch.optim.Optimizer] = []
    real = training.make_optimizer

    def counting(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
        made.append(real(model, recipe))
        return made[-1]

    monkeypatch.setattr(training, "make_optimizer", counting)
    train_phases(_model(), [Phase(_data(32, 1)), Phase(_data(32, 2))], Recipe(epochs=3, batch_size=16))
    assert len(made) == 1


def test_one_phase_is_the_plain_loop_bit_for_bit() -> None:
    data, recipe = _data(70, 4), Recipe(epochs=2, batch_size=16)
    a, b = _model(), _model()
    train(a, data, recipe, seed=5)
    train_phases(b, [Phase(data)], recipe, seed=5)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_empty_phases_are_skipped_and_all_empty_is_an_error() -> None:
    log: list[str] = []
    empty = _data(40, 1).subset(torch.arange(0))
    train_phases(_model(), [Phase(empty, _tagged("F", log)), Phase(_data(32, 2), _tagged("R", log))],
                 Recipe(epochs=1, batch_size=16))  # fmt: skip
    assert log == ["R", "R"]
    with pytest.raises(ValueError, match="empty"):
        train_phases(_model(), [Phase(empty)], Recipe(epochs=1))


def test_a_pass_keeps_its_last_partial_batch_unless_the_recipe_drops_it() -> None:
    log: list[str] = []
    train_phases(_model(), [Phase(_data(40, 1), _tagged("F", log))], Recipe(epochs=1, batch_size=16, drop_last=False))
    assert log == ["F"] * 3  # 16 + 16 + 8
    assert "drop_last" not in Recipe().key()
    assert Recipe(drop_last=False).key()["drop_last"] is False


def test_methods_keep_the_last_partial_batch_like_a_dataloader(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ctx.train`` passes ``drop_last=False`` (the reference implementations' ``DataLoader`` default)."""
    from unlearnbench.testing import tiny_bench, unlearn_context

    bench = tiny_bench()  # its original is trained (drop_last=True) before the spy is in place
    seen: list[Recipe] = []
    real = training.train_phases

    def spy(model: nn.Module, phases: list[Phase], recipe: Recipe, **kwargs: object) -> training.TrainStats:
        seen.append(recipe)
        return real(model, phases, recipe, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(training, "train_phases", spy)
    model, ctx = unlearn_context(bench)
    ctx.train(model, ctx.retain, epochs=1, batch_size=64)
    ctx.train_phases(model, [Phase(ctx.forget), Phase(ctx.retain)], epochs=1, batch_size=64)
    ctx.train(model, ctx.retain, epochs=1, batch_size=64, drop_last=True)
    assert [r.drop_last for r in seen] == [False, False, True]


def test_l2_to_start_pulls_towards_the_starting_weights() -> None:
    """With a huge pull the weights barely move; the penalty is λ/2 · Σ‖w − w0‖² (hand-computed)."""
    from unlearnbench.training import l2_to_start

    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    anchor = [(weight, torch.tensor([0.0, 0.0]))]
    assert float(l2_to_start(anchor, 0.5)) == pytest.approx(0.5 / 2 * 5.0)
    data = _data(64, 1)
    free, pulled = _model(), _model()
    pulled.load_state_dict(free.state_dict())
    start = {k: v.clone() for k, v in free.state_dict().items()}
    train_phases(free, [Phase(data)], Recipe(epochs=2, batch_size=16, lr=0.1))
    train_phases(pulled, [Phase(data)], Recipe(epochs=2, batch_size=16, lr=0.1, l2_to_start=5.0))

    def moved(model: torch.nn.Module) -> float:
        return sum(float((p - start[k]).norm()) for k, p in model.named_parameters())

    assert moved(pulled) < 0.5 * moved(free)


def test_freeze_batchnorm_keeps_the_running_statistics() -> None:
    model = _model()
    norm = model[2]
    stats = norm.running_mean.clone(), norm.running_var.clone()
    weight = norm.weight.detach().clone()
    train_phases(model, [Phase(_data(32, 1))], Recipe(epochs=1, batch_size=8, freeze_batchnorm=True))
    assert torch.equal(norm.running_mean, stats[0]) and torch.equal(norm.running_var, stats[1])
    assert not torch.equal(norm.weight, weight)  # the affine weights still train
    train_phases(model, [Phase(_data(32, 1))], Recipe(epochs=1, batch_size=8))
    assert not torch.equal(norm.running_mean, stats[0])  # without the flag they move


def test_new_recipe_fields_stay_out_of_existing_keys() -> None:
    assert "l2_to_start" not in Recipe().key() and "freeze_batchnorm" not in Recipe().key()
    assert Recipe(l2_to_start=0.1).key()["l2_to_start"] == 0.1
    assert Recipe(freeze_batchnorm=True).key()["freeze_batchnorm"] is True
