"""The recipe's learning-rate schedules: their spelling, and the rate each epoch trains at."""

from __future__ import annotations

import pytest
import torch

from unlearnbench.recipe import Recipe, parse_schedule
from unlearnbench.training import lr_schedule


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("cosine", ("cosine", ())), ("constant", ("constant", ())), ("multistep:91,136", ("multistep", (91, 136))),
     ("multistep:3", ("multistep", (3,)))],
)  # fmt: skip
def test_schedules_parse(text: str, parsed: tuple[str, tuple[int, ...]]) -> None:
    assert parse_schedule(text) == parsed


@pytest.mark.parametrize("text", ["cosin", "step", "multistep", "multistep:", "multistep:5,2", "multistep:0,3",
                                  "multistep:a", "multistep:2,2", "constant:3"])  # fmt: skip
def test_a_misspelt_schedule_is_refused_not_run_at_a_constant_rate(text: str) -> None:
    with pytest.raises(ValueError, match="schedule must be cosine, constant or multistep"):
        Recipe(schedule=text)


def _rates(recipe: Recipe) -> list[float]:
    """The rate of each epoch under ``lr_schedule``, stepped once per epoch as the training loops step it."""
    optimiser = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe.lr)
    schedule = lr_schedule(optimiser, recipe)
    rates = []
    for _ in range(recipe.epochs):
        rates.append(optimiser.param_groups[0]["lr"])
        if schedule is not None:
            schedule.step()
    return rates


def test_multistep_divides_the_rate_by_ten_after_each_milestone() -> None:
    rates = _rates(Recipe(epochs=6, lr=0.1, schedule="multistep:2,4"))
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    # SalUn's original: 182 epochs, x0.1 from epoch 91 and from epoch 136 (0-based epoch index).
    salun = _rates(Recipe(epochs=182, lr=0.1, schedule="multistep:91,136"))
    assert salun[90] == pytest.approx(0.1) and salun[91] == pytest.approx(0.01)
    assert salun[135] == pytest.approx(0.01) and salun[136] == pytest.approx(0.001) and len(salun) == 182


def test_constant_and_cosine_keep_their_rates() -> None:
    assert _rates(Recipe(epochs=3, lr=0.05, schedule="constant")) == [0.05] * 3
    cosine = _rates(Recipe(epochs=4, lr=0.1, schedule="cosine"))
    assert cosine[0] == pytest.approx(0.1) and cosine[2] == pytest.approx(0.05) and cosine[1] > cosine[2] > cosine[3]
