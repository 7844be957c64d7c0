"""Published tables and the verdict of a run against them: cell by cell, orderings, rankings, regime.

A *reproduction* is a versioned data file ``unlearnbench/reproductions/<name>.json`` (format
:data:`FORMAT`): the protocol's source (paper, table, reference repository and commit), the preset that
runs it, its expected cost, what deviates from the paper, and the published numbers, each cell with its
own source and tolerance. :func:`judge` compares a finished run with it:

* a **cell** holds when ``|ours − published| ≤ tolerance`` (in the published unit); a cell the run does not
  have fails (``missing``);
* an **ordering** the paper claims (e.g. "the original's forget error is below the retrained model's")
  holds when our means are in that order;
* a **ranking** holds when Spearman's ρ between the published and our values of one column over the
  named rows reaches its ``min_rho``;
* a **regime check** says whether the run is in the regime that makes the table meaningful (e.g. the
  original fits its training data); when one fails, the verdict says so and does not pass.

The verdict passes only when every check holds; ``unlearnbench reproduce`` exits 0 only then.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from unlearnbench.errors import UsageError
from unlearnbench.results import RunResults, Summary

__all__ = [
    "FORMAT", "Cell", "CellVerdict", "Check", "CheckVerdict", "Ordering", "OrderingVerdict", "Ranking",
    "RankingVerdict", "Reproduction", "Verdict", "available", "judge", "load_reproduction", "parse_reproduction",
    "reproduction_for_preset", "spearman_rho",
]  # fmt: skip

#: Version of the data files' layout.
FORMAT = 1
_UNITS = {"fraction": 1.0, "percent": 100.0}
_QUANTITIES = ("value", "error")
_OPERATORS = (">=", "<=")


@dataclass(frozen=True)
class Cell:
    """One published number: row and column as the paper names them, where ours is, and its tolerance."""

    row: str
    column: str
    item: str
    key: str
    published: float
    tolerance: float
    source: str
    #: ``"value"``: our column as it is; ``"error"``: one minus it (an accuracy read as an error).
    quantity: str = "value"
    #: ``"fraction"`` or ``"percent"``: the published unit; ours is scaled to it.
    unit: str = "fraction"


@dataclass(frozen=True)
class Ordering:
    """A claim of the paper: ``items`` in this order of ``key`` (``descending``: the first is the largest)."""

    claim: str
    key: str
    items: tuple[str, ...]
    descending: bool
    source: str
    quantity: str = "value"


@dataclass(frozen=True)
class Ranking:
    """Spearman's ρ between the published and our values of the cells of ``column`` must reach ``min_rho``."""

    column: str
    min_rho: float
    source: str


@dataclass(frozen=True)
class Check:
    """A condition on the run itself (``ours op value``) without which the table says nothing."""

    item: str
    key: str
    op: str
    value: float
    why: str
    quantity: str = "value"


@dataclass(frozen=True)
class Reproduction:
    """A published table and the protocol that reproduces it."""

    name: str
    title: str
    paper: str
    table: str
    repository: str
    commit: str
    preset: str
    cost: Mapping[str, str]
    deviations: tuple[str, ...]
    cells: tuple[Cell, ...]
    orderings: tuple[Ordering, ...] = ()
    rankings: tuple[Ranking, ...] = ()
    regime: tuple[Check, ...] = ()
    version: int = 1


@dataclass(frozen=True)
class CellVerdict:
    """One cell: the published value, ours (with its 95 % interval) in the published unit, and the verdict."""

    cell: Cell
    ours: float | None
    low: float | None
    high: float | None

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else self.ours - self.cell.published

    @property
    def holds(self) -> bool:
        diff = self.difference
        return diff is not None and abs(diff) <= self.cell.tolerance + 1e-12


@dataclass(frozen=True)
class OrderingVerdict:
    """One ordering: our means in the claimed order (None where an item is missing)."""

    ordering: Ordering
    values: tuple[float | None, ...]

    @property
    def holds(self) -> bool:
        if any(v is None for v in self.values):
            return False
        values = [float(v) for v in self.values if v is not None]
        pairs = zip(values, values[1:])
        return all(a > b for a, b in pairs) if self.ordering.descending else all(a < b for a, b in pairs)


@dataclass(frozen=True)
class RankingVerdict:
    """Spearman's ρ of one column (None when fewer than two rows have both values)."""

    ranking: Ranking
    rho: float | None
    rows: int

    @property
    def holds(self) -> bool:
        return self.rho is not None and self.rho >= self.ranking.min_rho


