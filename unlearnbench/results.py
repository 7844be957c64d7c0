"""Results as frozen dataclasses with a JSON round-trip, and the derived numbers as pure functions.

``results.json`` is the canonical artifact of a run: every reporter (terminal table, HTML) renders from a
:class:`RunResults` alone, so ``unlearnbench report results.json`` re-renders without re-running.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

#: Version of the results.json layout; readers refuse other major versions.
SCHEMA_VERSION = 1

Outcome = Literal["passed", "failed", "error", "skipped"]
OUTCOMES: tuple[str, ...] = ("passed", "failed", "error", "skipped")

#: Rows every run has, evaluated before any method item.
REFERENCE_METHODS: tuple[str, ...] = ("original", "retrain")


#: Kinds of interval a :class:`Summary` carries (``Summary.interval``).
INTERVAL_T = "t95"  # Student-t over replicate seeds
INTERVAL_BOOTSTRAP = "bootstrap95"  # percentile bootstrap over examples (population metrics)
INTERVAL_PAIRED = "paired-t95"  # Student-t of per-seed differences to the retrain row
INTERVAL_KINDS: tuple[str, ...] = (INTERVAL_T, INTERVAL_BOOTSTRAP, INTERVAL_PAIRED)


@dataclass(frozen=True)
class Summary:
    """A value with its two-sided 95 % interval (None where undefined, e.g. n < 2).

    ``interval`` says which interval it is (:data:`INTERVAL_KINDS`); None where there is none. Files
    written before the field existed read back as ``"t95"`` when they have bounds.
    """

    mean: float
    ci_low: float | None
    ci_high: float | None
    n: int
    std: float | None = None
    interval: str | None = None

    @property
    def half_width(self) -> float | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_high - self.ci_low) / 2.0


@dataclass(frozen=True)
class Column:
    """One column of the results table: ``key`` is ``metric`` or ``metric.sub``."""

    key: str
    label: str
    metric: str
    higher_is_better: bool | None
    scope: str = "model"
    description: str = ""


@dataclass(frozen=True)
class SeedResult:
    """The per-seed values of one item."""

    seed: int
    values: dict[str, float]
    unlearn_seconds: float
    cached: bool = False


@dataclass(frozen=True)
class ItemResult:
    """Everything measured for one collected item (a method at one parameter point)."""

    item_id: str
    method: str
    params: dict[str, Any]
    description: str
    outcome: Outcome
    seeds: tuple[SeedResult, ...] = ()
    #: Population-metric values (one per column, computed from all replicates).
    population: dict[str, float] = field(default_factory=dict)
    #: Per column: mean ± CI over seeds (model scope) or the single value (population scope).
    summary: dict[str, Summary] = field(default_factory=dict)
    #: Per metric name (or "unlearn"): a short error message and traceback.
    errors: dict[str, str] = field(default_factory=dict)
    duration: float = 0.0
    skip_reason: str = ""
    #: Per metric name: why it does not apply to this run (shown as "n/a", not an error).
    notes: dict[str, str] = field(default_factory=dict)
    #: Small JSON-able data behind the report's pictures (histograms, ROC points, per-class accuracy, ε).
    diagnostics: dict[str, Any] = field(default_factory=dict)
    #: Per model-scope column: mean ± paired t-interval of (this item − the ``retrain`` row) over the
    #: replicate seeds both have (see :func:`paired_to_reference`); empty for the reference rows.
    paired: dict[str, Summary] = field(default_factory=dict)

    @property
    def is_reference(self) -> bool:
        return self.method in REFERENCE_METHODS and not self.params


@dataclass(frozen=True)
class RunResults:
    """A whole run: provenance, columns and items."""

    run_id: str
    command: str
    config: dict[str, Any]
    config_hash: str
    seeds: tuple[int, ...]
    oracle_seeds: tuple[int, ...]
    versions: dict[str, str]
    device: str
    git_commit: str
    started_at: str
    duration: float
    columns: tuple[Column, ...]
    items: tuple[ItemResult, ...]
    dataset: dict[str, Any] = field(default_factory=dict)
    exit_status: int = 0
    interrupted: bool = False
    schema_version: int = SCHEMA_VERSION
    #: Peak memory per phase (see :mod:`unlearnbench.resources`); empty in files written before it existed.
    resources: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of items per outcome."""
        out = {name: 0 for name in OUTCOMES}
        for item in self.items:
            out[item.outcome] += 1
        return out

    def item(self, item_id: str) -> ItemResult:
        for item in self.items:
            if item.item_id == item_id:
                return item
        raise KeyError(item_id)


