"""U-LiRA: Gaussian fits, likelihood ratios and the balanced accuracy against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.loss_mia_auc import roc_auc
from unlearnbench.metrics.ulira import ULiRA, gaussian_fit, ulira_ratios, ulira_summary
from unlearnbench.testing import run_bench


def test_gaussian_fit_uses_per_example_means_and_the_global_deviation() -> None:
    phi = np.array([[0.0, 10.0], [2.0, 14.0]])
    mu, sigma = gaussian_fit(phi)
    assert mu.tolist() == [1.0, 12.0]
    # per-example variances (ddof 1): 2 and 8; their mean 5 → σ = √5
    assert sigma == pytest.approx(math.sqrt(5.0))


def test_gaussian_fit_needs_two_shadows() -> None:
    with pytest.raises(MetricNotApplicable, match="at least 2"):
        gaussian_fit(np.zeros((1, 3)))


def test_ratio_is_the_difference_of_gaussian_log_likelihoods() -> None:
    in_phi = np.array([[4.0], [6.0]])  # μ_in 5, σ_in √2
    out_phi = np.array([[-1.0], [1.0], [0.0]])  # μ_out 0, σ_out 1
    target = np.array([[3.0], [0.5]])
    got = ulira_ratios(target, in_phi, out_phi)
    s_in = math.sqrt(2.0)

    def log_n(x: float, mu: float, s: float) -> float:
        return -0.5 * ((x - mu) / s) ** 2 - math.log(s)

    for row, x in enumerate((3.0, 0.5)):
        assert got[row, 0] == pytest.approx(log_n(x, 5.0, s_in) - log_n(x, 0.0, 1.0))
    assert got[0, 0] > 0 > got[1, 0]  # near the IN mean → "unlearned"; near the OUT mean → "retrained"


def test_summary_is_the_balanced_accuracy_and_auc() -> None:
    unlearned = np.array([[1.0, -1.0], [2.0, 3.0]])  # 3 of 4 called "unlearned"
    retrained = np.array([[-2.0, 0.5]])  # 1 of 2 called "retrained"
    got = ulira_summary(unlearned, retrained)
    assert got["acc"] == pytest.approx(0.5 * (3 / 4 + 1 / 2))
    assert got["gap"] == pytest.approx(abs(got["acc"] - 0.5))
    assert got["auc"] == pytest.approx(roc_auc(unlearned.reshape(-1), retrained.reshape(-1)))


def test_indistinguishable_targets_leave_the_attack_at_chance() -> None:
    rng = np.random.default_rng(0)
    out_phi = rng.normal(0.0, 1.0, size=(8, 400))
    in_phi = rng.normal(0.0, 1.0, size=(8, 400))
    unlearned = ulira_ratios(rng.normal(0.0, 1.0, size=(6, 400)), in_phi, out_phi)
    retrained = ulira_ratios(rng.normal(0.0, 1.0, size=(6, 400)), in_phi, out_phi)
    got = ulira_summary(unlearned, retrained)
    assert abs(got["acc"] - 0.5) < 0.05
    assert abs(got["auc"] - 0.5) < 0.05


def test_a_recognisable_unlearner_is_caught() -> None:
    rng = np.random.default_rng(1)
    out_phi = rng.normal(0.0, 1.0, size=(8, 300))
    in_phi = rng.normal(3.0, 1.0, size=(8, 300))  # the method leaves forget examples too confident
    unlearned = ulira_ratios(rng.normal(3.0, 1.0, size=(6, 300)), in_phi, out_phi)
    retrained = ulira_ratios(rng.normal(0.0, 1.0, size=(6, 300)), in_phi, out_phi)
    got = ulira_summary(unlearned, retrained)
    assert got["acc"] > 0.85
    assert got["auc"] > 0.9


def test_mismatched_example_counts_are_an_error() -> None:
    with pytest.raises(ValueError, match="disagree"):
        ulira_ratios(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 4)))


def test_ulira_end_to_end_trains_shadows_once(tmp_path: Path, warm_cache: Path) -> None:
    """Opt-in, computed for every row from cached shadows; a second run trains and unlearns nothing."""
    first = run_bench(methods=["finetune[epochs=1,lr=0.05]"], metrics=["ulira"], cache_dir=warm_cache)
    for item in first.items:
        assert item.outcome == "passed", item.errors
        acc = item.summary["ulira.acc"].mean
        assert 0.0 <= acc <= 1.0 and math.isfinite(item.summary["ulira.auc"].mean)
    # the original row's shadows are the shadow originals themselves: the attack sees "trained on it"
    assert first.item("original").summary["ulira.gap"].mean >= first.item("retrain").summary["ulira.gap"].mean
    shadow_states = sorted(p.name for p in (warm_cache / "original").rglob("*.pt"))
    unlearned = sorted(p.name for p in (warm_cache / "unlearned").rglob("*.pt"))
    second = run_bench(methods=["finetune[epochs=1,lr=0.05]"], metrics=["ulira"], cache_dir=warm_cache)
    assert sorted(p.name for p in (warm_cache / "original").rglob("*.pt")) == shadow_states
    assert sorted(p.name for p in (warm_cache / "unlearned").rglob("*.pt")) == unlearned
    for a, b in zip(first.items, second.items, strict=True):
        assert a.summary["ulira.acc"].mean == b.summary["ulira.acc"].mean


def test_ulira_is_opt_in() -> None:
    assert ULiRA.default_selected is False
    results = run_bench(methods=["finetune[epochs=1,lr=0.05]"], metrics=["accuracy"])
    assert not any(k.startswith("ulira") for k in results.items[0].summary)
