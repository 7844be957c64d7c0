"""The ``data`` and ``compare`` commands of the command line (registered by :mod:`unlearnbench.cli`).

``unlearnbench data DATASET`` loads a dataset through the plugin registry, draws its splits as a run would,
prints class counts and channel statistics and writes the dataset pictures: ``data.html`` (self-contained)
and one ``.svg`` file per picture. ``unlearnbench compare RUN_A RUN_B`` writes the side-by-side page of two
runs and prints where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from unlearnbench.cli._common import dataset_options, load_plugins, parse_key_values, plugin_options
from unlearnbench.errors import UsageError

__all__ = ["compare", "data", "write_dataset_page"]

#: Picture anchor → file name of its standalone .svg.
_SVG_NAMES = {
    "data-counts": "class-counts.svg",
    "data-channels": "channel-statistics.svg",
    "data-mean": "mean-image.svg",
    "data-gray": "gray-histogram.svg",
    "data-samples": "samples.svg",
}


def write_dataset_page(
    raw: Any, splits: Any, output_dir: Path, description: str = ""
) -> tuple[list[Path], dict[str, Any]]:
    """Write ``data.html`` and the pictures as .svg files into ``output_dir``.

    Returns the files written (``data.html`` first) and the statistics they were drawn from.
    ``raw`` is a :class:`~unlearnbench.api.RawDataset`, ``splits`` its :class:`~unlearnbench.api.Splits`.
    """
    from unlearnbench.data.stats import dataset_statistics
    from unlearnbench.reporting.data_figures import dataset_figures
    from unlearnbench.reporting.html import dataset_view, render_template
    from unlearnbench.reporting.svg import standalone
    from unlearnbench.results import atomic_write_text

    stats = dataset_statistics(raw, splits)
    fields = {
        "name": raw.name,
        "source": raw.source,
        "num_classes": raw.num_classes,
        "image_shape": [raw.in_channels, int(raw.x_train.shape[-2]), int(raw.x_train.shape[-1])],
        "sizes": {split: sum(counts) for split, counts in stats["class_counts"].items()},
        "forget": splits.forget_spec,
        "split_seed": splits.seed,
        "normalisation mean": list(raw.mean),
        "normalisation std": list(raw.std),
    }
    view = dataset_view({**fields, "stats": stats})
    written = [output_dir / "data.html"]
    atomic_write_text(
        written[0],
        render_template(
            "data.html.j2", name=raw.name, description=description, fields=view["fields"], data=view
        ),
    )
    for figure in dataset_figures(stats):
        path = output_dir / _SVG_NAMES.get(figure.anchor, f"{figure.anchor}.svg")
        atomic_write_text(path, standalone(figure.svg))
        written.append(path)
    return written, stats


@click.command(name="data")
@click.argument("dataset")
@dataset_options
@click.option("--forget", default="0.1", show_default=True, help="Forget set: a fraction or class:N[,M].")
@click.option("--split-seed", type=int, default=42, show_default=True, help="Seed of the split draw.")
@click.option(
    "--output-dir", type=click.Path(file_okay=False), help="Output folder (default: reports/data-<dataset>/)."
)
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache directory (downloads land here).")
@plugin_options
def data(**opts: Any) -> int:
    """Print a dataset's class counts and channel statistics and write its pictures (data.html, .svg)."""
    from unlearnbench.cache import default_cache_dir
    from unlearnbench.data.splits import make_splits
    from unlearnbench.reporting.terminal import TerminalReporter, print_dataset_statistics
    from unlearnbench.selection import did_you_mean

    _, registry, _ = load_plugins(opts["plugins"], opts["plugins_dir"], None)
    name = opts["dataset"]
    if name not in registry.datasets:
        raise UsageError(f"unknown dataset {name!r}{did_you_mean(name, registry.datasets)}")
    entry = registry.datasets[name]
    options = parse_key_values(opts["dataset_option"], "--dataset-option")
    if opts["data_path"]:
        options["path"] = opts["data_path"]
    cache_dir = Path(opts["cache_dir"]) if opts["cache_dir"] else default_cache_dir()
    try:
        raw = entry.cls().load(str(cache_dir), **options)
    except TypeError as exc:
        raise UsageError(f"dataset {name!r}: bad dataset option: {exc}") from None
    splits = make_splits(raw, opts["forget"], seed=opts["split_seed"])
    output_dir = Path(opts["output_dir"]) if opts["output_dir"] else Path("reports") / f"data-{name}"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output dir {output_dir}: {exc.strerror or exc}") from None
    written, stats = write_dataset_page(raw, splits, output_dir, entry.description)
    print_dataset_statistics(name, stats)
    reporter = TerminalReporter()
    reporter.line(f"dataset page: {written[0]}")
    reporter.line(f"pictures: {', '.join(p.name for p in written[1:])} in {output_dir}")
    return 0


@click.command()
@click.argument("run_a", type=click.Path())
@click.argument("run_b", type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="HTML file (default: compare-<a>-<b>.html in the working directory).",
)
def compare(run_a: str, run_b: str, output: str | None) -> int:
    """Render two runs (run folders or results.json files) side by side into one HTML file."""
    from unlearnbench.reporting.index import write_compare
    from unlearnbench.reporting.terminal import TerminalReporter

    target = write_compare(run_a, run_b, output)
    TerminalReporter().line(f"comparison written to {target}")
    return 0
