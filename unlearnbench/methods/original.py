"""``original``: the unchanged original model, the "nothing forgotten" anchor of every table."""

from __future__ import annotations

from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.hookspec import hookimpl


class Original:
    """Returns the original model as it is (reference row)."""

    name = "original"
    description = "Reference: the original model, trained on retain + forget (nothing is forgotten)"
    defaults: dict[str, object] = {}

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        return model


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    return [Original]
