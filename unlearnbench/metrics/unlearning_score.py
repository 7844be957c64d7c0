"""The final score of the NeurIPS 2023 Machine Unlearning Challenge: F × RA_U/RA_R × TA_U/TA_R.

F is the forgetting quality of the replicates against the retrained models (see
:mod:`unlearnbench.metrics.forgetting_quality`); RA and TA are accuracies on the retain and test splits,
averaged over the unlearned replicates (U) and over the retrained models (R). The utility ratios are not
capped: an unlearned model more accurate than retraining scores above F.

Reference code: google-deepmind/unlearning_evaluation@ffae0fff4c3e ``main.py`` 292-297 and 332-337 (the
same product, uncapped). It inherits F's differences (unequal pools; see ``ForgettingQuality.fidelity``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import accuracy
from unlearnbench.metrics.forgetting_quality import (
    cached_forgetting_quality,
    check_population,
    population_confidences,
)

__all__ = ["UnlearningScore", "mean_accuracy", "unlearning_score"]


def unlearning_score(f_value: float, ra_u: float, ra_r: float, ta_u: float, ta_r: float) -> float:
    """F × (RA_U / RA_R) × (TA_U / TA_R); ValueError when a retrained accuracy is 0."""
    if ra_r <= 0 or ta_r <= 0:
        raise ValueError(
            f"the unlearning score divides by the retrained models' accuracies, got RA {ra_r} and TA {ta_r}"
        )
    return float(f_value * (ra_u / ra_r) * (ta_u / ta_r))


def mean_accuracy(outputs: Sequence[ModelOutputs], labels: np.ndarray, split: str) -> float:
    """Mean over models of the top-1 accuracy on ``split``."""
    if not outputs:
        raise ValueError(f"no models to average the {split} accuracy over")
    return float(np.mean([accuracy(o[split], labels) for o in outputs]))


class UnlearningScore:
    """The challenge's final score: forgetting quality scaled by the utility kept relative to retraining."""

    name: ClassVar[str] = "unlearning_score"
    description: ClassVar[str] = (
        "F x RA_U/RA_R x TA_U/TA_R, the final score of the NeurIPS 2023 Machine Unlearning Challenge "
        '(Triantafillou et al. 2024, "Are we making progress in unlearning?")'
    )
    scope: ClassVar[str] = "population"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    higher_is_better: ClassVar[bool] = True
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper='Triantafillou et al. 2024, "Are we making progress in unlearning? Findings from the first NeurIPS '
        'unlearning competition": the final score',
        repository="google-deepmind/unlearning_evaluation",
        commit="ffae0fff4c3e9523b22618c47df6c26e4eebe0df",
        loop=(
            Source(
                "main.py", "292-297", note="mean retain and test accuracy over the unlearned and the retrained models"
            ),
            Source(
                "main.py", "332-337", note="final_score = forget_score × (RA_U / RA_R) × (TA_U / TA_R), not capped"
            ),
            Source(
                "surf.py", "213-252",
                note="accuracy in percent: eval mode, arg-max of the logits equals the label (the ratios cancel "
                "the scale)",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="F as computed by forgetting_quality, i.e. with its max_ε rule for unequal pools (the "
                "released code takes N from the unlearned pool alone).",
                why="See forgetting_quality.",
                effect="Scales like F: digits, S = 3, R = 6, finetune[epochs=5,lr=0.1] F 0.127 vs 0.000 with the "
                "released rule, so the score is 0 there too; identical at S = R.",
            ),
        ),
    )

    def compute(self, ctx: EvalContext) -> float:
        """F of the replicates against the oracles, times their retain and test accuracy ratios."""
        u, r = population_confidences(ctx)
        check_population(u.shape[0], r.shape[0])
        ra_u = mean_accuracy(ctx.replicates, ctx.labels["retain"], "retain")
        ra_r = mean_accuracy(ctx.oracle_outputs, ctx.labels["retain"], "retain")
        ta_u = mean_accuracy(ctx.replicates, ctx.labels["test"], "test")
        ta_r = mean_accuracy(ctx.oracle_outputs, ctx.labels["test"], "test")
        if ra_r <= 0 or ta_r <= 0:
            unlearning_score(0.0, ra_u, ra_r, ta_u, ta_r)  # raises with the reason
        return unlearning_score(cached_forgetting_quality(u, r), ra_u, ra_r, ta_u, ta_r)


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`UnlearningScore`."""
    return [UnlearningScore]
