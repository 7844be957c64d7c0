"""The "Δ vs retrain" table: each item's paired differences to the ``retrain`` row (``--diff``).

One row per method item, one column per model-scope column; a cell reads ``mean ± half-width`` of the
per-seed differences item(seed s) − retrain(seed s), a 95 % Student-t interval over the seeds both rows
have (:func:`unlearnbench.results.paired_to_reference`). An interval that excludes 0 is shown bold: the
method differs from retraining on that column beyond seed noise.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from unlearnbench.reporting import MISSING, ambiguous_labels, format_gap, format_half_width, ordered_items, seed_word
from unlearnbench.results import RunResults, Summary


def paired_cell(paired: Summary | None) -> Text:
    """The text of one difference (bold where its interval excludes 0)."""
    if paired is None:
        return Text(MISSING, style="dim")
    text = format_gap(paired.mean, paired.mean)
    if paired.half_width is None or paired.ci_low is None or paired.ci_high is None:
        return Text(text)
    excludes_zero = paired.ci_low > 0 or paired.ci_high < 0
    return Text(f"{text} ± {format_half_width(paired.mean, paired.half_width)}", style="bold" if excludes_zero else "")


def render_paired_table(results: RunResults) -> Table | None:
    """The table of paired differences to retrain, or None where no item has any."""
    items = [item for item in ordered_items(results) if item.paired]
    keys = {key for item in items for key in item.paired}
    columns = [c for c in results.columns if c.key in keys]
    if not items or not columns:
        return None
    table = Table(
        title=f"Δ vs retrain: mean paired difference ± 95 % t over {seed_word(len(results.seeds))}",
        caption="bold: the interval excludes 0 (the item differs from retraining beyond seed noise)",
        caption_justify="left",
        header_style="bold",
    )
    table.add_column("item", overflow="fold")
    ambiguous = ambiguous_labels(results.columns)
    for column in columns:
        table.add_column(column.key if column.label in ambiguous else column.label, justify="right", overflow="fold")
    for item in items:
        table.add_row(item.item_id, *(paired_cell(item.paired.get(c.key)) for c in columns))
    return table
