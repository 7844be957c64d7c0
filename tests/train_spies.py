"""A helper shared by the tests that spy on ``UnlearnContext.train``: what a call really trains with."""

from __future__ import annotations

import dataclasses
from typing import Any

from unlearnbench.api import UnlearnContext


def resolved_call(ctx: UnlearnContext, recipe: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """What a ``ctx.train`` call trains with: every field of its final recipe, plus its other keywords."""
    fields = {f.name for f in dataclasses.fields(ctx.recipe)}
    final = ctx._method_recipe(recipe, {k: v for k, v in overrides.items() if k in fields})
    return {**dataclasses.asdict(final), **{k: v for k, v in overrides.items() if k not in fields}}
