"""Tests of the terminal and HTML reporters, rendered from a hand-built RunResults."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pluggy
import pytest
from rich.console import Console

from unlearnbench import hookspec
from unlearnbench.cli import main
from unlearnbench.data.fake import Fake
from unlearnbench.data.splits import make_splits
from unlearnbench.data.stats import dataset_statistics
from unlearnbench.reporting import (
    format_duration,
    format_gap,
    format_number,
    format_value,
    ordered_items,
    short_error,
    table_cells,
)
from unlearnbench.reporting.figures import pareto_figure, pareto_front, pareto_zoom_figure
from unlearnbench.reporting.html import dataset_view, render_html, write_html
from unlearnbench.reporting.index import best_methods, render_index, write_index
from unlearnbench.reporting.raster import heatmap_svg, image_grid_svg
from unlearnbench.reporting.svg import (
    Axis,
    Bar,
    Point,
    Series,
    bar_svg,
    histogram_svg,
    line_svg,
    scatter_svg,
    standalone,
)
from unlearnbench.reporting.terminal import (
    TerminalReporter,
    print_error,
    print_listing,
    render_table,
    render_tables,
    summary_line,
)
from unlearnbench.results import (
    Column,
    ItemResult,
    Outcome,
    RunResults,
    SeedResult,
    Summary,
    dumps,
    from_dict,
    load,
    summarise,
    to_dict,
)

HOSTILE = "<script>alert(1)</script> Golatkar et al. 2020 [bold]not markup[/bold]"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "plugins/broken.py", line 12, in unlearn\n'
    "    raise RuntimeError('diverged')\n"
    "RuntimeError: diverged"
)


def _seeds(values: dict[str, list[float]], seconds: float = 1.0) -> tuple[SeedResult, ...]:
    count = len(next(iter(values.values())))
    return tuple(
        SeedResult(seed=i, values={k: v[i] for k, v in values.items()}, unlearn_seconds=seconds)
        for i in range(count)
    )


def _item(
    item_id: str, method: str, params: dict[str, object], values: dict[str, list[float]], **kw: object
) -> ItemResult:
    """An item whose summary is computed from its per-seed values with the real summarise()."""
    population = dict(kw.pop("population", {}))  # type: ignore[call-overload]
    summary = {k: summarise(v) for k, v in values.items()}
    summary.update({k: Summary(mean=v, ci_low=None, ci_high=None, n=1) for k, v in population.items()})
    return ItemResult(
        item_id=item_id,
        method=method,
        params=params,
        description=str(kw.pop("description", f"{method}: a method")),
        outcome=kw.pop("outcome", "passed"),  # type: ignore[arg-type]
        seeds=_seeds(values) if values else (),
        population=population,
        summary=summary,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def results() -> RunResults:
    columns = (
        Column("accuracy.forget", "FA", "accuracy", higher_is_better=False),
        Column("accuracy.test", "TA", "accuracy", higher_is_better=True),
        Column("simple_mia", "MIA", "simple_mia", higher_is_better=None),
        Column("forgetting_quality", "F", "forgetting_quality", True, scope="population"),
    )
    items = (
        _item(
            "original", "original", {},
            {"accuracy.forget": [0.99, 0.99, 0.99], "accuracy.test": [0.88, 0.88, 0.88],
             "simple_mia": [0.58, 0.58, 0.58]},
            population={"forgetting_quality": 0.01},
        ),
        _item(
            "finetune[epochs=5,lr=0.1]", "finetune", {"epochs": 5, "lr": 0.1},
            {"accuracy.forget": [0.90, 0.92, 0.91], "accuracy.test": [0.86, 0.87, 0.85],
             "simple_mia": [0.51, 0.52, 0.50]},
            population={"forgetting_quality": 0.17}, duration=2.1,
        ),
        _item(
            "retrain", "retrain", {},
            {"accuracy.forget": [0.88, 0.88, 0.88], "accuracy.test": [0.88, 0.88, 0.88],
             "simple_mia": [0.50, 0.50, 0.50]},
            population={"forgetting_quality": 1.0},
        ),
        _item(
            "hostile[x=1]", "hostile", {"x": 1},
            {"accuracy.forget": [0.95, 0.96, 0.97], "accuracy.test": [0.89, 0.90, 0.91]},
            description=HOSTILE, outcome="failed",
            errors={"simple_mia": TRACEBACK}, duration=0.5,
        ),
        _item("broken", "broken", {}, {}, outcome="error", errors={"unlearn": TRACEBACK}, duration=65.0),
        _item("slow", "slow", {}, {}, outcome="skipped", skip_reason="needs a GPU"),
    )  # fmt: skip
    return RunResults(
        run_id="20240101-000000-abcd",
        command="unlearnbench run --dataset digits",
        config={"dataset": "digits", "seeds": 3, "note": "<b>bold</b>"},
        config_hash="c0ffee",
        seeds=(0, 1, 2),
        oracle_seeds=(0, 1, 2),
        versions={"unlearnbench": "0.1.0", "torch": "2.4.0"},
        device="cpu",
        git_commit="deadbeef",
        started_at="2024-01-01T00:00:00Z",
        duration=41.23,
        columns=columns,
        items=items,
        dataset={"name": "digits", "sizes": {"forget": 180, "retain": 1617}, "class_counts": [178, 182],
                 "source": "sklearn.datasets.load_digits", "evil": "<img src=x onerror=alert(1)>"},
    )  # fmt: skip


def _text(renderable: object, width: int = 200) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _row(text: str, item_id: str) -> str:
    lines = [line for line in text.splitlines() if line.lstrip("│┃|╷╵ ").startswith(item_id + " ")]
    assert len(lines) == 1, (item_id, text)
    return lines[0]


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.98123, "0.9812"), (0.5, "0.5000"), (12.3456, "12.35"), (1234.5, "1234"), (123456.0, "123456"),
     (0.99996, "1.000"), (9.99996, "10.00"), (0.0, "0"), (-0.25, "-0.2500"), (1.5e-5, "1.500e-05"),
     (float("nan"), "nan")],
)  # fmt: skip
def test_format_number(value: float, expected: str) -> None:
    assert format_number(value) == expected


def test_format_value_and_gap() -> None:
    assert format_value(0.98123, 0.00312) == "0.9812 ± 0.0031"
    assert format_value(0.98123, None) == "0.9812"
    # The half-width has the mean's precision, so floating-point noise of identical seeds reads 0.
    assert format_value(0.99, 3.3e-16) == "0.9900 ± 0.0000"
    assert format_value(0.0, 0.0123) == "0 ± 0.012"
    assert format_value(2.5e-5, 1.26e-6) == "2.500e-05 ± 1.3e-06"
    assert format_value(41.0, 2.345) == "41.00 ± 2.35"
    assert format_gap(0.0123) == "+0.01230"
    assert format_gap(-0.02) == "-0.02000"
    assert format_gap(0.0) == "±0"
    assert format_gap(0.03, 0.91) == "+0.0300"
    assert format_gap(-1.5, 41.0) == "-1.50"
    assert format_gap(0.00001, 0.91) == "±0"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.0, "0.0s"), (41.23, "41.2s"), (59.96, "1m 00.0s"), (65.0, "1m 05.0s"), (125.34, "2m 05.3s"),
     (3725.0, "1h 02m 05.0s")],
)  # fmt: skip
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_short_error() -> None:
    assert short_error(TRACEBACK) == "RuntimeError: diverged"
    assert short_error("ValueError: bad shape\n  more detail") == "ValueError: bad shape"
    assert short_error("  \n") == "error"


# --------------------------------------------------------------------------- summary line


def _with_outcomes(results: RunResults, outcomes: list[Outcome], **changes: object) -> RunResults:
    base = results.items[1]
    items = tuple(dataclasses.replace(base, item_id=f"m{i}", outcome=o) for i, o in enumerate(outcomes))
    return dataclasses.replace(results, items=items, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcomes", "duration", "interrupted", "expected"),
    [
        (["passed"] * 4 + ["failed", "error"], 41.23, False, "== 4 passed, 1 failed, 1 error in 41.2s =="),
        (["skipped", "passed", "error", "passed"], 2.0, False, "== 2 passed, 1 error, 1 skipped in 2.0s =="),
        (["passed"], 125.34, False, "== 1 passed in 2m 05.3s =="),
        (["failed", "failed"], 0.04, False, "== 2 failed in 0.0s =="),
        (["error", "error", "error"], 21.04, False, "== 3 errors in 21.0s =="),
        ([], 0.3, False, "== no items ran in 0.3s =="),
        (["passed", "passed"], 12.0, True, "== 2 passed in 12.0s (interrupted) =="),
    ],
)
def test_summary_line(
    results: RunResults, outcomes: list[Outcome], duration: float, interrupted: bool, expected: str
) -> None:
    changed = _with_outcomes(results, outcomes, duration=duration, interrupted=interrupted)
    assert summary_line(changed) == expected


# --------------------------------------------------------------------------- table


def test_rows_put_references_first(results: RunResults) -> None:
    ids = [item.item_id for item in ordered_items(results)]
    assert ids == ["original", "retrain", "finetune[epochs=5,lr=0.1]", "hostile[x=1]", "broken", "slow"]
    text = _text(render_table(results))
    positions = [text.index(item_id) for item_id in ids]
    assert positions == sorted(positions)


def test_table_cells_and_best_marking(results: RunResults) -> None:
    rows = {item.item_id: cells for item, cells in table_cells(results)}
    fa, ta, mia, f = rows["finetune[epochs=5,lr=0.1]"]
    # FA: lower is better; finetune (0.91) beats hostile (0.96); original (0.99) is a reference row.
    assert fa.best and fa.text == "0.9100 ± 0.0248"
    assert fa.gap == pytest.approx(0.91 - 0.88)
    # TA: hostile (0.90) beats finetune (0.86); the original's tie with retrain is not a contest.
    assert not ta.best and rows["hostile[x=1]"][1].best
    assert not rows["original"][1].best and not rows["retrain"][1].best
    # The MIA column is not ranked: nobody is best.
    assert not any(cells[2].best for cells in rows.values())
    # Population column: one value, no interval; the retrain row has no gap to itself.
    assert f.text == "0.1700" and f.best
    assert rows["retrain"][3].gap is None and rows["retrain"][3].text == "1.000"
    assert mia.text == "0.5100 ± 0.0248"
    # Metric error and item error become error cells; a skipped item has dashes.
    assert rows["hostile[x=1]"][2].kind == "error"
    assert rows["hostile[x=1]"][3].kind == "missing"
    assert all(cell.kind == "error" for cell in rows["broken"])
    assert all(cell.kind == "missing" for cell in rows["slow"])


def test_render_table_text(results: RunResults) -> None:
    text = _text(render_table(results))
    finetune = _row(text, "finetune[epochs=5,lr=0.1]")
    assert "* 0.9100 ± 0.0248" in finetune
    assert "* 0.1700" in finetune
    assert "0.8600 ± 0.0248" in finetune and "* 0.8600 ± 0.0248" not in finetune
    hostile = _row(text, "hostile[x=1]")
    assert "FAILED" in hostile and "* 0.9000 ± 0.0248" in hostile and "error" in hostile
    assert _row(text, "broken").count("error") == 4
    assert "SKIPPED" in _row(text, "slow")
    assert "*" not in _row(text, "original") and "*" not in _row(text, "retrain")
    for label in ("FA", "TA", "MIA", "F"):
        assert label in text
    assert "best per column" in text


def test_wide_tables_split_into_column_groups(results: RunResults) -> None:
    extra = tuple(Column(f"extra.c{i}", f"C{i}", "extra", higher_is_better=True) for i in range(6))
    wide = dataclasses.replace(results, columns=results.columns + extra)
    # At 80 characters the 10 columns continue in further tables; none of them folds a number.
    tables = render_tables(wide, 80)
    assert len(tables) > 1
    assert sum(len(t.columns) - 1 for t in tables) == len(wide.columns)
    texts = [_text(t, width=80) for t in tables]
    assert all(max(len(line) for line in text.splitlines()) <= 80 for text in texts)
    assert "* 0.9100 ± 0.0248" in _row(texts[0], "finetune[epochs=5,lr=0.1]")
    assert "continued" in texts[1] and "best per column" in texts[-1] and "best per column" not in texts[0]
    # Wide enough: one table, exactly render_table.
    assert len(render_tables(wide, 400)) == 1
    assert _text(render_tables(results, 200)[0]) == _text(render_table(results))


def test_ambiguous_labels_name_their_metric(results: RunResults) -> None:
    columns = results.columns + (Column("loss_mia_auc", "MIA", "loss_mia_auc", higher_is_better=False),)
    text = _text(render_table(dataclasses.replace(results, columns=columns)))
    assert "simple_mia" in text and "loss_mia_auc" in text
    assert "simple_mia" not in _text(render_table(results))


def test_best_is_bold_green(results: RunResults) -> None:
    console = Console(
        record=True, width=200, file=io.StringIO(), force_terminal=True, color_system="standard"
    )
    console.print(render_table(results))
    html = console.export_html(inline_styles=True)
    assert re.search(r'<span style="color: #008000; text-decoration-color: #008000; font-weight: bold">'
                     r"\s*\* 0\.9100 ± 0\.0248</span>", html)  # fmt: skip


# --------------------------------------------------------------------------- reporter


def _reporter(verbosity: int = 0) -> tuple[TerminalReporter, Console]:
    console = Console(record=True, width=200, file=io.StringIO())
    return TerminalReporter(console=console, verbosity=verbosity), console


def test_runreport_lines_through_pluggy(results: RunResults) -> None:
    reporter, console = _reporter()
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    pm.register(reporter)
    for item in results.items[1:]:
        pm.hook.unlearnbench_runreport(report=item)
    lines = console.export_text().splitlines()
    assert lines[0] == "finetune[epochs=5,lr=0.1] PASSED  (3 seeds, 2.1s)"
    assert lines[1] == "retrain PASSED  (3 seeds, 0.0s)"
    assert lines[2] == "hostile[x=1] FAILED  (3 seeds, 0.5s)"
    assert lines[3] == "broken ERROR  (0 seeds, 1m 05.0s)"
    assert lines[4] == "slow SKIPPED  (0 seeds, 0.0s, needs a GPU)"


def test_quiet_reporter_prints_no_item_lines(results: RunResults) -> None:
    reporter, console = _reporter(verbosity=-1)
    reporter.unlearnbench_runreport(report=results.items[1])
    reporter.section("unlearnbench session starts")
    reporter.header(["platform linux"])
    assert console.export_text() == ""


def test_sessionfinish(results: RunResults, tmp_path: Path) -> None:
    reporter, console = _reporter()
    session = SimpleNamespace(results_path=tmp_path / "results.json", html_path=tmp_path / "report.html")
    session.results_path.write_text("{}")
    session.html_path.write_text("<!doctype html>")
    reporter.unlearnbench_sessionfinish(session=session, results=results, exitstatus=1)
    text = console.export_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert "== 3 passed, 1 failed, 1 error, 1 skipped in 41.2s ==" in lines[-1]
    assert lines[-1].startswith("=") and lines[-1].endswith("=")
    assert f"results: {tmp_path / 'results.json'}" in lines
    assert f"report: {tmp_path / 'report.html'}" in lines
    assert "  simple_mia: RuntimeError: diverged" in lines
    assert "  unlearn: RuntimeError: diverged" in lines
    assert "slow: needs a GPU" in lines
    assert "Traceback" not in text  # only with -v
    assert text.index("finetune[epochs=5,lr=0.1]") < text.index("= errors =") < text.index("results: /")


def test_sessionfinish_verbose_and_without_paths(results: RunResults, tmp_path: Path) -> None:
    reporter, console = _reporter(verbosity=1)
    # A report that failed to write is not announced.
    session = SimpleNamespace(html_path=tmp_path / "missing.html")
    reporter.unlearnbench_sessionfinish(session=session, results=results, exitstatus=1)
    text = console.export_text()
    assert "Traceback (most recent call last):" in text and "raise RuntimeError('diverged')" in text
    assert not [line for line in text.splitlines() if line.startswith(("results: ", "report: "))]


def test_sessionfinish_no_items(results: RunResults) -> None:
    reporter, console = _reporter()
    empty = dataclasses.replace(results, items=(), duration=0.2)
    reporter.unlearnbench_sessionfinish(session=None, results=empty, exitstatus=5)
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert len(lines) == 1 and "== no items ran in 0.2s ==" in lines[0]


def test_line_and_section_do_not_parse_markup() -> None:
    reporter, console = _reporter()
    reporter.section("unlearnbench session starts")
    reporter.header(["dataset: digits [1797 images]", "cache: /tmp/[x]"])
    reporter.line("[red]literal[/red]", style="bold")
    long = "dataset: digits, model: dataset default, forget: 0.1, seeds: 2, oracles: 2, device: auto"
    reporter.line(long * 3)
    lines = console.export_text().splitlines()
    assert lines.pop() == long * 3  # one line, not wrapped at the console width
    assert re.fullmatch(r"=+ unlearnbench session starts =+", lines[0])
    assert lines[1:] == ["dataset: digits [1797 images]", "cache: /tmp/[x]", "[red]literal[/red]"]


def test_progress_without_terminal() -> None:
    reporter, console = _reporter()
    reporter.progress("train original", 1, 10)
    reporter.progress("train original", 10, 10)
    assert console.export_text() == ""
    verbose, vconsole = _reporter(verbosity=1)
    verbose.progress("train [oracle]", 5, 10)
    verbose.progress("train [oracle]", 10, 10)
    verbose.close()
    assert vconsole.export_text().splitlines() == ["  train [oracle]: 10/10"]


def test_progress_on_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    reporter = TerminalReporter(console=console)
    reporter.progress("unlearn [a]", 0, 3)
    reporter.progress("oracle", 1, 2)
    assert reporter._progress is not None and len(reporter._tasks) == 2
    reporter.progress("unlearn [a]", 3, 3)
    assert list(reporter._tasks) == ["oracle"]
    reporter.progress("oracle", 2, 2)
    assert reporter._progress is None
    reporter.progress("late", 1, 4)
    reporter.close()
    reporter.close()
    assert reporter._progress is None and not reporter._tasks


def test_print_results_for_a_saved_run(results: RunResults) -> None:
    reporter, console = _reporter()
    reporter.print_results(from_dict(to_dict(results)), [("report", "out/report.html")])
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert "* 0.9100 ± 0.0248" in _row("\n".join(lines), "finetune[epochs=5,lr=0.1]")
    assert lines[-2] == "report: out/report.html"
    assert "3 passed, 1 failed, 1 error, 1 skipped in 41.2s" in lines[-1]


def test_print_listing() -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    rows = [("finetune", "Fine-tune on retain [Warnecke et al. 2023]", "builtin: unlearnbench.methods")]
    print_listing("methods", ("name", "description", "from"), rows, console=console)
    text = console.export_text()
    assert "methods" in text.splitlines()[0]
    assert "Fine-tune on retain [Warnecke et al. 2023]" in text
    assert _row(text, "finetune").count("│") == 4
    print_listing("presets", ("name", "options", ""), [], console=console)
    assert "no presets registered" in console.export_text()


def test_print_error(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("Unknown method 'scrb'. Did you mean: scrub? [x]")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "Unknown method 'scrb'. Did you mean: scrub? [x]\n"


# --------------------------------------------------------------------------- HTML


def test_html_contains_everything(results: RunResults) -> None:
    html = render_html(results)
    assert html.startswith("<!doctype html>")
    for item in results.items:
        assert f">{item.item_id}<" in html
    for column in results.columns:
        assert column.label in html
    expected = [
        "unlearnbench run --dataset digits", "c0ffee", "deadbeef", "torch 2.4.0", "2024-01-01T00:00:00Z",
        "41.2s", "*</span> 0.9100 ± 0.0248", "Δ +0.0300", "needs a GPU", "RuntimeError: diverged",
        "sklearn.datasets.load_digits", "1617", "178, 182", "3 passed, 1 failed, 1 error, 1 skipped",
    ]  # fmt: skip
    for text in expected:
        assert text in html, text
    assert 'data-value="0.91"' in html
    # The traceback is folded: the whole text is inside a <details>.
    folded = r"<details>\s*<summary>.*?RuntimeError: diverged.*?</summary>\s*<pre>Traceback"
    assert re.search(folded, html, re.S)


def test_html_escapes_plugin_strings(results: RunResults) -> None:
    html = render_html(results)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>bold</b>" not in html
    assert html.count("<script>") == 1


def test_html_is_self_contained(results: RunResults) -> None:
    html = render_html(results)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.I)
    assert not re.search(r"<link[^>]+stylesheet", html, re.I)
    assert "<style>" in html and "addEventListener" in html
    # No inline event handler attributes in any tag (the hostile strings are escaped text, not tags).
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert tags and not [t for t in tags if re.search(r"\son[a-z]+\s*=", t, re.I)]


def test_html_round_trip_renders_the_same(results: RunResults) -> None:
    assert render_html(from_dict(to_dict(results))) == render_html(results)


def test_write_html(results: RunResults, tmp_path: Path) -> None:
    path = write_html(results, tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    assert path.read_text(encoding="utf-8") == render_html(results)
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_html_empty_run(results: RunResults) -> None:
    html = render_html(dataclasses.replace(results, items=(), dataset={}, interrupted=True))
    assert "No items ran." in html and "No dataset information recorded." in html
    assert "interrupted" in html


def test_not_applicable_cells(results: RunResults) -> None:
    item = dataclasses.replace(results.items[1], item_id="noted", summary={}, population={},
                               notes={"forgetting_quality": "needs at least 3 retrained models"})  # fmt: skip
    noted = dataclasses.replace(results, items=(*results.items, item))
    cells = {i.item_id: c for i, c in table_cells(noted)}["noted"]
    assert cells[3].kind == "na" and cells[3].text == "n/a" and "3 retrained" in cells[3].note
    assert cells[0].kind == "missing"
    html = render_html(noted)
    assert 'class="num na" title="needs at least 3 retrained models">n/a<' in html
    assert "<span class=\"mono\">forgetting_quality</span>: needs at least 3 retrained models" in html
    assert "n/a" in _row(_text(render_table(noted)), "noted")


def test_error_cells_carry_their_reason(results: RunResults) -> None:
    html = render_html(results)
    assert 'class="num error" title="RuntimeError: diverged">error<' in html


# --------------------------------------------------------------------------- pictures


def test_svg_axes_ticks() -> None:
    assert Axis(0.0, 1.0).ticks() == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert Axis(0.93, 1.0).ticks() == pytest.approx([0.94, 0.96, 0.98, 1.0])
    assert Axis(0.001, 1.0, log=True).ticks() == pytest.approx([0.001, 0.01, 0.1, 1.0])
    axis = Axis(0.001, 1.0, log=True)
    assert axis.fraction(0.01) == pytest.approx(1 / 3) and axis.fraction(0.0) == 0.0
    assert Axis(0.0, 2.0).fraction(3.0) == 1.0


def test_pareto_front_by_hand() -> None:
    # (x lower better, y higher better): (0.3, 0.9) is beaten by (0.1, 0.95); (0.2, 0.96) trades off.
    points = [(0.3, 0.9), (0.1, 0.95), (0.2, 0.96), (0.5, 0.99), (0.1, 0.95), (0.6, 0.98)]
    assert pareto_front(points) == [1, 2, 3]


def _pareto_run(results: RunResults, points: dict[str, tuple[float, float]]) -> RunResults:
    """``results`` with one item per id holding only FA and TA means (``retrain`` is the oracle)."""
    items = tuple(
        dataclasses.replace(results.items[1], item_id=item_id, method=item_id.split("[")[0], params={},
                            summary={"accuracy.FA": summarise([fa]), "accuracy.TA": summarise([ta])})
        for item_id, (fa, ta) in points.items()
    )  # fmt: skip
    return dataclasses.replace(results, items=items)


def test_pareto_figures(results: RunResults) -> None:
    points = {"retrain": (0.90, 0.95), "original": (1.0, 0.96), "a[x=1]": (0.91, 0.94), "b": (0.95, 0.93),
              "a[x=2]": (0.92, 0.955), "c": (0.905, 0.90), "far": (0.30, 0.40)}  # fmt: skip
    run = _pareto_run(results, points)
    full = pareto_figure(run)
    assert full is not None and full.anchor == "pareto" and full.wide
    assert all(f">{item_id}</text>" in full.svg or f"<title>{item_id}:" in full.svg for item_id in points)
    # Front (|ΔFA| lower, TA higher; anchors excluded): c is closest to the oracle, a[x=1] and a[x=2]
    # buy test accuracy with distance, b is beaten by a[x=1] on both: c, a[x=1] and a[x=2].
    assert full.svg.count('stroke="#1f2328" stroke-width="2.5"') == 3
    zoom = pareto_zoom_figure(run)
    assert zoom is not None and "without the 1 item " in zoom.caption
    assert "far:" not in zoom.svg and "far:" in full.svg
    del points["far"]
    points["original"] = (0.96, 0.96)
    assert pareto_zoom_figure(_pareto_run(results, points)) is None  # nothing far off: no zoom
    assert pareto_figure(_pareto_run(results, {"a": (0.9, 0.9)})) is None  # no retrain row: no picture


def test_svg_escapes_every_label() -> None:
    bad = '<script>alert(1)</script>"'
    charts = [
        scatter_svg([Point(0.1, 0.5, bad, "#000", tooltip=bad)], Axis(0, 1, bad), Axis(0, 1, bad), bad),
        bar_svg([bad], [Bar(bad, [0.5], "#000")], Axis(0, 1), bad, bad),
        histogram_svg(0, 1, [Series(bad, [1, 2], "#000")], bad, bad),
        line_svg([Series(bad, [0.1, 1], "#000", [0.1, 1])], Axis(0.01, 1, log=True),
                 Axis(0.01, 1, log=True), bad, diagonal=True, guides=[(0.1, bad)]),
        image_grid_svg([(bad, ["javascript:alert(1)", "https://example.org/x.png"])], bad),
        heatmap_svg([(bad, [[0.0, 1.0]])], 0.0, 1.0, bad),
    ]  # fmt: skip
    for svg in charts:
        assert svg.startswith("<svg ") and svg.endswith("</svg>")
        assert "<script" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in svg
        assert "javascript:" not in svg and "https:" not in svg and "xmlns" not in svg
    assert standalone(charts[0]).startswith('<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns=')


def test_dataset_view_draws_the_statistics() -> None:
    raw = Fake().load("unused")
    stats = dataset_statistics(raw, make_splits(raw, "0.1"))
    view = dataset_view({"name": "fake", "stats": stats})
    assert [f["anchor"] for f in view["figures"]] == [
        "data-counts", "data-channels", "data-mean", "data-gray", "data-samples"
    ]  # fmt: skip
    assert [row[0] for row in view["channels"]] == ["red", "green", "blue"]
    assert [key for key, _ in view["fields"]] == ["name"]
    assert dataset_view({}) == {"fields": [], "figures": [], "channels": []}


# --------------------------------------------------------------------------- a real (fake) run


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    """One run of the fake preset with two method items; returns its output folder."""
    folder = tmp_path_factory.mktemp("runs") / "first"
    # Module scope runs before the per-test isolation: isolate by hand (no ./plugins, no config file).
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder.parent)
        patch.setenv("UNLEARNBENCH_CACHE_DIR", str(shared_cache))
        code = main([*FAKE_RUN, "--method", "finetune[epochs=1,lr=0.1]", "--output-dir", str(folder)])
    assert code == 0
    return folder


FAKE_RUN = ["run", "--preset", "fake", "-q", "--method", "finetune[epochs=1,lr=0.01]"]
PICTURES = ("loss", "confidence", "roc", "classes", "epsilon")


def test_real_report_has_every_section_and_picture(fake_run: Path) -> None:
    results = load(fake_run / "results.json")
    html = (fake_run / "report.html").read_text(encoding="utf-8")
    assert html == render_html(results)  # rendered from results.json alone
    for anchor in ("summary", "pareto", "items", "dataset"):
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html
    for index, item in enumerate(results.items):
        assert item.diagnostics["version"] == 1 and "parameters" in item.diagnostics
        for picture in PICTURES:
            assert f'id="item-{index}-{picture}"' in html, (item.item_id, picture)
    for picture in ("counts", "channels", "mean", "gray", "samples"):
        assert f'id="data-{picture}"' in html
    assert html.count("<figure") == 1 + 5 * len(results.items) + 5
    assert html.count("<svg") == html.count("<figure")
    assert html.count("<script") == 1
    assert "http://" not in html and "https://" not in html and "url(" not in html
    # Every link is an anchor in the page and every image an inline PNG: nothing is fetched.
    targets = re.findall(r"""\b(?:href|src)\s*=\s*["']([^"']*)""", html)
    assert targets and all(t.startswith(("#", "data:image/png;base64,")) or t == "data:," for t in targets)
    assert "retrain: forget vs test" in html  # the target curve on every method's ROC
    # Resolved parameters: the explicit grid values and the method's defaults.
    assert '<span class="">lr=0.01</span>' in html and '<span class="default">momentum=0.9</span>' in html
    assert "× the retraining time" in html
    assert len((fake_run / "results.json").read_bytes()) < 300_000


def test_index_lists_runs_and_best_methods(fake_run: Path) -> None:
    results = load(fake_run / "results.json")
    index = fake_run.parent / "index.html"
    assert index.is_file()  # written by the session after the run
    second = fake_run.parent / "second"
    later = dataclasses.replace(results, run_id="later-run", started_at="2999-01-01T00:00:00+00:00",
                                dataset={**results.dataset, "name": "<b>other</b>"})  # fmt: skip
    second.mkdir()
    (second / "results.json").write_text(dumps(later))
    (fake_run.parent / "junk").mkdir()
    (fake_run.parent / "junk" / "results.json").write_text("{not json")
    html = render_index(fake_run.parent)
    assert write_index(fake_run.parent).read_text(encoding="utf-8") == html
    assert html.index(">second<") < html.index('href="first/report.html"')  # newest first; no report: no link
    assert "(no report)" in html and "junk" not in html
    assert "&lt;b&gt;other&lt;/b&gt;" in html and "<b>other</b>" not in html
    best = best_methods(results)
    assert list(best) == ["unlearning_score", "forgetting_quality.F", "accuracy.TA", "runtime.ratio"]
    for key in best:
        for item_id, _ in best[key]:
            assert item_id in html and not results.item(item_id).is_reference
    assert "best TA ↑" in html and "http" not in html


def test_index_rereads_only_changed_runs(fake_run: Path) -> None:
    """The index keeps each run's row with its results.json's (mtime, size): unchanged runs are not parsed."""
    import json
    import os

    from unlearnbench.reporting.index import ROW_CACHE_NAME

    folder = fake_run.parent
    render_index(folder)
    cache_path = folder / ROW_CACHE_NAME
    cache = json.loads(cache_path.read_text(encoding="utf-8"))
    assert fake_run.name in cache["runs"]
    cache["runs"][fake_run.name]["row"]["summary"] = "SENTINEL-SUMMARY"
    cache_path.write_text(json.dumps(cache), encoding="utf-8")
    assert "SENTINEL-SUMMARY" in render_index(folder)  # taken from the cache: the results were not re-read
    stat = (fake_run / "results.json").stat()
    os.utime(fake_run / "results.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert "SENTINEL-SUMMARY" not in render_index(folder)  # a changed results.json is read again
    cache_path.write_text("{torn", encoding="utf-8")
    fresh = render_index(folder)  # an unreadable cache only costs time
    assert "SENTINEL-SUMMARY" not in fresh and json.loads(cache_path.read_text(encoding="utf-8"))["format"] == 1
    (folder / "gone").mkdir()
    (folder / "gone" / "results.json").write_text((fake_run / "results.json").read_text(encoding="utf-8"))
    assert ">gone<" in render_index(folder)
    (folder / "gone" / "results.json").unlink()
    assert ">gone<" not in render_index(folder)
    assert "gone" not in json.loads(cache_path.read_text(encoding="utf-8"))["runs"]


def test_compare_renders_both_runs(
    fake_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = load(fake_run / "results.json")
    other = tmp_path / "b-run"
    other.mkdir()
    changed = dataclasses.replace(results, run_id="b-run-id", config={**results.config, "seeds": 5})
    (other / "results.json").write_text(dumps(changed))
    code = main(["compare", str(fake_run), str(other / "results.json")])
    out = capsys.readouterr().out
    target = tmp_path / "compare-first-b-run.html"
    assert code == 0 and target.is_file() and str(target.name) in out
    html = target.read_text(encoding="utf-8")
    assert results.run_id in html and "b-run-id" in html
    assert '<th scope="row" class="mono">seeds</th><td class="mono">3</td><td class="mono">5</td>' in html
    assert 'id="a-pareto"' in html and 'id="b-pareto"' in html and "http" not in html
    assert "Δ ±0" in html  # identical numbers: no change
    assert main(["compare", str(fake_run), str(tmp_path / "missing"), "-o", "x.html"]) == 4
    assert "no results.json" in capsys.readouterr().err


def test_data_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = ["--dataset-option", "num_classes=3", "--forget", "class:1", "--output-dir", "d"]
    code = main(["data", "fake", *options])
    out = capsys.readouterr().out
    assert code == 0, out
    files = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert files == ["channel-statistics.svg", "class-counts.svg", "data.html", "gray-histogram.svg",
                     "mean-image.svg", "samples.svg"]  # fmt: skip
    assert "fake: examples per class" in out and "fake: channels" in out and "data.html" in out
    html = (tmp_path / "d" / "data.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 5 and "http" not in html and "class:1" in html
    svg = (tmp_path / "d" / "class-counts.svg").read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in svg and "<style>" in svg
    assert main(["data", "fak"]) == 4
    assert "unknown dataset 'fak'. Did you mean: fake?" in capsys.readouterr().err
    assert main(["data", "fake", "--dataset-option", "bogus=1"]) == 4
    assert main(["data", "digits"]) == 0 and (tmp_path / "reports" / "data-digits" / "data.html").is_file()
