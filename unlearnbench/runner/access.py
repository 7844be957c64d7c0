"""What a method touched: the data and models it read through its context, and its optimiser steps.

A method declares what it uses (``data_access``, a tuple of :data:`ACCESS` names: ``retain``, ``forget``,
``val``, ``original``, ``oracle``, ``new_model``) and the runner checks it: every replicate's context is a
:class:`TrackedContext`, which records each of those attributes the method reads, and every
``optimizer.step()`` during ``unlearn`` is counted (a global step hook, so a method's own loop counts too).
The test split is never in the context. The record is cached with the replicate, so a warm run reports it
too, and :func:`access_summary` turns the replicates' records into the item's line: which sets (how many
examples), which models, how many steps, and whatever was touched without being declared.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from torch.optim.optimizer import register_optimizer_step_post_hook

from unlearnbench.api import UnlearnContext

__all__ = [
    "ACCESS", "ACCESS_NOTE", "TrackedContext", "access_record", "access_summary", "counted_steps", "declared_access",
]  # fmt: skip

#: Access name → the context attribute it watches and how the report names it.
ACCESS: dict[str, tuple[str, str]] = {
    "retain": ("retain", "retain set"),
    "forget": ("forget", "forget set"),
    "val": ("val", "validation split"),
    "original": ("original", "original model (frozen copy)"),
    "oracle": ("oracle_model", "retrained oracle"),
    "new_model": ("new_model", "freshly initialised model"),
}
#: The item note that holds the access line (results.json ``notes``; the report shows it as its own row).
ACCESS_NOTE = "data access"
_WATCHED = {attribute: name for name, (attribute, _) in ACCESS.items()}
_SPLITS = ("retain", "forget", "val")


class TrackedContext(UnlearnContext):
    """An :class:`~unlearnbench.api.UnlearnContext` that records which watched attributes are read."""

    def __getattribute__(self, attribute: str) -> Any:
        name = _WATCHED.get(attribute)
        if name is not None:
            state = object.__getattribute__(self, "__dict__")
            state.setdefault("_touched", set()).add(name)
        return object.__getattribute__(self, attribute)

    def touched(self) -> set[str]:
        """The access names read so far."""
        return set(object.__getattribute__(self, "__dict__").get("_touched", set()))


@contextlib.contextmanager
def counted_steps() -> Iterator[list[int]]:
    """Count every optimiser step taken in the block; the count is ``box[0]`` of the yielded list."""
    box = [0]

    def count(*_: Any) -> None:
        box[0] += 1

    handle = register_optimizer_step_post_hook(count)
    try:
        yield box
    finally:
        handle.remove()


def access_record(ctx: TrackedContext, steps: int) -> dict[str, Any]:
    """One replicate's record: the names read, the examples of each split read, the optimiser steps."""
    touched = ctx.touched()
    sizes = {name: len(object.__getattribute__(ctx, name)) for name in _SPLITS if name in touched}
    return {"touched": sorted(touched), "examples": sizes, "steps": int(steps)}


def declared_access(cls: type) -> tuple[str, ...] | None:
    """The method's declaration (``data_access``), or None where it declares nothing."""
    declared = getattr(cls, "data_access", None)
    return None if declared is None else tuple(str(name) for name in declared)


def access_summary(records: Sequence[Mapping[str, Any]], declared: tuple[str, ...] | None) -> dict[str, Any]:
    """The item's access: the union of its replicates' records, the mean steps, the check against the
    declaration (``undeclared``: touched but not declared), and ``line``, the report's sentence."""
    touched = sorted({name for record in records for name in record.get("touched", ())}, key=list(ACCESS).index)
    examples: dict[str, int] = {}
    for record in records:
        for name, count in dict(record.get("examples", {})).items():
            examples[name] = max(examples.get(name, 0), int(count))
    steps = [int(record.get("steps", 0)) for record in records]
    mean_steps = sum(steps) / len(steps) if steps else 0.0
    undeclared = [] if declared is None else [name for name in touched if name not in declared]
    parts = [f"{ACCESS[name][1]} ({examples[name]:,} examples)" if name in examples else ACCESS[name][1]
             for name in touched if name in ACCESS]  # fmt: skip
    line = (", ".join(parts) or "no data or model from its context") + f"; {mean_steps:,.0f} optimiser steps"
    if len(set(steps)) > 1:
        line += f" (mean of {len(steps)} replicates, {min(steps):,}-{max(steps):,})"
    line += "; no test data"
    if declared is None:
        line += "; not declared by the method"
    elif undeclared:
        line += f"; touched but not declared: {', '.join(undeclared)}"
    return {"touched": touched, "examples": examples, "steps": mean_steps, "declared": None if declared is None
            else list(declared), "undeclared": undeclared, "line": line}  # fmt: skip
