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

    seen: list[Recipe] = []
    real = training.train_phases

    def spy(model: nn.Module, phases: list[Phase], recipe: Recipe, **kwargs: object) -> training.TrainStats:
        seen.append(recipe)
        return real(model, phases, recipe, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(training, "train_phases", spy)
    model, ctx = unlearn_context(tiny_bench())
    ctx.train(model, ctx.retain, epochs=1, batch_size=64)
    ctx.train_phases(model, [Phase(ctx.forget), Phase(ctx.retain)], epochs=1, batch_size=64)
    ctx.train(model, ctx.retain, epochs=1, batch_size=64, drop_last=True)
    assert [r.drop_last for r in seen] == [False, False, True]