# --------------------------------------------------------------------------- statistics

_T975 = {
    1: 12.706204736, 2: 4.302652730, 3: 3.182446305, 4: 2.776445105, 5: 2.570581836,
    6: 2.446911851, 7: 2.364624252, 8: 2.306004135, 9: 2.262157163, 10: 2.228138852,
}  # fmt: skip


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError("degrees of freedom must be >= 1")
    if dof in _T975:
        return _T975[dof]
    from scipy import special  # stats.t.ppf's own kernel, without importing scipy.stats

    return float(special.stdtrit(dof, 0.975))


def summarise(values: Sequence[float]) -> Summary:
    """Mean ± 95 % CI of replicate values.

    The interval is Student's t (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n): replicate seeds are few (3–10) and their
    values roughly normal, where a bootstrap would under-cover. With one value the interval is None.
    NaN values are not allowed here; the runner turns them into error cells first.
    """
    clean = [float(v) for v in values]
    n = len(clean)
    if n == 0:
        raise ValueError("cannot summarise zero values")
    mean = math.fsum(clean) / n
    if n == 1:
        return Summary(mean=mean, ci_low=None, ci_high=None, n=1, std=None)
    var = math.fsum((v - mean) ** 2 for v in clean) / (n - 1)
    std = math.sqrt(var)
    half = t_quantile_975(n - 1) * std / math.sqrt(n)
    return Summary(mean=mean, ci_low=mean - half, ci_high=mean + half, n=n, std=std, interval=INTERVAL_T)


def paired_to_reference(item: ItemResult, reference: ItemResult) -> dict[str, Summary]:
    """Per column both have per seed: mean ± 95 % t-interval of item(seed s) − reference(seed s).

    Seeds are matched by replicate index s; columns or seeds missing on either side are left out, and a
    column needs at least one common seed. The reference rows themselves get nothing. Pairing keeps
    whatever the two rows share through the replicate index (the split, the original model, the
    evaluation data, and the seed where a method draws on it) out of the difference's variance; where
    they share nothing the interval is as wide as an unpaired one would be, and still valid.
    """
    if item.is_reference or item.outcome == "skipped":
        return {}
    theirs = {s.seed: s.values for s in reference.seeds}
    columns: list[str] = []
    for s in item.seeds:
        columns.extend(k for k in s.values if k not in columns)
    out: dict[str, Summary] = {}
    for column in columns:
        diffs = [
            s.values[column] - theirs[s.seed][column]
            for s in item.seeds
            if column in s.values and column in theirs.get(s.seed, {})
        ]
        if diffs:
            base = summarise(diffs)
            out[column] = Summary(
                mean=base.mean, ci_low=base.ci_low, ci_high=base.ci_high, n=base.n, std=base.std,
                interval=INTERVAL_PAIRED if base.ci_low is not None else None,
            )  # fmt: skip
    return out


def gap_to_oracle(results: RunResults, item_id: str, column: str) -> float | None:
    """Mean of ``item`` minus mean of the ``retrain`` row in ``column`` (None where either is missing)."""
    try:
        item = results.item(item_id)
        oracle = results.item("retrain")
    except KeyError:
        return None
    a, b = item.summary.get(column), oracle.summary.get(column)
    if a is None or b is None:
        return None
    return a.mean - b.mean


def best_per_column(results: RunResults, include_reference: bool = False) -> dict[str, set[str]]:
    """For each ranked column, the ids of the items with the best mean (ties all marked).

    Reference rows are excluded by default: ``original`` and ``retrain`` are anchors, not contestants.
    """
    best: dict[str, set[str]] = {}
    for column in results.columns:
        if column.higher_is_better is None:
            continue
        candidates = [
            (item.summary[column.key].mean, item.item_id)
            for item in results.items
            if column.key in item.summary
            and (include_reference or not item.is_reference)
            and math.isfinite(item.summary[column.key].mean)
        ]
        if not candidates:
            continue
        values = [v for v, _ in candidates]
        target = max(values) if column.higher_is_better else min(values)
        best[column.key] = {i for v, i in candidates if math.isclose(v, target, rel_tol=1e-12, abs_tol=1e-12)}
    return best


