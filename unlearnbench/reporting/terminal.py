"""The terminal reporter: pytest-like sections, live progress bars, per-item lines, the results table.

This is the only module of unlearnbench that imports rich. Every string that comes from a plugin (item
ids, descriptions, error messages) is printed as a :class:`rich.text.Text`, never parsed as markup, so a
``[`` in a parameter value cannot break or restyle the output.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from unlearnbench.hookspec import hookimpl
from unlearnbench.reporting import (
    BEST_MARKER,
    Cell,
    ambiguous_labels,
    direction_symbol,
    format_duration,
    seed_word,
    short_error,
    summary_line,
    summary_text,
    table_cells,
)
from unlearnbench.reporting.verdict import verdict_headline, verdict_rows
from unlearnbench.reproduction import Verdict
from unlearnbench.results import ItemResult, RunResults

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "OUTCOME_STYLES",
    "TerminalReporter",
    "print_dataset_statistics",
    "print_error",
    "print_listing",
    "render_table",
    "render_tables",
    "summary_line",
]

#: Colour of each outcome, for item lines, row labels and the summary line.
OUTCOME_STYLES: dict[str, str] = {
    "passed": "green",
    "failed": "red",
    "error": "red",
    "skipped": "yellow",
}


def _outcome_text(outcome: str) -> Text:
    return Text(outcome.upper(), style=f"bold {OUTCOME_STYLES.get(outcome, 'white')}")


def _header(label: str, metric: str, direction: str, ambiguous: bool) -> Text:
    text = Text(label, style="bold")
    if direction:
        text.append(f" {direction}", style="dim")
    if ambiguous:
        text.append(f"\n{metric}", style="dim")
    return text


_LEGEND = f"{BEST_MARKER} best per column (original and retrain excluded); ↑/↓ higher/lower is better"


def render_table(
    results: RunResults, columns: Sequence[int] | None = None, continued: bool = False, caption: bool = True,
    rows: list[tuple[ItemResult, list[Cell]]] | None = None,
) -> Table:  # fmt: skip
    """The results table: reference rows first, one column per result column, best values marked.

    Cells read ``mean ± 95 % half-width``; population values and single seeds have no ±. The best
    value of each ranked column (reference rows excluded) is bold green and preceded by ``*``.
    ``columns`` selects result columns by index (default: all); ``continued`` titles a later part of a
    table split by :func:`render_tables`, where only the last part carries the ``caption`` (the legend).
    ``rows`` are the :func:`table_cells` of ``results`` when the caller has them already (formatting every
    cell once, not once per part).
    """
    chosen = list(range(len(results.columns))) if columns is None else list(columns)
    title = (
        "results (continued)"
        if continued
        else f"results: mean ± 95 % CI over {seed_word(len(results.seeds))}"
    )
    table = Table(
        title=title,
        caption=_LEGEND if caption else None,
        caption_justify="left",
        header_style="bold",
    )
    # Cells fold rather than crop where even one column cannot fit: a number is never cut short.
    table.add_column("item", overflow="fold", min_width=min(_label_width(results), 28))
    ambiguous = ambiguous_labels(results.columns)
    for index in chosen:
        column = results.columns[index]
        table.add_column(
            _header(column.label, column.metric, direction_symbol(column), column.label in ambiguous),
            justify="right",
            overflow="fold",
        )
    rows = table_cells(results) if rows is None else rows
    for position, (item, cells) in enumerate(rows):
        label = Text(item.item_id, style="bold" if item.is_reference else "")
        if item.outcome != "passed":
            label.append(" ")
            label.append(_outcome_text(item.outcome))
        rendered: list[Text] = [label]
        for cell in (cells[i] for i in chosen):
            if cell.kind == "error":
                rendered.append(Text("error", style="red"))
            elif cell.kind in ("missing", "na"):
                rendered.append(Text(cell.text, style="dim"))
            elif cell.best:
                rendered.append(Text(f"{BEST_MARKER} {cell.text}", style="bold green"))
            else:
                rendered.append(Text(cell.text))
        next_is_method = position + 1 < len(rows) and not rows[position + 1][0].is_reference
        table.add_row(*rendered, end_section=item.is_reference and next_is_method)
    return table


def _label_width(results: RunResults) -> int:
    widths = [
        len(item.item_id) + (0 if item.outcome == "passed" else len(item.outcome) + 1)
        for item in results.items
    ]
    return max([4, *widths])


def _column_widths(results: RunResults, table: list[tuple[ItemResult, list[Cell]]]) -> list[int]:
    """The width each result column needs on one line (header and every cell of ``table``)."""
    ambiguous = ambiguous_labels(results.columns)
    rows = [cells for _, cells in table]
    widths = []
    for index, column in enumerate(results.columns):
        need = len(column.label) + (2 if direction_symbol(column) else 0)
        if column.label in ambiguous:
            need = max(need, len(column.metric))
        for cells in rows:
            cell = cells[index]
            need = max(need, len(cell.text) + (len(BEST_MARKER) + 1 if cell.best else 0))
        widths.append(need)
    return widths


def render_ranking(results: RunResults, limit: int = 10, quantities: Sequence[str] | None = None) -> Table | None:
    """The ranking by distance to retraining (:mod:`unlearnbench.reporting.ranking`), best ``limit`` first."""
    from unlearnbench.reporting.ranking import distance_text, quantity_text, rank, tie_text

    ranking = rank(results, quantities)
    if ranking is None or not ranking.items:
        return None
    shown = ranking.items[:limit]
    more = f"; {len(ranking.items) - limit} more in the report" if len(ranking.items) > limit else ""
    table = Table(
        title="Ranking: distance to retraining (lower is better)",
        caption=f"mean |method − retrain| over {quantity_text(ranking)}, per seed, 95 % t-interval; ≈: not "
        f"significantly different from the row above, by a {ranking.test}{more}",
        title_justify="left", caption_justify="left",
    )  # fmt: skip
    table.add_column("#", justify="right")
    table.add_column("method", overflow="fold")
    table.add_column("distance [95 %]", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("TA", justify="right")
    table.add_column("seconds", justify="right")
    for index, item in enumerate(shown, start=1):
        table.add_row(
            str(index), escape(item.item_id), distance_text(item), tie_text(item),
            "—" if item.test_accuracy is None else f"{item.test_accuracy:.3f}",
            "—" if item.seconds is None else f"{item.seconds:.2f}",
        )  # fmt: skip
    if ranking.original is not None:
        table.add_row("", Text("original (does nothing)", style="dim"), Text(distance_text(ranking.original),
                      style="dim"), "", "", "")  # fmt: skip
    return table


def render_tables(results: RunResults, width: int) -> list[Table]:
    """:func:`render_table` split into consecutive column groups that each fit ``width`` characters.

    A table of 15 metrics does not fit an 80-column terminal or CI log; folding every cell into a
    stack of digit fragments is unreadable, so the columns continue in a second table instead.
    """
    if not results.columns:
        return [render_table(results)]
    # Each column costs its content, one space of padding either side and a border.
    budget = width - (min(_label_width(results), 28) + 4)
    rows = table_cells(results)
    groups: list[list[int]] = [[]]
    used = 0
    for index, need in enumerate(_column_widths(results, rows)):
        cost = need + 3
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += cost
    last = len(groups) - 1
    return [
        render_table(results, group, continued=n > 0, caption=n == last, rows=rows) for n, group in enumerate(groups)
    ]


def print_listing(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[object]], console: Console | None = None
) -> None:
    """A plain table for ``unlearnbench list`` / ``plugins``: one row per entry, cells printed verbatim."""
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold", expand=False)
    for index, header in enumerate(headers):
        # The first column holds names users type: never wrap it.
        table.add_column(header, no_wrap=index == 0, overflow="fold")
    count = 0
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
        count += 1
    target = console if console is not None else Console(highlight=False)
    if count:
        target.print(table)
    else:
        target.print(Text(f"no {title} registered", style="yellow"))


def print_dataset_statistics(name: str, stats: Mapping[str, Any], console: Console | None = None) -> None:
    """``unlearnbench data``: examples per class and split, then per-channel statistics, as two tables."""
    target = console if console is not None else Console(highlight=False)
    counts: Mapping[str, Sequence[int]] = stats.get("class_counts", {})
    splits = list(counts)
    table = Table(title=f"{name}: examples per class", title_justify="left", header_style="bold")
    table.add_column("class", overflow="fold")
    for split in [*splits, "total"]:
        table.add_column(split, justify="right")
    names = list(stats.get("class_names", []))
    for index, label in enumerate(names):
        values = [int(counts[split][index]) for split in splits]
        name_text = Text(f"{index} {label}" if str(label) != str(index) else str(index))
        last = index == len(names) - 1
        table.add_row(name_text, *(str(v) for v in values), str(sum(values)), end_section=last)
    totals = [sum(int(v) for v in counts[split]) for split in splits]
    table.add_row(Text("all", style="bold"), *(str(t) for t in totals), str(sum(totals)))
    target.print(table)
    channels: Mapping[str, Any] = stats.get("channels", {})
    train, held = channels.get("train", {}), channels.get("heldout", {})
    if train:
        from unlearnbench.reporting.data_figures import channel_names

        title = f"{name}: channels (intensity in [0, 1])"
        ctable = Table(title=title, title_justify="left", header_style="bold")
        for header in ("channel", "train mean", "train std", "min", "max", "held-out mean", "held-out std"):
            ctable.add_column(header, justify="left" if header == "channel" else "right")
        for i, label in enumerate(channel_names(len(train["mean"]))):
            cells = [train[k][i] for k in ("mean", "std", "min", "max")]
            cells += [held[k][i] if i < len(held.get(k, ())) else None for k in ("mean", "std")]
            ctable.add_row(label, *("—" if v is None else f"{v:.4f}" for v in cells))
        target.print(ctable)


def print_error(message: str) -> None:
    """One red line on stderr, no traceback (usage errors, exit code 4)."""
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(Text(message, style="bold red"))


def _summary_style(results: RunResults) -> str:
    counts = results.counts()
    if counts["failed"] or counts["error"]:
        return "bold red"
    if results.interrupted or not results.items or not counts["passed"]:
        return "bold yellow"
    return "bold green"


class TerminalReporter:
    """Prints a run to the terminal like pytest does; registered as a pluggy plugin object.

    ``verbosity`` is -1 (quiet: no header, no per-item lines), 0 (normal) or 1 and more (verbose: full
    tracebacks, a line per finished progress task when the output is not a terminal).
    """

    def __init__(
        self, console: Console | None = None, verbosity: int = 0, show_paired: bool = False,
        rank_by: Sequence[str] | None = None,
    ) -> None:  # fmt: skip
        self.console = console if console is not None else Console(highlight=False)
        self.verbosity = verbosity
        #: The ranking's quantities (column keys); None: the default (see unlearnbench.reporting.ranking).
        self.rank_by = rank_by
        #: Also print the table of paired differences to retrain (``--diff``).
        self.show_paired = show_paired
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    @property
    def quiet(self) -> bool:
        """True in quiet mode (``-q``)."""
        return self.verbosity < 0

    @property
    def verbose(self) -> bool:
        """True in verbose mode (``-v``)."""
        return self.verbosity > 0

    # ----------------------------------------------------------------- plain output

    def section(self, title: str) -> None:
        """A full-width rule with a centred title, e.g. ``==== unlearnbench session starts ====``."""
        if self.quiet:
            return
        self._rule(title)

    def _rule(self, title: str, style: str = "bold") -> None:
        self.console.rule(Text(title, style=style), characters="=", style=style)

    def line(self, text: str, style: str | None = None) -> None:
        """One line of text, printed verbatim (markup in ``text`` is not interpreted).

        Long lines are not hard-wrapped at the console width, so a log keeps one line per message.
        """
        self.console.print(Text(text, style=style or ""), highlight=False, soft_wrap=True)

    def header(self, lines: list[str]) -> None:
        """The lines under the session-start section: platform, versions, device, dataset, cache dir."""
        if self.quiet:
            return
        for text in lines:
            self.line(text)

    # ----------------------------------------------------------------- progress

    def progress(self, description: str, completed: int, total: int) -> None:
        """A :data:`~unlearnbench.api.ProgressCallback`: one bar per description, removed when complete.

        On a non-terminal console (a pipe, a CI log, pytest's capture) no live display is started; in
        verbose mode a compact line is printed when a task completes.
        """
        finished = total > 0 and completed >= total
        if not self.console.is_terminal or self.quiet:
            if finished and self.verbose:
                self.line(f"  {description}: {completed}/{total}", style="dim")
            return
        with self._lock:
            if self._progress is None:
                if finished:
                    return
                self._progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=self.console,
                    transient=True,
                )
                self._progress.start()
            progress = self._progress
            task = self._tasks.get(description)
            if task is None:
                if finished:
                    return
                task = progress.add_task(escape(description), total=max(total, 0) or None)
                self._tasks[description] = task
            progress.update(task, completed=completed, total=total if total > 0 else None)
            if finished:
                progress.remove_task(task)
                del self._tasks[description]
                if not self._tasks:
                    # Nothing left to draw: stop the live display so later output is not interleaved.
                    self._stop_locked()

    def close(self) -> None:
        """Stop any live progress display (idempotent)."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._tasks.clear()

    # ----------------------------------------------------------------- hooks

    @hookimpl
    def unlearnbench_runreport(self, report: ItemResult) -> None:
        """One line per finished item, e.g. ``finetune[epochs=5,lr=0.1] PASSED  (3 seeds, 2.1s)``."""
        if self.quiet:
            return
        text = Text(report.item_id)
        text.append(" ")
        text.append(_outcome_text(report.outcome))
        details = f"{seed_word(len(report.seeds))}, {format_duration(report.duration)}"
        if report.outcome == "skipped" and report.skip_reason:
            details += f", {report.skip_reason}"
        text.append(f"  ({details})", style="dim")
        self.console.print(text, highlight=False, soft_wrap=True)

    @hookimpl
    def unlearnbench_sessionfinish(self, session: Any, results: RunResults, exitstatus: int) -> None:
        """The results table, the errors section, the artifact paths and, last, the summary line.

        A path is printed only where the file exists, so a report that failed to write is not announced.
        """
        self.close()
        paths = []
        for label, attribute in (("results", "results_path"), ("report", "html_path")):
            path = getattr(session, attribute, None)
            if path is not None and Path(path).exists():
                paths.append((label, path))
        self.print_results(results, paths)

    def print_results(self, results: RunResults, paths: Sequence[tuple[str, object]] = ()) -> None:
        """Everything after the run: table, errors, skip reasons, ``label: path`` lines, the summary line.

        ``unlearnbench report`` calls this directly to re-print a saved run.
        """
        if results.items and results.columns:
            for table in render_tables(results, self.console.width):
                self.console.print()
                self.console.print(table)
            ranking = render_ranking(results, quantities=self.rank_by)
            if ranking is not None:
                self.console.print()
                self.console.print(ranking)
            if self.show_paired:
                from unlearnbench.reporting.paired import render_paired_table

                paired = render_paired_table(results)
                if paired is not None:
                    self.console.print()
                    self.console.print(paired)
        self._print_errors(results.items)
        self._print_skips(results.items)
        for label, path in paths:
            self.line(f"{label}: {path}")
        self._rule(summary_text(results), style=_summary_style(results))

    def _print_errors(self, items: Iterable[ItemResult]) -> None:
        failing = [item for item in items if item.errors]
        if not failing:
            return
        self._rule("errors", style="bold red")
        for item in failing:
            head = Text(item.item_id, style="bold")
            head.append(" ")
            head.append(_outcome_text(item.outcome))
            self.console.print(head, highlight=False)
            for where, message in item.errors.items():
                if self.verbose:
                    self.line(f"  {where}:", style="red")
                    for text in message.rstrip().splitlines():
                        self.line(f"    {text}")
                else:
                    self.line(f"  {where}: {short_error(message)}", style="red")

    def _print_skips(self, items: Iterable[ItemResult]) -> None:
        skipped = [item for item in items if item.outcome == "skipped" and item.skip_reason]
        if not skipped or self.quiet:
            return
        self._rule("skipped", style="bold yellow")
        for item in skipped:
            self.line(f"{item.item_id}: {item.skip_reason}", style="yellow")


def print_verdict(verdict: Verdict, console: Console | None = None) -> None:
    """A reproduction's verdict: one row per check (published, ours with its interval, difference,
    tolerance, ✔ / ✘), then the one-line result."""
    target = console if console is not None else Console(highlight=False)
    reproduction = verdict.reproduction
    title = f"{reproduction.name}: {reproduction.title}"
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    for header in ("check", "what", "published", "ours [95 %]", "Δ", "tolerance", ""):
        table.add_column(header, overflow="fold")
    for row in verdict_rows(verdict):
        style = "green" if row.holds else "red"
        table.add_row(row.kind, row.what, row.published, row.ours, row.difference, row.tolerance,
                      Text(row.mark, style=style))  # fmt: skip
    target.print(table)
    target.print(Text(f"source: {reproduction.paper}; {reproduction.table}; "
                      f"{reproduction.repository}@{reproduction.commit[:12]}", style="dim"))  # fmt: skip
    for deviation in reproduction.deviations:
        target.print(Text(f"deviation: {deviation}", style="dim"))
    for line in verdict.context:
        target.print(Text(line, style="dim"))
    for note in verdict.notes:
        target.print(Text(note, style="yellow"))
    target.print(Text(verdict_headline(verdict), style="bold green" if verdict.passed else "bold red"))
