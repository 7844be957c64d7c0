"""Cost of unlearning: wall seconds of the unlearning step and their ratio to retraining from scratch.

``seconds`` is the unlearning call's wall time (or the cost a method charges for a reused artifact, e.g.
``retrain`` is charged the oracle's training time). ``ratio`` divides it by the mean training time of the
retrained models; the NeurIPS 2023 challenge rejected submissions above 0.2. Lower is better for both.

Reference: no code; the challenge's rule (Triantafillou et al. 2024). The released scoring code times
nothing, so the ratio's denominator is our own choice: the oracles' mean training time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from unlearnbench.api import EvalContext
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl

__all__ = ["Runtime", "runtime_values"]


def runtime_values(seconds: float, oracle_seconds: Sequence[float]) -> dict[str, float]:
    """``{"seconds": seconds, "ratio": seconds / mean(oracle_seconds)}``; validates both."""
    s = float(seconds)
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"unlearning time must be a finite number of seconds >= 0, got {seconds!r}")
    if len(oracle_seconds) == 0:
        raise ValueError("runtime ratio needs the retrained models' training times, got none")
    mean_oracle = sum(float(t) for t in oracle_seconds) / len(oracle_seconds)
    if not math.isfinite(mean_oracle) or mean_oracle <= 0:
        raise ValueError(f"mean retraining time must be a finite number > 0, got {mean_oracle!r}")
    return {"seconds": s, "ratio": s / mean_oracle}


def _this_replicate_seconds(ctx: EvalContext) -> float:
    """The unlearning time of the evaluated replicate.

    For a per-model metric ``replicates == [outputs]`` and ``unlearn_seconds`` holds that replicate's
    time; if a caller passes every replicate's time instead, the entry aligned with ``outputs`` is used.
    """
    times = ctx.unlearn_seconds
    if len(times) == 1:
        return float(times[0])
    if len(times) == len(ctx.replicates):
        for i, rep in enumerate(ctx.replicates):
            if rep is ctx.outputs:
                return float(times[i])
    raise ValueError(
        f"cannot tell which of {len(times)} unlearning times belongs to the evaluated model "
        f"({len(ctx.replicates)} replicates)"
    )


class Runtime:
    """Wall seconds of the unlearning step and their ratio to the mean retraining time (lower is better)."""

    name: ClassVar[str] = "runtime"
    description: ClassVar[str] = (
        "Unlearning wall time and its ratio to retraining time (NeurIPS 2023 Unlearning Challenge: <= 0.2)"
    )
    scope: ClassVar[str] = "model"
    # The ratio is relative to the oracles' training time, so they must have been trained.
    needs: ClassVar[frozenset[str]] = frozenset({"oracle_outputs"})
    columns: ClassVar[tuple[str, ...]] = ("seconds", "ratio")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"seconds": False, "ratio": False}
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper='Triantafillou et al. 2024, "Are we making progress in unlearning? Findings from the first NeurIPS '
        'unlearning competition": submissions slower than about 20 % of retraining were rejected',
        repository=None,
        commit=None,
        loop=(
            Source(
                "paper", "competition rules (time limit relative to retraining)",
                note="no public code times the unlearning step (google-deepmind/unlearning_evaluation@ffae0fff4c3e "
                "main.py has no timer); ratio = unlearning seconds / mean oracle training seconds",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="The ratio's denominator is the mean wall time of the R oracles' training, measured by the bench.",
                why="The challenge's limit was set on its own hardware, not as a measured ratio.",
                effect="Not measured: no reference value exists to compare with.",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """Seconds of this replicate's unlearning call and their ratio to mean oracle training time."""
        return runtime_values(_this_replicate_seconds(ctx), ctx.oracle_seconds)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`Runtime`."""
    return [Runtime]
