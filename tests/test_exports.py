"""unlearnbench report --format latex|csv|markdown|svg: the results table and the figures for papers."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_reporting import results  # noqa: F401 (the hand-made run, a fixture)

from unlearnbench.cli import main
from unlearnbench.reporting.exports import figure_files, latex_escape, select_columns, to_csv, to_latex, to_markdown
from unlearnbench.results import RunResults, load, save


def _data_rows(tex: str) -> list[str]:
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    return [line for line in body.strip().splitlines() if line.strip()]


def test_latex_is_a_booktabs_table_with_intervals_and_the_best_in_bold(results: RunResults) -> None:  # noqa: F811
    tex = to_latex(results)
    columns = len(results.columns)
    assert r"\begin{tabular}{l" + "r" * columns + "}" in tex and tex.count(r"\toprule") == 1
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule") < tex.index(r"\end{tabular}")
    rows = _data_rows(tex)
    assert len(rows) == len([i for i in results.items if i.outcome != "skipped"])
    assert all(row.count(" & ") == columns and row.endswith(r"\\") for row in rows)
    finetune = next(row for row in rows if row.startswith("finetune"))
    # finetune has the lowest FA (lower is better) among non-reference rows: bold, with its half-width.
    fa = results.item("finetune[epochs=5,lr=0.1]").summary["accuracy.forget"]
    half = fa.ci_high - fa.mean  # type: ignore[operator]
    assert finetune.split(" & ")[1] == rf"$\mathbf{{{fa.mean:.3f}}} \pm {half:.3f}$"
    original = next(row for row in rows if row.startswith("original"))
    assert r"\pm" not in original.split(" & ")[1]  # one model: no interval to show
    assert r"\_" in latex_escape("a_b") and latex_escape("50%") == r"50\%"
    assert "TA $\\uparrow$" in tex and "FA $\\downarrow$" in tex
    assert tex.count("{") == tex.count("}")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex on this machine: structural checks only")
def test_latex_compiles(results: RunResults, tmp_path: Path) -> None:  # noqa: F811
    preamble = "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
    document = preamble + to_latex(results) + "\\end{document}\n"
    (tmp_path / "t.tex").write_text(document)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "t.tex"], cwd=tmp_path, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]


def test_csv_round_trips_every_stored_float(results: RunResults) -> None:  # noqa: F811
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert [row["item"] for row in rows] == [item.item_id for item in results.items]
    for row, item in zip(rows, results.items, strict=True):
        for column in results.columns:
            summary = item.summary.get(column.key)
            if summary is None:
                assert row[column.key] == ""
                continue
            assert float(row[column.key]) == summary.mean  # exactly
            assert int(row[f"{column.key}.n"]) == summary.n
            if summary.ci_low is not None:
                assert float(row[f"{column.key}.ci_low"]) == summary.ci_low
                assert float(row[f"{column.key}.ci_high"]) == summary.ci_high


def test_markdown_has_one_row_per_item_and_bold_best(results: RunResults) -> None:  # noqa: F811
    md = to_markdown(results, select_columns(results, ["accuracy.*"]))
    lines = md.strip().splitlines()
    assert lines[0] == "| method | FA ↓ | TA ↑ |" and lines[1] == "| --- | ---: | ---: |"
    assert len(lines) == 2 + len([i for i in results.items if i.outcome != "skipped"])
    finetune = next(line for line in lines if line.startswith("| finetune"))
    assert re.search(r"\| \*\*0\.910 ± 0\.\d+\*\* \|", finetune)
    assert all(line.count("|") == 4 for line in lines)


def test_every_figure_is_a_standalone_svg_document(tmp_path: Path) -> None:
    code = main(["run", "--preset", "fake", "--method", "finetune[epochs=1,lr=0.1]", "--epochs", "1", "--oracles", "3",
                 "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out"), "-q"])  # fmt: skip
    assert code == 0
    files = figure_files(load(tmp_path / "out" / "results.json"))
    assert "pareto.svg" in files and any(name.startswith("finetune_epochs=1_lr=0.1-") for name in files)
    for name, document in files.items():
        assert name.endswith(".svg") and "/" not in name
        root = ET.fromstring(document.split("?>", 1)[1])
        assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_the_command_writes_each_format_and_refuses_bad_columns(
    results: RunResults, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:  # fmt: skip
    path = tmp_path / "run" / "results.json"
    path.parent.mkdir()
    save(results, path)
    for fmt, name in (("latex", "results.tex"), ("csv", "results.csv"), ("markdown", "results.md")):
        assert main(["report", str(path), "--format", fmt]) == 0
        assert (path.parent / name).read_text().strip()
    assert main(["report", str(path), "--format", "svg"]) == 0
    assert (path.parent / "figures").is_dir()
    assert main(["report", str(path), "--format", "csv", "--columns", "simple_mia", "-o", str(tmp_path / "a.csv")]) == 0
    assert next(csv.reader(open(tmp_path / "a.csv")))[3:] == ["simple_mia", "simple_mia.ci_low", "simple_mia.ci_high",
                                                            "simple_mia.n"]  # fmt: skip
    capsys.readouterr()
    assert main(["report", str(path), "--format", "latex", "--columns", "nothing*"]) == 4
    err = capsys.readouterr().err
    assert "matches no column" in err and "Traceback" not in err


def test_each_figure_explanation_appears_once_and_every_caption_links_to_it(tmp_path: Path) -> None:
    """Captions once: a report with several methods explains each kind of figure in one place."""
    from unlearnbench.reporting.figures import FIGURE_GUIDES
    from unlearnbench.reporting.html import render_html

    code = main(["run", "--preset", "fake", "--method", "finetune[epochs=1,lr=0.1]", "--method",
                 "finetune[epochs=1,lr=0.01]", "--epochs", "1", "--oracles", "3", "--cache-dir", str(tmp_path / "c"),
                 "--output-dir", str(tmp_path / "out"), "-q"])  # fmt: skip
    assert code == 0
    html = render_html(load(tmp_path / "out" / "results.json"))
    from markupsafe import escape

    for kind, (_, text) in FIGURE_GUIDES.items():
        assert html.count(str(escape(text))) <= 1, kind
    assert html.count(str(escape(FIGURE_GUIDES["roc"][1]))) == 1
    assert html.count('href="#guide-roc"') >= 4  # the four items each link their ROC to it
    assert html.count('<th scope="row">data access</th>') == 4  # original, retrain and the two methods
    assert "n/a</th><td><span class=\"mono\">data access" not in html