@dataclass(frozen=True)
class CheckVerdict:
    """One regime check and our value."""

    check: Check
    ours: float | None

    @property
    def holds(self) -> bool:
        if self.ours is None:
            return False
        return self.ours >= self.check.value if self.check.op == ">=" else self.ours <= self.check.value


@dataclass(frozen=True)
class Verdict:
    """Every check of one run against one reproduction."""

    reproduction: Reproduction
    cells: tuple[CellVerdict, ...]
    orderings: tuple[OrderingVerdict, ...] = ()
    rankings: tuple[RankingVerdict, ...] = ()
    regime: tuple[CheckVerdict, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: What the run used where the protocol leaves a choice (e.g. which backbone), one line each.
    context: tuple[str, ...] = field(default_factory=tuple)

    @property
    def in_regime(self) -> bool:
        return all(c.holds for c in self.regime)

    @property
    def passed(self) -> bool:
        counts = self.counts().values()
        return sum(total for _, total in counts) > 0 and all(held == total for held, total in counts)

    def counts(self) -> dict[str, tuple[int, int]]:
        """(held, total) per kind of check."""
        kinds: dict[str, Sequence[CellVerdict | OrderingVerdict | RankingVerdict | CheckVerdict]] = {
            "cells": self.cells, "orderings": self.orderings, "rankings": self.rankings, "regime": self.regime,
        }  # fmt: skip
        return {kind: (sum(1 for c in checks if c.holds), len(checks)) for kind, checks in kinds.items()}


# --------------------------------------------------------------------------- reading the data files


def available() -> list[str]:
    """The names of the reproductions shipped with the package, sorted."""
    folder = resources.files("unlearnbench").joinpath("reproductions")
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def load_reproduction(name: str) -> Reproduction:
    """The shipped reproduction ``name``; an unknown name is a usage error listing the known ones."""
    if name not in available():
        raise UsageError(f"unknown reproduction {name!r}; known: {', '.join(available()) or 'none'}")
    text = resources.files("unlearnbench").joinpath("reproductions", f"{name}.json").read_text(encoding="utf-8")
    return parse_reproduction(json.loads(text), name)


def reproduction_for_preset(preset: str | None) -> Reproduction | None:
    """The shipped reproduction that the preset ``preset`` runs, if any (a report shows its verdict)."""
    if not preset:
        return None
    return next((r for r in map(load_reproduction, available()) if r.preset == preset), None)


def parse_reproduction(data: Mapping[str, Any], where: str) -> Reproduction:
    """A :class:`Reproduction` from a data file's mapping; a malformed file is a usage error naming it."""
    try:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        return Reproduction(
            name=str(data["name"]), title=str(data["title"]), paper=str(data["paper"]), table=str(data["table"]),
            repository=str(data["repository"]), commit=str(data["commit"]), preset=str(data["preset"]),
            cost={str(k): str(v) for k, v in data.get("cost", {}).items()},
            deviations=tuple(str(d) for d in data.get("deviations", ())),
            cells=tuple(_cell(c) for c in data["cells"]),
            orderings=tuple(_ordering(o) for o in data.get("orderings", ())),
            rankings=tuple(_ranking(r) for r in data.get("rankings", ())),
            regime=tuple(_check(c) for c in data.get("regime", ())), version=int(data.get("version", 1)),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"reproduction {where}: malformed data file: {exc}") from None


def _cell(data: Mapping[str, Any]) -> Cell:
    cell = Cell(
        row=str(data["row"]), column=str(data["column"]), item=str(data["item"]), key=str(data["key"]),
        published=float(data["published"]), tolerance=float(data["tolerance"]), source=str(data["source"]),
        quantity=str(data.get("quantity", "value")), unit=str(data.get("unit", "fraction")),
    )  # fmt: skip
    if cell.quantity not in _QUANTITIES or cell.unit not in _UNITS or cell.tolerance < 0:
        raise ValueError(f"cell {cell.row}/{cell.column}: bad quantity, unit or tolerance")
    return cell


def _ordering(data: Mapping[str, Any]) -> Ordering:
    items = tuple(str(i) for i in data["items"])
    if len(items) < 2:
        raise ValueError(f"ordering {data.get('claim')!r} needs two items or more")
    return Ordering(
        claim=str(data["claim"]), key=str(data["key"]), items=items, descending=bool(data["descending"]),
        source=str(data["source"]), quantity=str(data.get("quantity", "value")),
    )  # fmt: skip


def _ranking(data: Mapping[str, Any]) -> Ranking:
    return Ranking(str(data["column"]), float(data["min_rho"]), str(data["source"]))


def _check(data: Mapping[str, Any]) -> Check:
    check = Check(
        item=str(data["item"]), key=str(data["key"]), op=str(data["op"]), value=float(data["value"]),
        why=str(data["why"]), quantity=str(data.get("quantity", "value")),
    )  # fmt: skip
    if check.op not in _OPERATORS:
        raise ValueError(f"regime check {check.item}/{check.key}: op must be one of {', '.join(_OPERATORS)}")
    return check


# --------------------------------------------------------------------------- judging a run


def judge(reproduction: Reproduction, results: RunResults) -> Verdict:
    """Every cell, ordering, ranking and regime check of ``reproduction`` against ``results``."""
    cells = tuple(_judge_cell(cell, results) for cell in reproduction.cells)
    orderings = tuple(
        OrderingVerdict(o, tuple(_mean(results, item, o.key, o.quantity) for item in o.items))
        for o in reproduction.orderings
    )
    rankings = tuple(_judge_ranking(r, cells) for r in reproduction.rankings)
    regime = tuple(CheckVerdict(c, _mean(results, c.item, c.key, c.quantity)) for c in reproduction.regime)
    notes = tuple(f"regime: {v.check.why}" for v in regime if not v.holds)
    context = tuple(line for line in (backbone_line(results.config, results.dataset),) if line)
    return Verdict(reproduction, cells, orderings, rankings, regime, notes, context)


def backbone_line(config: Mapping[str, Any], dataset: Mapping[str, Any] | None = None) -> str | None:
    """Which pre-trained backbone a run's models started from (its dataset, classes and epochs) and where its
    weights came from (``dataset["backbone"]`` of results.json: shipped, cached or trained), or None."""
    table = config.get("backbone") or {}
    if not isinstance(table, Mapping) or not table.get("dataset"):
        return None
    options = table.get("dataset_options") or {}
    classes = options.get("classes") if isinstance(options, Mapping) else None
    data = f"{table['dataset']}" + (f" classes {classes}" if classes is not None else "")
    epochs = table.get("epochs")
    line = f"backbone: pre-trained on {data}" + (f" for {epochs} epochs" if epochs is not None else "")
    origin = (dataset or {}).get("backbone")
    return line + _origin_text(origin) if isinstance(origin, Mapping) else line


def _origin_text(origin: Mapping[str, Any]) -> str:
    source = origin.get("source")
    if source == "shipped":
        return f"; shipped weights {origin.get('file')} (sha256 {str(origin.get('sha256', ''))[:12]}…)"
    if source == "cache":
        return "; weights from the cache (trained earlier on this cache's machine)"
    if source == "trained":
        return "; weights trained by this run"
    return ""


def _summary(results: RunResults, item_id: str, key: str) -> Summary | None:
    item = next((i for i in results.items if i.item_id == item_id), None)
    return None if item is None else item.summary.get(key)


def _as_quantity(value: float, quantity: str) -> float:
    return 1.0 - value if quantity == "error" else value


def _mean(results: RunResults, item_id: str, key: str, quantity: str) -> float | None:
    summary = _summary(results, item_id, key)
    if summary is None or not math.isfinite(summary.mean):
        return None
    return _as_quantity(summary.mean, quantity)


def _judge_cell(cell: Cell, results: RunResults) -> CellVerdict:
    summary = _summary(results, cell.item, cell.key)
    if summary is None or not math.isfinite(summary.mean):
        return CellVerdict(cell, None, None, None)
    scale = _UNITS[cell.unit]
    ours = _as_quantity(summary.mean, cell.quantity) * scale
    bounds = [b for b in (summary.ci_low, summary.ci_high) if b is not None]
    if len(bounds) < 2:
        return CellVerdict(cell, ours, None, None)
    ends = sorted(_as_quantity(b, cell.quantity) * scale for b in bounds)  # "error" flips the interval
    return CellVerdict(cell, ours, ends[0], ends[1])


def _judge_ranking(ranking: Ranking, cells: Sequence[CellVerdict]) -> RankingVerdict:
    pairs = [(v.cell.published, v.ours) for v in cells if v.cell.column == ranking.column and v.ours is not None]
    published = [p for p, _ in pairs]
    ours = [float(o) for _, o in pairs if o is not None]
    return RankingVerdict(ranking, spearman_rho(published, ours), len(pairs))


def spearman_rho(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation of ``a`` and ``b`` (average ranks for ties); None below two pairs or
    when either side is constant."""
    if len(a) != len(b) or len(a) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var_a = sum((x - ma) ** 2 for x in ra)
    var_b = sum((y - mb) ** 2 for y in rb)
    if var_a == 0 or var_b == 0:
        return None
    return cov / math.sqrt(var_a * var_b)


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks
