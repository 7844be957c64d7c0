"""Tests of unlearnbench.metrics.relearn_time, on the tiny bench."""

from __future__ import annotations

import torch

from unlearnbench.metrics.relearn_time import RelearnTime, forget_loss, relearn_epochs
from unlearnbench.testing import eval_context, fresh_original, tiny_bench


def test_relearn_epochs_one_when_already_there_and_never_mutates() -> None:
    bench = tiny_bench()
    model = fresh_original(bench)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train, forget = bench.data["train"], bench.data["forget"]
    # Already at the threshold: no epoch trained, reported as the reference's retrain_time + 1 = 1.
    assert relearn_epochs(model, train, forget, forget_loss(model, forget), seed=0) == (1, False)
    steps, capped = relearn_epochs(model, train, forget, -1.0, seed=0, max_epochs=3)
    assert (steps, capped) == (3, True)  # an unreachable target runs to the cap
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_relearn_time_orders_original_below_random_model() -> None:
    bench = tiny_bench()
    ctx = eval_context(
        bench.original().outputs.logits, bench.labels, original_logits=bench.original().outputs.logits,
        data=bench.data, model=fresh_original(bench),
    )  # fmt: skip
    assert RelearnTime().compute(ctx) == {"steps": 1.0, "capped": 0.0}
    ctx.model = bench.model_from_state(bench.random_reference().state)
    first = RelearnTime().compute(ctx)
    assert first["steps"] > 1
    ctx.model = bench.model_from_state(bench.random_reference().state)
    assert RelearnTime().compute(ctx) == first  # deterministic under the seed
