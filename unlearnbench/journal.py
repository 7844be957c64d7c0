"""The run journal: every finished item survives a crash, and a run continues where it stopped.

``RUN_DIR/journal.jsonl`` is append-only JSON Lines. The first line is a header (journal format, results
schema version, config hash, run id); every further line is one finished item: its fingerprint, the
seconds the run had been going when it finished and the item exactly as ``results.json`` stores it. Each
line is flushed and fsync'ed before the next item starts, so a ``kill -9`` loses at most the item in
flight; a torn last line is ignored when the journal is read back.

An item's fingerprint is the content key of everything its numbers depend on (the run's config hash, the
method's name, source and merged parameters, the replicate seeds, the oracle count and each selected
metric's name and source), so a journal entry is reused only for the very same computation. Items that
failed or errored are re-run on resume (a timeout or an out-of-memory error may not happen again).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from unlearnbench.cache import content_key, source_hash
from unlearnbench.config import Config, validate_options
from unlearnbench.errors import UsageError
from unlearnbench.registry import Entry, MetricSpec
from unlearnbench.results import (
    SCHEMA_VERSION,
    ItemResult,
    ResultsFormatError,
    RunResults,
    atomic_write_text,
    item_from_mapping,
    json_safe,
    load,
)

#: File name of the journal inside the run directory.
JOURNAL_NAME = "journal.jsonl"

#: Layout version of the journal lines; a journal of another format is started afresh.
JOURNAL_FORMAT = 1

#: Outcomes whose journal entries a resumed run keeps (the others are run again).
KEPT_OUTCOMES = ("passed", "skipped")


def item_fingerprint(
    config_hash: str,
    method: str,
    method_code: str,
    merged_params: Mapping[str, Any],
    seeds: Sequence[int],
    oracle_count: int,
    metrics: Sequence[tuple[str, str]],
) -> str:
    """Content key of one item's computation (``metrics`` is a sequence of (name, source hash))."""
    return content_key(
        {
            "config": config_hash,
            "method": method,
            "code": method_code,
            "params": dict(merged_params),
            "seeds": list(seeds),
            "oracles": oracle_count,
            "metrics": [list(m) for m in metrics],
        }
    )


def fingerprint_of(
    config: Config, entry: Entry, merged_params: Mapping[str, Any], specs: Sequence[MetricSpec], precision: str = "fp32"
) -> str:
    """:func:`item_fingerprint` of a session item (``entry`` a registry entry, ``specs`` the metric specs).

    ``precision`` is the session's resolved training precision: ``auto`` in the config can mean ``bf16`` on
    one machine and ``fp32`` on another, so a run resumed elsewhere never mixes the two. ``fp32`` leaves the
    fingerprint as it was before precision existed.
    """
    config_hash = config.config_hash()
    if precision != "fp32":
        config_hash = content_key({"config": config_hash, "precision": precision})
    return item_fingerprint(
        config_hash, entry.name, source_hash(entry.cls), merged_params, list(range(config.seeds)),
        config.oracles, [(spec.name, source_hash(spec.entry.cls)) for spec in specs],
    )  # fmt: skip


def item_to_dict(item: ItemResult) -> dict[str, Any]:
    """The item as ``results.json`` stores it (NaN and inf as null)."""
    cleaned: dict[str, Any] = json_safe(dataclasses.asdict(item))
    return cleaned


