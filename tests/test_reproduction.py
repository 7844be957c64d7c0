"""unlearnbench.reproduction: published tables judged cell by cell, orderings, rankings and the regime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import scipy.stats

from unlearnbench.cli import main
from unlearnbench.errors import UsageError
from unlearnbench.reporting.html import render_html
from unlearnbench.reporting.verdict import verdict_headline, verdict_rows
from unlearnbench.reproduction import (
    available,
    judge,
    load_reproduction,
    parse_reproduction,
    reproduction_for_preset,
    spearman_rho,
)
from unlearnbench.results import ItemResult, RunResults, Summary, save


def table(**changes: Any) -> dict[str, Any]:
    """A hand-made published table: two rows, accuracies in percent, an MIA, an error cell."""
    data: dict[str, Any] = {
        "format": 1, "name": "toy", "title": "a toy table", "paper": "Toy et al. 2024", "table": "Table 1",
        "repository": "toy/toy", "commit": "0" * 40, "preset": "toy-preset",
        "cost": {"cpu": "1 s"}, "deviations": ["none worth naming"],
        "cells": [
            {"row": "Original", "column": "TA", "item": "original", "key": "accuracy.TA", "published": 88.0,
             "unit": "percent", "tolerance": 2.0, "source": "Table 1 row 1"},
            {"row": "Retrain", "column": "TA", "item": "retrain", "key": "accuracy.TA", "published": 80.0,
             "unit": "percent", "tolerance": 2.0, "source": "Table 1 row 2"},
            {"row": "Retrain", "column": "forget error", "item": "retrain", "key": "accuracy.FA", "published": 0.3,
             "quantity": "error", "tolerance": 0.05, "source": "Table 1 row 2"},
            {"row": "Original", "column": "MIA", "item": "original", "key": "mia", "published": 0.6,
             "tolerance": 0.02, "source": "Table 1 row 1"},
        ],
        "orderings": [{"claim": "retraining costs test accuracy", "key": "accuracy.TA",
                       "items": ["original", "retrain"], "descending": True, "source": "Table 1"}],
        "rankings": [{"column": "TA", "min_rho": 0.9, "source": "Table 1"}],
        "regime": [{"item": "original", "key": "accuracy.FA", "op": ">=", "value": 0.95, "why": "it must fit"}],
    }  # fmt: skip
    data.update(changes)
    return data


def results(values: dict[str, dict[str, float]], preset: str = "toy-preset") -> RunResults:
    """A run whose item ``i`` has column ``k`` = ``values[i][k]`` (interval ± 0.01)."""
    items = tuple(
        ItemResult(item_id=i, method=i, params={}, description="", outcome="passed",
                   summary={k: Summary(v, v - 0.01, v + 0.01, 3) for k, v in cols.items()})
        for i, cols in values.items()
    )  # fmt: skip
    return RunResults(
        run_id="r", command="", config={"preset": preset}, config_hash="h", seeds=(0, 1, 2), oracle_seeds=(0,),
        versions={}, device="cpu", git_commit="x", started_at="", duration=1.0, columns=(), items=items,
    )  # fmt: skip


GOOD = {
    "original": {"accuracy.TA": 0.87, "accuracy.FA": 1.0, "mia": 0.61},
    "retrain": {"accuracy.TA": 0.81, "accuracy.FA": 0.72},
}


def test_every_check_within_tolerance_passes() -> None:
    verdict = judge(parse_reproduction(table(), "toy"), results(GOOD))
    assert verdict.passed and verdict.in_regime
    cell = verdict.cells[0]
    assert cell.ours == pytest.approx(87.0) and cell.difference == pytest.approx(-1.0)
    assert (cell.low, cell.high) == (pytest.approx(86.0), pytest.approx(88.0))  # the interval in percent
    error = verdict.cells[2]
    assert error.ours == pytest.approx(0.28) and error.low == pytest.approx(0.27)  # 1 − accuracy, flipped bounds
    assert verdict.counts() == {"cells": (4, 4), "orderings": (1, 1), "rankings": (1, 1), "regime": (1, 1)}


def test_a_cell_outside_its_tolerance_fails_the_verdict() -> None:
    worse = {**GOOD, "original": {**GOOD["original"], "accuracy.TA": 0.855}}  # 85.5 vs 88 ± 2
    verdict = judge(parse_reproduction(table(), "toy"), results(worse))
    assert not verdict.passed
    assert [c.holds for c in verdict.cells] == [False, True, True, True]
    rows = verdict_rows(verdict)
    assert [r.mark for r in rows if r.kind == "cell"] == ["✘", "✔", "✔", "✔"]
    assert "not reproduced" in verdict_headline(verdict)


def test_the_tolerance_edge_holds() -> None:
    edge = {**GOOD, "original": {**GOOD["original"], "accuracy.TA": 0.86}}  # exactly 2 points off
    assert judge(parse_reproduction(table(), "toy"), results(edge)).cells[0].holds


def test_a_failed_ordering_fails_the_verdict() -> None:
    flipped = {**GOOD, "retrain": {**GOOD["retrain"], "accuracy.TA": 0.875}}
    data = table(cells=table()["cells"][2:])  # keep only cells the flip does not touch
    verdict = judge(parse_reproduction(data, "toy"), results(flipped))
    assert all(c.holds for c in verdict.cells)
    assert not verdict.orderings[0].holds and not verdict.passed


def test_a_missing_cell_fails_and_says_so() -> None:
    without = {"original": {k: v for k, v in GOOD["original"].items() if k != "mia"}, "retrain": GOOD["retrain"]}
    verdict = judge(parse_reproduction(table(), "toy"), results(without))
    assert verdict.cells[3].ours is None and not verdict.cells[3].holds and not verdict.passed
    assert verdict_rows(verdict)[4].ours == "missing"


def test_outside_the_regime_there_is_no_verdict_on_the_table() -> None:
    weak = {**GOOD, "original": {**GOOD["original"], "accuracy.FA": 0.82}}
    verdict = judge(parse_reproduction(table(), "toy"), results(weak))
    assert not verdict.in_regime and not verdict.passed
    assert verdict.notes == ("regime: it must fit",)
    assert "not in the published regime" in verdict_headline(verdict)


def test_spearman_matches_scipy_with_ties() -> None:
    a, b = [1.0, 2.0, 2.0, 5.0, 3.0], [0.1, 0.4, 0.3, 0.9, 0.9]
    assert spearman_rho(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic)
    assert spearman_rho([1.0], [2.0]) is None and spearman_rho([1.0, 1.0], [1.0, 2.0]) is None


def test_a_reversed_ranking_fails() -> None:
    reversed_ta = {"original": {**GOOD["original"], "accuracy.TA": 0.79}, "retrain": GOOD["retrain"]}
    data = table(orderings=[], cells=table()["cells"][:2])
    data["cells"] = [{**c, "tolerance": 50.0} for c in data["cells"]]  # cells hold; only the ranking fails
    verdict = judge(parse_reproduction(data, "toy"), results(reversed_ta))
    assert verdict.rankings[0].rho == pytest.approx(-1.0) and not verdict.passed


@pytest.mark.parametrize(
    ("change", "message"),
    [({"format": 2}, "format"), ({"cells": [{"row": "x"}]}, "column"),
     ({"regime": [{"item": "o", "key": "k", "op": "==", "value": 1, "why": ""}]}, "op must be")],
)  # fmt: skip
def test_a_malformed_data_file_is_one_usage_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_reproduction(table(**change), "toy.json")


def test_every_shipped_reproduction_parses_cites_its_source_and_has_a_preset() -> None:
    from unlearnbench.config import BUILTIN_PRESETS

    assert "starting-kit" in available()
    for name in available():
        r = load_reproduction(name)
        assert len(r.commit) == 40 and r.repository and r.table and r.deviations
        assert r.preset in BUILTIN_PRESETS and reproduction_for_preset(r.preset) == r
        assert all(c.source for c in r.cells) and len({(c.row, c.column) for c in r.cells}) == len(r.cells)


def test_the_starting_kit_cells_are_the_notebooks_printed_numbers() -> None:
    kit = load_reproduction("starting-kit")
    values = {(c.row, c.column): c.published for c in kit.cells}
    assert values[("original", "simple MIA")] == 0.579 and values[("fine-tuned", "simple MIA")] == 0.512
    assert values[("retrained", "simple MIA")] == 0.502 and values[("original", "test accuracy")] == 88.3
    assert values[("fine-tuned", "retain accuracy")] == 98.3 and values[("fine-tuned", "test accuracy")] == 84.0


def test_the_report_of_a_reproduction_preset_shows_the_verdict() -> None:
    kit = load_reproduction("starting-kit")
    html = render_html(results(GOOD, preset=kit.preset))
    assert 'id="reproduction"' in html and "cell 21" in html and "✘" in html
    assert "not in the published regime" in html  # the toy run has no simple MIA: the regime check fails
    assert 'id="reproduction"' not in render_html(results(GOOD, preset="default"))
    with_backbone = results(GOOD, preset=kit.preset)
    with_backbone.config["backbone"] = {"dataset": "cifar10", "epochs": 24}
    assert "backbone: pre-trained on cifar10 for 24 epochs" in render_html(with_backbone)


def test_reproduce_judges_a_results_file_and_exits_by_its_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kit = load_reproduction("starting-kit")
    published = {
        c.item: {} for c in kit.cells
    }
    for c in kit.cells:
        published[c.item][c.key] = c.published / (100.0 if c.unit == "percent" else 1.0)
    published["original"]["accuracy.FA"] = 0.995
    good = tmp_path / "good.json"
    save(results(published, preset=kit.preset), good)
    assert main(["reproduce", "starting-kit", "--results", str(good)]) == 0
    assert "reproduced" in capsys.readouterr().out
    published["retrain"]["simple_mia"] = 0.60  # the retrained model leaks: a cell and the ordering fail
    bad = tmp_path / "bad.json"
    save(results(published, preset=kit.preset), bad)
    assert main(["reproduce", "starting-kit", "--results", str(bad)]) == 1
    assert "✘" in capsys.readouterr().out


def test_reproduce_an_unknown_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "no-such-table", "--results", "x.json"]) == 4
    assert "unknown reproduction 'no-such-table'" in capsys.readouterr().err


def test_list_reproductions_shows_source_cost_and_deviations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "reproductions"]) == 0
    out = capsys.readouterr().out
    assert "starting-kit" in out and "unlearning-challenge/starting-kit" in out and "gpu" in out


def test_the_data_files_are_valid_json_with_a_format() -> None:
    folder = Path(__file__).resolve().parent.parent / "unlearnbench" / "reproductions"
    for path in folder.glob("*.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["format"] == 1


def test_verdict_names_the_backbone_the_run_started_from() -> None:
    run = results(GOOD)
    assert judge(parse_reproduction(table(), "toy"), run).context == ()
    run.config["backbone"] = {"dataset": "cifar10", "dataset_options": {"classes": "5-9"}, "epochs": 24}
    verdict = judge(parse_reproduction(table(), "toy"), run)
    assert verdict.context == ("backbone: pre-trained on cifar10 classes 5-9 for 24 epochs",)
    run.config["backbone"] = {"dataset": "cifar100"}
    assert judge(parse_reproduction(table(), "toy"), run).context == ("backbone: pre-trained on cifar100",)


def test_salun_table1_cells_agree_with_their_own_gaps() -> None:
    """The transcribed Table 1: every method's Avg. Gap is the mean of its |cell − Retrain| over UA, RA, TA and
    MIA-efficacy within the table's rounding, each cell is checked for a method of the preset, and the
    published ranking by Avg. Gap puts SalUn first."""
    from unlearnbench.config import BUILTIN_PRESETS

    reproduction = load_reproduction("salun-table1")
    by_row: dict[str, dict[str, float]] = {}
    for cell in reproduction.cells:
        by_row.setdefault(cell.item, {})[cell.column] = cell.published
    retrain = by_row.pop("retrain")
    columns = ("UA", "RA", "TA", "MIA-Efficacy")
    for item, cells in by_row.items():
        gap = sum(abs(cells[c] - retrain[c]) for c in columns) / 4
        assert gap == pytest.approx(cells["Avg. Gap"], abs=0.011), item
    preset = BUILTIN_PRESETS[reproduction.preset]
    assert set(by_row) == set(preset["methods"])
    assert min(by_row, key=lambda item: by_row[item]["Avg. Gap"]) == "salun"
    assert preset["recipe"]["select"] == "best-val" and preset["oracle_recipe"]["epochs"] == 160
