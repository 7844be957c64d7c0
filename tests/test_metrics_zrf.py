"""Tests of unlearnbench.metrics.zrf, against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from unlearnbench.api import ModelOutputs
from unlearnbench.metrics.zrf import ZRF, oracle_zrf, zrf_score
from unlearnbench.testing import eval_context


def test_zrf_by_hand_and_against_scipy() -> None:
    same = np.array([[1.0, 2.0, 3.0]])
    assert zrf_score(same, same) == pytest.approx(1.0)
    # Certain predictions of different classes: JS = ln 2 nats, ZRF = 1 - ln 2 (its minimum).
    opposite = zrf_score(np.array([[100.0, 0.0]]), np.array([[0.0, 100.0]]))
    assert opposite == pytest.approx(1 - math.log(2), abs=1e-9)
    # p = (1, 0), q = (½, ½): m = (¾, ¼); JS = ½ ln(4/3) + ½ (½ ln(2/3) + ½ ln 2) nats.
    js = 0.5 * math.log(4 / 3) + 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    assert zrf_score(np.array([[60.0, 0.0]]), np.zeros((1, 2))) == pytest.approx(1 - js, abs=1e-9)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    pa = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    pb = np.exp(b) / np.exp(b).sum(1, keepdims=True)
    expected = 1 - np.mean(jensenshannon(pa, pb, axis=1) ** 2)  # natural logarithms
    assert zrf_score(a, b) == pytest.approx(expected, abs=1e-10)


def test_zrf_plugin_gap_to_oracles() -> None:
    labels = {"forget": np.array([0, 1])}
    random = ModelOutputs({"forget": np.zeros((2, 2))})
    oracle = ModelOutputs({"forget": np.array([[60.0, 0.0], [0.0, 60.0]])})
    ctx = eval_context({"forget": np.zeros((2, 2))}, labels, oracle_logits=[oracle.logits] * 2, random_outputs=random)
    values = ZRF().compute(ctx)
    assert values["zrf"] == pytest.approx(1.0)
    assert values["zrf_oracle"] == pytest.approx(oracle_zrf([oracle], random))
    assert values["gap"] == pytest.approx(1.0 - values["zrf_oracle"])