def item_from_dict(data: Mapping[str, Any]) -> ItemResult:
    """Inverse of :func:`item_to_dict`; :class:`ResultsFormatError` when malformed."""
    try:
        return item_from_mapping(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsFormatError(f"malformed item: {exc}") from None


@dataclass
class Recovered:
    """What a previous, unfinished session of the same run left behind."""

    run_id: str
    started_at: str
    #: Seconds the previous sessions ran (the latest of results.json and the journal).
    elapsed: float
    #: Fingerprint → finished item, for the outcomes in :data:`KEPT_OUTCOMES`.
    items: dict[str, ItemResult] = field(default_factory=dict)


def read_previous(run_dir: Path, config_hash: str, explicit: bool) -> Recovered | None:
    """The resumable state of ``run_dir``, or None when there is nothing to continue.

    A previous run is continued when ``explicit`` (``--resume``) or when it did not finish (killed:
    ``exit_status`` -1, or interrupted), and only when its config hash equals ``config_hash``.
    """
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        return None
    try:
        previous = load_results(results_path)
    except ResultsFormatError as exc:
        if explicit:
            raise UsageError(f"cannot resume {run_dir}: {exc}") from None
        return None
    unfinished = previous.exit_status == -1 or previous.interrupted
    if previous.config_hash != config_hash or not (explicit or unfinished):
        return None
    recovered = Recovered(previous.run_id, previous.started_at, previous.duration)
    for fingerprint, elapsed, item in _read_entries(run_dir / JOURNAL_NAME, config_hash):
        recovered.elapsed = max(recovered.elapsed, elapsed)
        if item.outcome in KEPT_OUTCOMES:
            recovered.items[fingerprint] = item
    return recovered


def _read_entries(path: Path, config_hash: str) -> list[tuple[str, float, ItemResult]]:
    """The journal's valid item lines; a missing, foreign or torn journal yields what is readable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    if not lines:
        return []
    try:
        header = json.loads(lines[0])
    except ValueError:
        return []
    if (
        not isinstance(header, dict)
        or header.get("journal") != JOURNAL_FORMAT
        or header.get("schema_version") != SCHEMA_VERSION
        or header.get("config_hash") != config_hash
    ):
        return []
    entries: list[tuple[str, float, ItemResult]] = []
    for line in lines[1:]:
        try:
            data = json.loads(line)
            entries.append((str(data["fingerprint"]), float(data["elapsed"]), item_from_dict(data["item"])))
        except (ValueError, KeyError, TypeError, ResultsFormatError):
            continue  # a line torn by a kill, or edited by hand: that item is simply run again
    return entries


class Journal:
    """The append-only journal of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL_NAME
        self._fh: TextIO | None = None

    def open(self, config_hash: str, run_id: str, keep: Mapping[str, tuple[float, ItemResult]]) -> None:
        """Start the journal afresh with a header and the entries in ``keep`` (fingerprint → entry).

        Rewriting (atomically) rather than appending drops torn lines and entries of failed items.
        """
        header = {"journal": JOURNAL_FORMAT, "schema_version": SCHEMA_VERSION, "config_hash": config_hash,
                  "run_id": run_id}  # fmt: skip
        lines = [json.dumps(header)]
        lines.extend(_line(fp, elapsed, item) for fp, (elapsed, item) in keep.items())
        try:
            atomic_write_text(self.path, "\n".join(lines) + "\n")
            self._fh = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the journal {self.path}: {exc.strerror or exc}") from None

    def append(self, fingerprint: str, elapsed: float, item: ItemResult) -> None:
        """Record a finished item durably (flush + fsync) before the run moves on."""
        if self._fh is None:
            raise RuntimeError("journal is not open")
        try:
            self._fh.write(_line(fingerprint, elapsed, item) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise UsageError(f"cannot write the journal {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _line(fingerprint: str, elapsed: float, item: ItemResult) -> str:
    return json.dumps(
        {"fingerprint": fingerprint, "elapsed": elapsed, "item": item_to_dict(item)}, allow_nan=False
    )


def load_results(path: Path) -> RunResults:
    """:func:`~unlearnbench.results.load`, with a hand-edited shape also a :class:`ResultsFormatError`."""
    try:
        return load(path)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ResultsFormatError):
            raise
        raise ResultsFormatError(f"{path}: malformed results: {type(exc).__name__}: {exc}") from None


def resume_options(run_dir: Path) -> tuple[dict[str, Any], RunResults]:
    """The validated config options stored in ``RUN_DIR/results.json`` (for ``--resume``), and the results.

    Refuses, with one line, a run dir without results.json, a results.json of another schema version or
    one whose config does not parse.
    """
    path = run_dir / "results.json"
    if not run_dir.is_dir():
        raise UsageError(f"--resume: {run_dir} is not a run directory")
    if not path.is_file():
        raise UsageError(f"--resume: {path} does not exist; nothing to resume")
    try:
        previous = load_results(path)
    except ResultsFormatError as exc:
        raise UsageError(f"--resume: {exc}") from None
    if not isinstance(previous.config, dict):
        raise UsageError(f"--resume: {path}: 'config' must be an object")
    options = validate_options(previous.config, f"{path} (config)")
    options.pop("collect_only", None)
    return options, previous