# --------------------------------------------------------------------------- JSON


class ResultsFormatError(ValueError):
    """A results.json that this version cannot read."""


def to_dict(results: RunResults) -> dict[str, Any]:
    """Plain JSON-able dict (NaN and inf become None)."""
    return json_safe(asdict(results))


def json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def from_dict(data: Mapping[str, Any]) -> RunResults:
    """Inverse of :func:`to_dict`; raises :class:`ResultsFormatError` on anything malformed."""
    if not isinstance(data, Mapping):
        raise ResultsFormatError("results must be a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsFormatError(
            f"results schema version {version!r} is not supported (this unlearnbench reads {SCHEMA_VERSION})"
        )
    try:
        columns = tuple(Column(**c) for c in data["columns"])
        items = tuple(item_from_mapping(i) for i in data["items"])
        fields = {k: v for k, v in data.items() if k not in ("columns", "items")}
        fields["seeds"] = tuple(int(s) for s in fields["seeds"])
        fields["oracle_seeds"] = tuple(int(s) for s in fields["oracle_seeds"])
        return RunResults(columns=columns, items=items, **fields)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsFormatError(f"malformed results: {exc}") from None


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def item_from_mapping(d: Mapping[str, Any]) -> ItemResult:
    if d["outcome"] not in OUTCOMES:
        raise ValueError(f"unknown outcome {d['outcome']!r}")
    seeds = tuple(
        SeedResult(
            seed=int(s["seed"]),
            values={k: _num(v) for k, v in s["values"].items()},
            unlearn_seconds=_num(s["unlearn_seconds"]),
            cached=bool(s.get("cached", False)),
        )
        for s in d.get("seeds", ())
    )
    summary = {k: _summary_from_dict(v) for k, v in d.get("summary", {}).items()}
    paired = {k: _summary_from_dict(v) for k, v in d.get("paired", {}).items()}
    return ItemResult(
        item_id=str(d["item_id"]),
        method=str(d["method"]),
        params=dict(d.get("params", {})),
        description=str(d.get("description", "")),
        outcome=d["outcome"],
        seeds=seeds,
        population={k: _num(v) for k, v in d.get("population", {}).items()},
        summary=summary,
        errors={str(k): str(v) for k, v in d.get("errors", {}).items()},
        duration=float(d.get("duration", 0.0)),
        skip_reason=str(d.get("skip_reason", "")),
        notes={str(k): str(v) for k, v in d.get("notes", {}).items()},
        diagnostics=dict(d.get("diagnostics", {})),
        paired=paired,
    )


def _summary_from_dict(v: Mapping[str, Any]) -> Summary:
    low = None if v.get("ci_low") is None else float(v["ci_low"])
    high = None if v.get("ci_high") is None else float(v["ci_high"])
    kind = v.get("interval")
    if kind is None and low is not None:
        kind = INTERVAL_T  # written before intervals were labelled: only the t-interval existed then
    if kind is not None and kind not in INTERVAL_KINDS:
        raise ValueError(f"unknown interval kind {kind!r}")
    return Summary(
        mean=_num(v["mean"]), ci_low=low, ci_high=high, n=int(v["n"]),
        std=None if v.get("std") is None else float(v["std"]), interval=kind,
    )  # fmt: skip


def dumps(results: RunResults) -> str:
    return json.dumps(to_dict(results), indent=2, sort_keys=False, allow_nan=False)


def load(path: str | os.PathLike[str]) -> RunResults:
    """Read a results.json; malformed JSON raises :class:`ResultsFormatError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultsFormatError(f"{path} is not valid JSON: {exc}") from None
    return from_dict(data)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, fsync, rename, fsync the folder.

    The one atomic write of the package (results.json, the journal, the report, every cache entry): a
    reader sees the old file or the new one, never a torn one; the temp file goes if the write fails.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; not every platform can open a directory, which is harmless."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(results: RunResults, path: str | os.PathLike[str]) -> None:
    atomic_write_text(path, dumps(results))


def seed_values(item: ItemResult, column: str) -> list[float]:
    """The per-seed values of one column (empty for population columns)."""
    return [s.values[column] for s in item.seeds if column in s.values]


def columns_of(results: RunResults, metric: str) -> Iterable[Column]:
    return (c for c in results.columns if c.metric == metric)
