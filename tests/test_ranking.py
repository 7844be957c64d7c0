"""unlearnbench.reporting.ranking: distance to retraining per seed, its order, the paired test, the console."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import scipy.stats
from rich.console import Console

from unlearnbench.reporting.ranking import distance_text, paired_p_value, rank, strongest_mia
from unlearnbench.reporting.terminal import render_ranking
from unlearnbench.results import Column, ItemResult, RunResults, SeedResult, summarise

KEYS = ("accuracy.FA", "accuracy.RA", "accuracy.TA", "simple_mia", "loss_mia_auc.auc")


def _item(item_id: str, rows: list[tuple[float, ...]], seconds: float = 1.0) -> ItemResult:
    method = item_id.split("[")[0]
    params = {"x": 1} if "[" in item_id else {}
    seeds = tuple(SeedResult(s, dict(zip(KEYS, row, strict=True)), seconds) for s, row in enumerate(rows))
    summary = {k: summarise([row[i] for row in rows]) for i, k in enumerate(KEYS)}
    return ItemResult(item_id, method, params, "", "passed", seeds=seeds, summary=summary)


def _results(*items: ItemResult) -> RunResults:
    columns = tuple(Column(k, k, k.split(".")[0], None) for k in KEYS)
    return RunResults("r", "cmd", {}, "h", (0, 1, 2), (0,), {}, "cpu", "", "", 1.0, columns, items)


#              FA    RA    TA    simple loss-auc
RETRAIN = [(0.80, 1.00, 0.90, 0.50, 0.50)] * 3
ORIGINAL = [(1.00, 1.00, 0.92, 0.52, 0.70)] * 3
GOOD = [(0.82, 0.99, 0.90, 0.50, 0.52), (0.80, 1.00, 0.89, 0.50, 0.51), (0.79, 1.00, 0.90, 0.50, 0.50)]
NEAR = [(0.83, 0.99, 0.90, 0.50, 0.53), (0.80, 1.00, 0.90, 0.50, 0.50), (0.79, 1.00, 0.90, 0.50, 0.52)]
BAD = [(0.99, 0.98, 0.88, 0.51, 0.69), (0.98, 0.99, 0.88, 0.51, 0.68), (0.99, 0.97, 0.87, 0.51, 0.70)]


def test_the_strongest_mia_is_the_one_that_separates_original_and_retrain_most() -> None:
    results = _results(_item("original", ORIGINAL), _item("retrain", RETRAIN))
    assert strongest_mia(results) == "loss_mia_auc.auc"  # gap 0.20 against simple_mia's 0.02


def test_distances_by_hand_order_and_the_paired_test() -> None:
    results = _results(_item("original", ORIGINAL), _item("retrain", RETRAIN), _item("bad[x=1]", BAD),
                       _item("near[x=1]", NEAR), _item("good[x=1]", GOOD))  # fmt: skip
    ranking = rank(results)
    assert ranking is not None
    assert ranking.quantities == ("accuracy.FA", "accuracy.RA", "accuracy.TA", "loss_mia_auc.auc")
    reference = (0.80, 1.00, 0.90, 0.50)

    def per_seed(rows: list[tuple[float, ...]]) -> list[float]:
        return [sum(abs(v - r) for v, r in zip((row[0], row[1], row[2], row[4]), reference, strict=True)) / 4
                for row in rows]  # fmt: skip

    assert [item.item_id for item in ranking.items] == ["good[x=1]", "near[x=1]", "bad[x=1]"]
    good, near, bad = ranking.items
    assert good.distance == pytest.approx(sum(per_seed(GOOD)) / 3)
    assert bad.distance == pytest.approx(sum(per_seed(BAD)) / 3)
    assert near.p_above == pytest.approx(scipy.stats.ttest_rel(per_seed(NEAR), per_seed(GOOD)).pvalue)
    assert near.tied_with_above and not bad.tied_with_above and good.p_above is None
    assert ranking.original is not None and ranking.original.distance == pytest.approx((0.20 + 0.0 + 0.02 + 0.20) / 4)
    assert good.ci_low is not None and good.ci_low < good.distance < good.ci_high  # type: ignore[operator]


def test_paired_p_value_edge_cases() -> None:
    assert paired_p_value([0.1], [0.2]) is None
    assert paired_p_value([0.1, 0.2], [0.1, 0.2]) == 1.0
    assert paired_p_value([0.2, 0.3], [0.1, 0.2]) == 0.0  # the same non-zero difference every seed
    a, b = [0.1, 0.3, 0.2, 0.5], [0.2, 0.2, 0.4, 0.4]
    assert paired_p_value(a, b) == pytest.approx(scipy.stats.ttest_rel(a, b).pvalue)


def test_no_ranking_without_a_retrain_row_and_the_console_table() -> None:
    assert rank(_results(_item("good[x=1]", GOOD))) is None
    results = _results(_item("original", ORIGINAL), _item("retrain", RETRAIN), _item("good[x=1]", GOOD))
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render_ranking(results))
    text = console.export_text()
    ranked = rank(results)
    assert ranked is not None
    assert "good[x=1]" in text and distance_text(ranked.items[0]) in text and "original (does nothing)" in text
    assert distance_text(ranked.items[0]).count("[") == 1 and "-" not in distance_text(ranked.items[0])


def test_report_rank_by_chooses_the_quantities_and_refuses_an_unknown_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from unlearnbench.cli import main
    from unlearnbench.results import save

    results = _results(_item("original", ORIGINAL), _item("retrain", RETRAIN), _item("good[x=1]", GOOD))
    path = tmp_path / "results.json"
    save(results, path)
    assert main(["report", str(path), "--rank-by", "accuracy.FA", "--rank-by", "simple_mia"]) == 0
    out = capsys.readouterr().out
    assert "over accuracy.FA, simple_mia" in out.replace("\n", " ")
    html = (tmp_path / "report.html").read_text()
    assert "accuracy.FA, simple_mia" in html
    assert main(["report", str(path), "--rank-by", "nope"]) == 4
    assert "--rank-by nope: no such column" in capsys.readouterr().err
