"""``unlearnbench backbone PRESET --out DIR``: train (or take from the cache) a preset's backbone and write it
as shipped weights: ``DIR/<name>.pt`` and its entry in ``DIR/index.json`` (see :mod:`unlearnbench.shipped`).

The package's own ``unlearnbench/weights/`` was written by this command; a run finds a file there by the match
key of its backbone, so re-running the command on another machine gives a file that stands for the same
training (its bits differ where the CPU's arithmetic does).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import shlex
import time
from pathlib import Path
from typing import Any

import click

from unlearnbench.cli._common import dataset_options, load_plugins, parse_key_values, plugin_options
from unlearnbench.errors import UsageError

__all__ = ["backbone", "cpu_description"]


def cpu_description() -> str:
    """The CPU's model name, the torch thread count and its native bf16 flags (``provenance.cpu_model``)."""
    import torch

    from unlearnbench.provenance import cpu_model

    model, native = cpu_model()
    return f"{model}, {torch.get_num_threads()} threads" + (f", {' '.join(native)}" if native else ", no bf16 flags")


@click.command(name="backbone")
@click.argument("preset")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder of the file, index.")
@click.option("--name", help="The weights' name (default: PRESET-backbone).")
@dataset_options
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache directory.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Device (default: auto).")
@plugin_options
def backbone(**opts: Any) -> int:
    """Train a preset's backbone (or take it from the cache) and write it as shipped weights with its entry."""
    from unlearnbench.config import resolve_config
    from unlearnbench.provenance import git_commit, package_versions
    from unlearnbench.reporting.terminal import TerminalReporter
    from unlearnbench.runner.bench import build_bench
    from unlearnbench.shipped import ShippedWeights, add_to_index, backbone_match_key, weights_bytes

    _, registry, path = load_plugins(opts["plugins"], opts["plugins_dir"], None)
    cli_options: dict[str, Any] = {"preset": opts["preset"]}
    data_options = parse_key_values(opts["dataset_option"], "--dataset-option")
    if opts["data_path"]:
        data_options["path"] = opts["data_path"]
    if data_options:
        cli_options["dataset_options"] = data_options
    for key in ("cache_dir", "device"):
        if opts[key]:
            cli_options[key] = opts[key]
    config, _ = resolve_config(cli_options, registry.presets, path)
    if not config.backbone:
        raise UsageError(f"preset {opts['preset']!r} has no backbone table")
    # Never the shipped file itself: this command makes one.
    config = dataclasses.replace(config, backbone={**config.backbone, "shipped": False})
    bench = build_bench(config, registry)
    assert bench.backbone is not None
    parts = bench.backbone_parts()
    started = time.perf_counter()
    state = bench.backbone_state()
    seconds = time.perf_counter() - started
    cached = bench.cache.load_state("backbone", bench.backbone_key())
    if cached is not None and "seconds" in cached[1]:
        seconds = float(cached[1]["seconds"])  # the training's own time, also when it was cached earlier
    data = weights_bytes(state)
    name = opts["name"] or f"{opts['preset']}-backbone"
    table = config.backbone
    entry = ShippedWeights(
        name=name, file=f"{name}.pt", sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
        match_key=backbone_match_key(parts),
        trained={"dataset": table.get("dataset"), "dataset_options": dict(table.get("dataset_options", {})),
                 "epochs": bench.backbone.recipe.epochs, "precision": bench.backbone.recipe.precision,
                 "model": bench.model_name, "images": int(len(bench.backbone.raw.y_train))},
        made={"command": _command_line(opts), "cpu": cpu_description(),
              "device": str(bench.device), "seconds": round(seconds, 3), "versions": package_versions(),
              "git_commit": git_commit(), "date": _dt.date.today().isoformat()},
    )  # fmt: skip
    try:
        target = add_to_index(entry, data, Path(opts["out_dir"]))
    except OSError as exc:
        raise UsageError(f"cannot write {opts['out_dir']}: {exc.strerror or exc}") from None
    reporter = TerminalReporter()
    reporter.line(f"backbone weights: {target} ({len(data) / 1e6:.1f} MB, sha256 {entry.sha256})")
    reporter.line(f"training: {seconds:.0f} s on {entry.made['cpu']}; index: {target.parent / 'index.json'}")
    return 0


def _command_line(opts: dict[str, Any]) -> str:
    """The command that remakes the file: its preset, folder, name and data options (not the cache or plugins)."""
    words = ["unlearnbench", "backbone", opts["preset"], "--out", opts["out_dir"]]
    if opts["name"]:
        words += ["--name", opts["name"]]
    if opts["data_path"]:
        words += ["--data-path", opts["data_path"]]
    for option in opts["dataset_option"]:
        words += ["--dataset-option", option]
    return shlex.join(words)
