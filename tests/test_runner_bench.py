"""The runner's artifacts: cached unlearned weights, the random reference, opt-in metrics, paired
differences to the retrain row and bootstrap intervals of population metrics, end to end on tiny runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from unlearnbench.results import INTERVAL_BOOTSTRAP, INTERVAL_PAIRED, INTERVAL_T, from_dict, summarise, to_dict
from unlearnbench.runner import RANDOM_MODEL_SEED, UNLEARNED_ROLE
from unlearnbench.testing import run_bench, tiny_bench

COUNTING_PLUGIN = '''
"""A method that records every unlearn call in $COUNT_FILE and nudges the weights."""

import os
from pathlib import Path

import torch

from unlearnbench import hookimpl


class Counting:
    name = "counting"
    description = "test method counting its unlearn calls"

    def unlearn(self, model, ctx):
        with Path(os.environ["COUNT_FILE"]).open("a") as fh:
            fh.write(f"{ctx.seed}\\n")
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(0.9)
        return model


class OptIn:
    name = "optin_metric"
    description = "test metric that is opt-in"
    higher_is_better = None
    default_selected = False

    def compute(self, ctx):
        return 1.0


@hookimpl
def unlearnbench_add_methods():
    return [Counting]


@hookimpl
def unlearnbench_add_metrics():
    return [OptIn]
'''


@pytest.fixture
def counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The counting plugin in ./plugins; returns the file its calls are written to."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "counting.py").write_text(textwrap.dedent(COUNTING_PLUGIN))
    count = tmp_path / "calls.txt"
    monkeypatch.setenv("COUNT_FILE", str(count))
    return count


def _calls(count: Path) -> list[str]:
    return count.read_text().split() if count.exists() else []


def test_adding_a_model_metric_reuses_cached_weights(counting: Path, warm_cache: Path) -> None:
    first = run_bench(methods=["counting"], metrics=["accuracy"], cache_dir=warm_cache)
    assert sorted(_calls(counting)) == ["0", "1"]
    assert not any(s.cached for s in first.item("counting").seeds)
    assert len(list((warm_cache / UNLEARNED_ROLE).rglob("*.pt"))) >= 2  # retrain's replicates and ours

    second = run_bench(
        methods=["counting"], metrics=["accuracy", "weight_distance", "relearn_time"], cache_dir=warm_cache
    )
    assert sorted(_calls(counting)) == ["0", "1"]  # nothing unlearned again
    item = second.item("counting")
    assert all(s.cached for s in item.seeds)
    assert item.outcome == "passed", item.errors
    assert {"weight_distance.to_oracle", "relearn_time.steps", "accuracy.FA"} <= set(item.summary)
    # The weights are the ones the method produced: 0.9 × the original's, far from it by 0.1 × ‖θ_o‖.
    bench = tiny_bench()
    from unlearnbench.metrics.weight_distance import weight_distance

    zero = {k: v * 0 for k, v in bench.original().state.items()}
    norm = weight_distance(bench.original().state, zero)
    assert item.seeds[0].values["weight_distance.to_original"] == pytest.approx(0.1 * norm, rel=1e-5)


def test_opt_in_metrics_run_only_when_named(counting: Path, warm_cache: Path) -> None:
    default = run_bench(methods=["counting"], cache_dir=warm_cache)
    assert not any(c.metric == "optin_metric" for c in default.columns)
    named = run_bench(methods=["counting"], metrics=["accuracy", "optin_*"], cache_dir=warm_cache)
    assert named.item("original").summary["optin_metric"].mean == 1.0


def test_random_reference_is_cached_and_deterministic(tmp_path: Path) -> None:
    bench = tiny_bench(cache_dir=str(tmp_path / "c1"))
    other = tiny_bench(cache_dir=str(tmp_path / "c2"))
    a, b = bench.random_reference(), other.random_reference()
    assert RANDOM_MODEL_SEED not in range(0, 1000)
    for split in ("forget", "test"):
        np.testing.assert_array_equal(a.outputs[split], b.outputs[split])
    assert list((tmp_path / "c1" / "random").rglob("*.pt"))
    # Untrained: it is near chance on the test split.
    assert np.mean(np.argmax(a.outputs["test"], axis=1) == bench.labels["test"]) < 0.6


def test_paired_differences_and_bootstrap_in_results(counting: Path, warm_cache: Path) -> None:
    results = run_bench(
        methods=["counting"], metrics=["accuracy", "forgetting_quality"], cache_dir=warm_cache, oracles=3
    )
    item, retrain = results.item("counting"), results.item("retrain")
    assert item.summary["accuracy.FA"].interval == INTERVAL_T
    paired = item.paired["accuracy.FA"]
    diffs = [
        s.values["accuracy.FA"] - r.values["accuracy.FA"]
        for s, r in zip(item.seeds, retrain.seeds, strict=True)
    ]
    expected = summarise(diffs)
    assert paired.interval == INTERVAL_PAIRED
    assert paired.mean == pytest.approx(expected.mean)
    assert (paired.ci_low, paired.ci_high) == pytest.approx((expected.ci_low, expected.ci_high))
    assert not retrain.paired and not results.item("original").paired
    f = item.summary["forgetting_quality.F"]
    assert f.interval == INTERVAL_BOOTSTRAP
    assert f.ci_low is not None and f.ci_high is not None and f.ci_low <= f.mean <= f.ci_high
    # results.json keeps all of it through a round trip.
    again = from_dict(json.loads(json.dumps(to_dict(results))))
    assert again.item("counting").paired == item.paired
    assert again.item("counting").summary == item.summary


def test_old_results_without_interval_labels_still_load() -> None:
    from unlearnbench.results import _summary_from_dict

    assert _summary_from_dict({"mean": 1.0, "ci_low": 0.5, "ci_high": 1.5, "n": 3}).interval == INTERVAL_T
    assert _summary_from_dict({"mean": 1.0, "ci_low": None, "ci_high": None, "n": 1}).interval is None
    with pytest.raises(ValueError, match="interval kind"):
        _summary_from_dict({"mean": 1.0, "ci_low": 0.5, "ci_high": 1.5, "n": 3, "interval": "z99"})


def test_list_metrics_marks_opt_in_and_diff_table(
    counting: Path, warm_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unlearnbench.cli import main

    assert main(["list", "metrics"]) == 0
    listing = capsys.readouterr().out
    assert "optin_metric (opt-in)" in listing and "weight_distance (opt-in)" not in listing
    out = warm_cache.parent / "out"
    results = run_bench(methods=["counting"], metrics=["accuracy"], cache_dir=warm_cache, output_dir=out)
    assert results.item("counting").paired, results.item("counting")
    capsys.readouterr()
    assert main(["report", str(out / "results.json"), "--diff"]) == 0
    text = capsys.readouterr().out
    assert "Δ vs retrain" in text and "FA" in text
    html = (out / "report.html").read_text()
    assert "Δ vs retrain: " in html and "paired 95 % t" in html
