"""Jensen–Shannon divergence between the unlearned model's and the retrained models' predictions.

Per example, JS(P ‖ Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M) with M = (P + Q)/2, P and Q the two models' softmax
distributions, in nats, so it lies in [0, ln 2]. It is averaged over the examples of a split and then over
the R retrained models. A model that predicts like retraining scores about what two retrained models score
against each other; 0 means identical predictions. Lower is better on both columns: on the forget split
(``js_forget``) it measures how far forgetting is from retraining, on the test split (``js_test``) how much
the method disturbed the model on unseen data.

This is the divergence of the output distributions the catalogue asks for ("distribution-level
indistinguishability"). It is computed from log-probabilities, so confident predictions whose probabilities
underflow do not produce NaN.

Reference: the bad-teacher notebook (vikram2000b/bad-teaching-unlearning@f1aa988f
``CIFARSuper20_Rocket_Unlearn.ipynb`` cell 19) prints this comparison as "JS Div", one minus its ZRF
function between the retrained and the unlearned model on the forget examples. Its ``JSDiv``
(``metrics.py`` 5-7) passes the arguments of ``kl_div`` the other way round and averages over classes too,
so it is not the Jensen–Shannon divergence; the textbook divergence is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from unlearnbench.api import EvalContext, ModelOutputs
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl
from unlearnbench.metrics._functional import log_softmax

__all__ = ["JSToOracle", "js_divergence", "mean_js_to_oracles"]

LN2 = math.log(2.0)
#: The splits compared, one column each (``js_<split>``).
_SPLITS: tuple[str, ...] = ("forget", "test")


def _log_probs(logits: np.ndarray, what: str) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"{what} logits must have shape (n, classes), got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{what} logits contain non-finite values")
    return log_softmax(z)


def js_divergence(logits_p: np.ndarray, logits_q: np.ndarray) -> np.ndarray:
    """Per-row JS divergence (nats, in [0, ln 2]) between ``softmax(logits_p)`` and ``softmax(logits_q)``."""
    log_p = _log_probs(logits_p, "first")
    log_q = _log_probs(logits_q, "second")
    if log_p.shape != log_q.shape:
        raise ValueError(f"logits must have equal shapes, got {log_p.shape} and {log_q.shape}")
    log_m = np.logaddexp(log_p, log_q) - LN2
    # p·(log p − log m) is 0 where p underflows to 0; log p stays finite, so no 0·inf appears.
    kl_pm = np.sum(np.exp(log_p) * (log_p - log_m), axis=1)
    kl_qm = np.sum(np.exp(log_q) * (log_q - log_m), axis=1)
    return np.clip(0.5 * (kl_pm + kl_qm), 0.0, LN2)


def mean_js_to_oracles(outputs: ModelOutputs, oracles: Sequence[ModelOutputs], split: str) -> float:
    """Mean over ``oracles`` of the mean over ``split``'s examples of JS(outputs ‖ oracle)."""
    if not oracles:
        raise MetricNotApplicable("js_to_oracle needs at least one retrained model, got none")
    if outputs[split].shape[0] == 0:
        raise ValueError(f"the {split} split is empty")
    return float(np.mean([np.mean(js_divergence(outputs[split], o[split])) for o in oracles]))


class JSToOracle:
    """Mean JS divergence of the model's predictions to the retrained models', on forget and on test."""

    name: ClassVar[str] = "js_to_oracle"
    description: ClassVar[str] = (
        "Jensen-Shannon divergence (nats) between the model's and the retrained models' softmax outputs on "
        "forget and test, mean over examples and oracles (Lin 1991; distribution-level indistinguishability)"
    )
    scope: ClassVar[str] = "model"
    needs: ClassVar[frozenset[str]] = frozenset({"outputs", "oracle_outputs"})
    columns: ClassVar[tuple[str, ...]] = ("js_forget", "js_test")
    higher_is_better: ClassVar[dict[str, bool | None]] = {"js_forget": False, "js_test": False}

    fidelity: ClassVar[Fidelity] = Fidelity(
        paper=(
            "Lin, Divergence measures based on the Shannon entropy, IEEE Trans. Inf. Theory 1991 (JS); as a "
            "comparison with the retrained model: Chundawat et al., AAAI 2023, bad-teacher notebook"
        ),
        repository="vikram2000b/bad-teaching-unlearning",
        commit="f1aa988f71cccf1be6d50e0c6f7b2b905e4c9126",
        loop=(
            Source(
                "CIFARSuper20_Rocket_Unlearn.ipynb", "cell 19",
                note="'JS Div' = 1 - UnLearningScore(gold_model, student_model, forget_valid_dl): the "
                "retrained and the unlearned model's softmax on every forget_valid example",
            ),
            Source(
                "metrics.py", "5-25",
                note="JSDiv(p, q) = 0.5 kl_div(log p, m) + 0.5 kl_div(log q, m), m = (p + q)/2, reduction "
                "'mean' over examples and classes; UnLearningScore returns 1 - JSDiv",
            ),
        ),
        defaults={},
        differences=(
            Difference(
                what="Scored on the forget training split (js_forget) and on the test split (js_test); the "
                "notebook scores forget_valid, the held-out test examples of the forgotten class (cell 6).",
                why="For random forgetting there are no held-out forget examples; the forget split is what was "
                "unlearned, and js_test is the held-out comparison (for class forgetting it includes the "
                "forgotten class's test examples).",
                effect="measured on digits, class 3 (6 oracles, mean of 3 seeds): JS on the held-out class-3 "
                "test examples vs js_forget: original 0.610 vs 0.655, retrain 0.125 vs 0.136, "
                "finetune[epochs=5,lr=0.1] 0.314 vs 0.377, gradient_ascent[lr=0.0005] 0.430 vs 0.460",
            ),
            Difference(
                what="Averaged over the R retrained models.",
                why="The bench has a pool of R oracles; with R = 1 this is one comparison, as in the notebook.",
                effect="none for R = 1",
            ),
        ),
        paper_over_code=(
            "The code's JSDiv (metrics.py 5-7) computes (KL(m || p) + KL(m || q)) / 2 averaged over examples "
            "and classes (F.kl_div(input, target) is KL(target || input)), not the Jensen-Shannon divergence "
            "1/2 KL(p || m) + 1/2 KL(q || m) of Lin 1991 that the paper names (its ZRF formula). The "
            "divergence itself is computed here, in nats. Measured on digits (6 oracles, mean of 3 seeds; 10 % "
            "random | class 3), the code's 'JS Div' vs js_forget: original 0.0028 vs 0.0141 | 0.486 vs 0.655, "
            "retrain 0.0021 vs 0.0117 | 0.021 vs 0.136, finetune[epochs=5,lr=0.1] 0.0029 vs 0.0141 | 0.253 vs "
            "0.377, gradient_ascent[lr=0.0005] 0.0023 vs 0.0136 | 0.428 vs 0.460.",
        ),
    )

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        """Mean JS divergence to the oracles on the forget and test splits."""
        oracles = ctx.oracle_outputs
        return {f"js_{split}": mean_js_to_oracles(ctx.outputs, oracles, split) for split in _SPLITS}


@hookimpl
def unlearnbench_add_metrics() -> list[type]:
    """Register :class:`JSToOracle`."""
    return [JSToOracle]
