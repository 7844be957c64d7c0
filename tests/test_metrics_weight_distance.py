"""Tests of unlearnbench.metrics.weight_distance, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.weight_distance import WeightDistance, parameter_names, weight_distance
from unlearnbench.testing import eval_context


def test_weight_distance_by_hand_and_buffers_ignored() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0]), "bn.running_mean": torch.tensor([5.0]),
         "bn.num_batches_tracked": torch.tensor(3)}  # fmt: skip
    b = {"w": torch.tensor([4.0, 6.0]), "b": torch.tensor([12.0]), "bn.running_mean": torch.tensor([-5.0]),
         "bn.num_batches_tracked": torch.tensor(9)}  # fmt: skip
    assert parameter_names(a) == ["b", "w"]
    assert weight_distance(a, b) == pytest.approx(13.0)  # sqrt(3² + 4² + 12²)
    assert weight_distance(a, a) == 0.0
    with pytest.raises(ValueError, match="different parameters"):
        weight_distance(a, {"w": torch.zeros(2)})


def test_weight_distance_plugin() -> None:
    state = {"w": torch.tensor([0.0, 0.0])}
    ctx = eval_context({"forget": np.zeros((1, 2))}, {"forget": np.zeros(1, dtype=np.int64)})
    ctx.state, ctx.original_state = state, {"w": torch.tensor([3.0, 4.0])}
    ctx.oracle_states = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([0.0, 3.0])}]
    # All-zero weights have no normalised distance: only the raw columns.
    assert WeightDistance().compute(ctx) == {"to_oracle": pytest.approx(2.0), "to_original": pytest.approx(5.0)}
    ctx.state = None
    with pytest.raises(MetricNotApplicable):
        WeightDistance().compute(ctx)
