"""A reproduction's verdict as rows of text, shared by the terminal and the HTML report.

Each row is one check: a published cell (published value, ours with its 95 % interval, the difference,
the tolerance, ✔ or ✘), an ordering the paper claims, a ranking (Spearman's ρ) or a regime check.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnbench.reproduction import CellVerdict, Verdict

__all__ = ["HOLDS", "VerdictRow", "verdict_headline", "verdict_rows"]

#: The marks of a check that holds and one that does not.
HOLDS, FAILS = "✔", "✘"


@dataclass(frozen=True)
class VerdictRow:
    """One check of a verdict, every cell as text."""

    kind: str
    what: str
    published: str
    ours: str
    difference: str
    tolerance: str
    mark: str
    source: str

    @property
    def holds(self) -> bool:
        return self.mark == HOLDS


def _number(value: float | None, digits: int = 3) -> str:
    return "missing" if value is None else f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}f}"


def _digits(cell: CellVerdict) -> int:
    return 1 if cell.cell.unit == "percent" else 3


def _cell_row(verdict: CellVerdict) -> VerdictRow:
    digits = _digits(verdict)
    ours = _number(verdict.ours, digits)
    if verdict.low is not None and verdict.high is not None:
        ours += f" [{verdict.low:.{digits}f}, {verdict.high:.{digits}f}]"
    difference = "" if verdict.difference is None else f"{verdict.difference:+.{digits}f}"
    cell = verdict.cell
    return VerdictRow(
        "cell", f"{cell.row} · {cell.column}", f"{cell.published:.{digits}f}", ours, difference,
        f"±{cell.tolerance:g}", HOLDS if verdict.holds else FAILS, cell.source,
    )  # fmt: skip


def verdict_rows(verdict: Verdict) -> list[VerdictRow]:
    """Every check of ``verdict``: regime first (it decides whether the rest means anything), then cells,
    orderings and rankings."""
    rows = [
        VerdictRow("regime", f"{c.check.item} · {c.check.key} {c.check.op} {c.check.value:g}", "", _number(c.ours),
                   "", "", HOLDS if c.holds else FAILS, c.check.why)
        for c in verdict.regime
    ]  # fmt: skip
    rows += [_cell_row(c) for c in verdict.cells]
    rows += [
        VerdictRow("ordering", o.ordering.claim, " > ".join(o.ordering.items) if o.ordering.descending
                   else " < ".join(o.ordering.items), " , ".join(_number(v) for v in o.values), "", "",
                   HOLDS if o.holds else FAILS, o.ordering.source)
        for o in verdict.orderings
    ]  # fmt: skip
    rows += [
        VerdictRow("ranking", f"Spearman ρ of {r.ranking.column} ({r.rows} rows)", f"≥ {r.ranking.min_rho:g}",
                   _number(r.rho), "", "", HOLDS if r.holds else FAILS, r.ranking.source)
        for r in verdict.rankings
    ]  # fmt: skip
    return rows


def verdict_headline(verdict: Verdict) -> str:
    """One line: reproduced or not, with the counts of each kind of check."""
    counts = ", ".join(f"{held}/{total} {kind}" for kind, (held, total) in verdict.counts().items() if total)
    if not verdict.in_regime:
        return f"{FAILS} not in the published regime, no verdict on the table ({counts})"
    return f"{HOLDS if verdict.passed else FAILS} {verdict.reproduction.name}: " + (
        f"reproduced ({counts})" if verdict.passed else f"not reproduced ({counts})"
    )
