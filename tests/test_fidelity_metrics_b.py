"""Fidelity of mia_efficacy, zrf, weight_distance, avg_gap and relearn_time to their reference code.

Each test pins a behaviour of the authors' code (cited in the plugin's ``fidelity`` record) with a crafted
input and a hand-computed answer, so that it fails on the bench's code before the fidelity pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import unlearnbench.metrics.relearn_time as relearn_module
from unlearnbench.api import ModelOutputs, metric_scope
from unlearnbench.metrics.avg_gap import AvgGap
from unlearnbench.metrics.mia_efficacy import MIAEfficacy
from unlearnbench.metrics.relearn_time import RelearnTime
from unlearnbench.metrics.weight_distance import WeightDistance
from unlearnbench.metrics.zrf import ZRF
from unlearnbench.testing import eval_context, fresh_original, tiny_bench

# --------------------------------------------------------------------------- mia_efficacy


def _confidence_logits(confidences: list[float]) -> np.ndarray:
    """Two-class logits whose softmax gives class 0 (the label) probability ``c``."""
    c = np.asarray(confidences, dtype=np.float64)
    return np.stack([np.log(c / (1 - c)), np.zeros_like(c)], axis=1).astype(np.float32)


def test_mia_efficacy_trains_on_the_first_n_test_retain_examples() -> None:
    # SalUn's main_random.py 174: Subset(retain_dataset, range(len(test))): the first 4 retain examples
    # (confidence 0.2) are the members, not a random 4 of the 1000 (almost all 0.95).
    retain = [0.2] * 4 + [0.95] * 996
    test, forget = [0.6] * 4, [0.2] * 5
    logits = {"retain": _confidence_logits(retain), "test": _confidence_logits(test),
              "forget": _confidence_logits(forget)}  # fmt: skip
    labels = {split: np.zeros(len(v), dtype=np.int64) for split, v in logits.items()}
    ctx = eval_context(logits, labels)
    # Members sit at 0.2, non-members at 0.6: forget (0.2) is called member, efficacy 0.
    assert MIAEfficacy().compute(ctx) == 0.0


# --------------------------------------------------------------------------- zrf


def test_zrf_takes_the_papers_js_in_natural_logarithms() -> None:
    # p = (1, 0) against the random model's q = (½, ½): m = (¾, ¼),
    # JS = ½ ln(4/3) + ½ (½ ln(2/3) + ½ ln 2) nats, as torch.log in the authors' metrics.py.
    js = 0.5 * math.log(4 / 3) + 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    labels = {"forget": np.array([0])}
    random = ModelOutputs({"forget": np.zeros((1, 2))})
    ctx = eval_context({"forget": np.array([[60.0, 0.0]])}, labels, oracle_logits=[{"forget": np.zeros((1, 2))}],
                       random_outputs=random)  # fmt: skip
    values = ZRF().compute(ctx)
    assert values["zrf"] == pytest.approx(1 - js, abs=1e-9)
    assert values["zrf_oracle"] == pytest.approx(1.0)
    assert values["gap"] == pytest.approx(js, abs=1e-9)


# --------------------------------------------------------------------------- weight_distance


def test_weight_distance_reports_the_references_normalised_distance() -> None:
    # Golatkar et al.'s distance(model, model0) returns sqrt(sum (p - p0)^2 / sum p^2), p the first model's.
    ctx = eval_context({"forget": np.zeros((1, 2))}, {"forget": np.zeros(1, dtype=np.int64)})
    ctx.state = {"w": torch.tensor([3.0, 4.0]), "bn.running_var": torch.tensor([9.0])}  # norm 5 (buffers out)
    ctx.original_state = {"w": torch.tensor([3.0, 6.0]), "bn.running_var": torch.tensor([1.0])}
    ctx.oracle_states = [{"w": torch.tensor([0.0, 0.0]), "bn.running_var": torch.tensor([1.0])},
                         {"w": torch.tensor([3.0, 4.0]), "bn.running_var": torch.tensor([1.0])}]  # fmt: skip
    values = WeightDistance().compute(ctx)
    assert values["to_oracle"] == pytest.approx(2.5)  # (5 + 0) / 2
    assert values["to_original"] == pytest.approx(2.0)
    assert values["to_oracle_normalized"] == pytest.approx(0.5)
    assert values["to_original_normalized"] == pytest.approx(0.4)


# --------------------------------------------------------------------------- avg_gap


def _margin_logits(labels: np.ndarray, margin: float, correct: bool = True) -> np.ndarray:
    out = np.zeros((labels.size, 3), dtype=np.float32)
    out[np.arange(labels.size), labels if correct else (labels + 1) % 3] = margin
    return out


def _model(labels: dict[str, np.ndarray], forget_correct: bool) -> ModelOutputs:
    """Retrained-like: retain fitted (margin 8), test and forget at margin 1 (forget right or wrong)."""
    logits = {s: _margin_logits(labels[s], 8.0 if s == "retain" else 1.0) for s in labels}
    logits["forget"] = _margin_logits(labels["forget"], 1.0, correct=forget_correct)
    return ModelOutputs(logits)


def test_avg_gap_is_the_gap_between_means_over_seeds() -> None:
    # SalUn Table 3: the gaps are between means over trials. Oracles: UA 0 and UA 1 (reference 0.5);
    # replicates: UA 0 and UA 1 (mean 0.5). RA = TA = MIA = 1 everywhere, so the gap of the means is 0,
    # while each seed alone is |0.5| / 4 = 0.125 from the reference.
    labels = {s: np.arange(12) % 3 for s in ("retain", "forget", "test", "val")}
    right, wrong = _model(labels, True), _model(labels, False)
    ctx = eval_context(right.logits, labels, oracle_logits=[right.logits, wrong.logits],
                       replicates=[right.logits, wrong.logits])  # fmt: skip
    assert metric_scope(AvgGap()) == "population"
    assert AvgGap().compute(ctx) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- relearn_time


def test_relearn_time_pins_the_readout_recipe() -> None:
    # Forgetting.ipynb cell 70: SGD(lr=0.01, weight_decay=0), RandomSampler(replacement=True,
    # num_samples=500), epochs=100; cells 9-10: batch 128, weight decay 0.1; cell 123: margin 1e-5.
    assert relearn_module.LR == 0.01
    assert relearn_module.MOMENTUM == 0.0
    assert relearn_module.BATCH_SIZE == 128
    assert getattr(relearn_module, "SAMPLES_PER_EPOCH", None) == 500
    assert getattr(relearn_module, "MAX_EPOCHS", None) == 100
    assert getattr(relearn_module, "PROXIMAL_WEIGHT_DECAY", None) == 0.1
    assert getattr(relearn_module, "LOSS_MARGIN", None) == 1e-5


def _relearn_ctx(bench: Any, model: torch.nn.Module) -> Any:
    original = bench.original().outputs.logits
    return eval_context(original, bench.labels, original_logits=original, data=bench.data, model=model)


def test_relearn_time_of_the_original_is_one() -> None:
    # The reference prints retrain_time + 1: a model already at the original's forget loss scores 1.
    bench = tiny_bench()
    assert RelearnTime().compute(_relearn_ctx(bench, fresh_original(bench))) == {"steps": 1.0, "capped": 0.0}


def test_relearn_time_trains_in_eval_mode_on_500_draws_of_the_training_set(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tiny_bench()
    optimisers: list[dict[str, Any]] = []
    real_sgd = torch.optim.SGD

    def spy_sgd(params: Any, **kwargs: Any) -> torch.optim.Optimizer:
        optimisers.append(kwargs)
        return real_sgd(params, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", spy_sgd)
    model = bench.model_from_state(bench.random_reference().state)  # far from the original: it trains
    forwards: list[tuple[int, bool]] = []

    def record(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        if torch.is_grad_enabled():  # a training step (the forget-loss passes run under inference_mode)
            forwards.append((int(inputs[0].shape[0]), module.training))

    model.register_forward_pre_hook(record)  # deep-copied with the model by the metric
    values = RelearnTime().compute(_relearn_ctx(bench, model))
    assert values["steps"] > 1
    assert len(optimisers) == 1
    assert optimisers[0].get("lr") == 0.01
    assert optimisers[0].get("momentum", 0.0) == 0.0 and optimisers[0].get("weight_decay", 0.0) == 0.0
    sizes = [size for size, _ in forwards]
    # steps = epochs trained + 1 when the loss got there; the cap (100, every epoch trained) otherwise.
    epochs = int(values["steps"]) - (0 if values["capped"] else 1)
    # Each epoch: 500 examples drawn from the 256-example training set (not the 26-example forget set).
    assert sizes == [128, 128, 128, 116] * epochs
    assert not any(training for _, training in forwards)  # run_train_epoch calls model.eval()
