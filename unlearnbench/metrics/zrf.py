"""Zero Retrain Forgetting (ZRF): how much the model's forget-set predictions look like a random model's.

Chundawat et al. (AAAI 2023, "Can bad teaching induce forgetting? Unlearning in deep networks using an
incompetent teacher") define ZRF = 1 − (1/n_f) Σ_{x ∈ forget} JS(M(x) ‖ T_d(x)), with M the unlearned
model, T_d a randomly initialised (incompetent) teacher and JS the Jensen–Shannon divergence of the two
softmax distributions. JS is taken here in bits (natural-log JS / ln 2), so it lies in [0, 1] and so does
ZRF, the range the paper states; the computation is :func:`~unlearnbench.metrics.js_to_oracle.js_divergence`
(log-space, no NaN for confident models).

The random model is the bench's :meth:`~unlearnbench.runner.Bench.random_reference` (fixed seed, cached
outputs), the same for every row. ZRF near 1 means random-like predictions on the forget set. The paper
reads higher as better, but a retrained model is not random on the forget set (it generalises to it), so
the honest target is the retrained models' own ZRF: ``zrf_oracle`` (mean over the R oracles) and
``gap`` = |ZRF − ZRF_oracle| (lower is better). ``zrf`` itself is not ranked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics.js_to_oracle import js_divergence

__all__ = ["ZRF", "zrf_score"]

LN2 = math.log(2.0)


def zrf_score(logits: np.ndarray, random_logits: np.ndarray) -> float:
    """1 − mean over rows of JS(softmax(logits) ‖ softmax(random_logits)) in bits; in [0, 1]."""
    if np.asarray(logits).shape[0] == 0:
        raise ValueError("ZRF of an empty split is undefined")
    js_bits = js_divergence(logits, random_logits) / LN2
    return float(np.clip(1.0 - np.mean(js_bits), 0.0, 1.0))


def oracle_zrf(oracles: Sequence[ModelOutputs], random_outputs: ModelOutputs, split: str = "forget") -> float:
    """Mean over the retrained models of their ZRF on ``split``: what a perfect unlearner scores."""
    if not oracles:
        raise MetricNotApplicable("zrf needs at least one retrained model for its reference, got none")
    return math.fsum(zrf_score(o[split], random_outputs[split]) for o in oracles) / len(oracles)


class ZRF:
    """ZRF on the forget set, the retrained models' ZRF beside it, and the gap between the two."""

    name: ClassVar[str] = "zrf"
    description: ClassVar[str] = (
        "Zero Retrain Forgetting: 1 - mean JS divergence (bits) to a randomly initialised model on forget, "
        'with the oracles\' ZRF and the gap to it (Chundawat et al. AAAI 2023, "Can bad teaching induce '
        'forgetting?")'
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs", "random_outputs"})
    columns: ClassVar[tuple[str, ...]] = ("zrf", "zrf_oracle", "gap")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"zrf": None, "zrf_oracle": None, "gap": False}

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """ZRF of this model and of the oracles against the random model, on the forget split."""
        if ctx.random_outputs is None:
            raise MetricNotApplicable("zrf needs the random model's outputs (declare 'random_outputs' in needs)")
        value = zrf_score(ctx.outputs["forget"], ctx.random_outputs["forget"])
        reference = oracle_zrf(ctx.oracle_outputs, ctx.random_outputs)
        return {"zrf": value, "zrf_oracle": reference, "gap": abs(value - reference)}


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`ZRF`."""
    return [ZRF]
