"""unlearnbench.api: the contexts' helpers (here ``UnlearnContext.recipe_from``)."""

from __future__ import annotations

import dataclasses

from unlearnbench.testing import tiny_bench, unlearn_context


def test_recipe_from_takes_every_recipe_field_the_parameters_name_cast_to_its_type() -> None:
    bench = tiny_bench()
    _, ctx = unlearn_context(bench)
    ctx.recipe = dataclasses.replace(ctx.recipe, momentum=0.5, nesterov=True, optimizer="adam")
    params = {"epochs": "3", "lr": 1, "batch_size": 16.0, "augment": 0, "alpha": 0.3, "schedule": "constant"}
    recipe = ctx.recipe_from(params, optimizer="sgd")
    assert (recipe.epochs, recipe.lr, recipe.batch_size, recipe.augment) == (3, 1.0, 16, False)
    assert type(recipe.epochs) is int and type(recipe.lr) is float and type(recipe.batch_size) is int
    assert recipe.schedule == "constant" and recipe.optimizer == "sgd"  # fixed settings win over the run's
    assert (recipe.momentum, recipe.nesterov) == (0.5, True)  # not named: the run's recipe
    assert recipe.drop_last is False  # a method's passes keep their last partial batch
    assert recipe.precision == ctx.recipe.precision


def test_recipe_from_fixed_settings_override_the_parameters() -> None:
    _, ctx = unlearn_context(tiny_bench())
    recipe = ctx.recipe_from({"momentum": 0.9, "lr": 0.1}, momentum=0.0, drop_last=True)
    assert (recipe.momentum, recipe.lr, recipe.drop_last) == (0.0, 0.1, True)
