"""The command line (click): ``run``, ``list``, ``plugins``, ``report``. A thin layer over the session.

:func:`main` is the single error boundary for users: bad input prints one red line and exits 4; a bug in
unlearnbench prints ``INTERNALERROR`` with the traceback and exits 3; Ctrl-C exits 2.
"""

from __future__ import annotations

import shlex
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from unlearnbench._version import __version__
from unlearnbench.cli._common import dataset_options, load_plugins, parse_key_values, plugin_options
from unlearnbench.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from unlearnbench.config import Config
    from unlearnbench.plugins import PluginSet
    from unlearnbench.registry import Registry
    from unlearnbench.results import RunResults

LIST_KINDS = ("methods", "metrics", "datasets", "models", "executors", "plugins", "presets", "reproductions")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="unlearnbench")
def cli() -> None:
    """unlearnbench: every unlearning method against every metric, with one command."""


@cli.command()
@click.option("--dataset", help="Dataset plugin name (default: digits, embedded).")
@dataset_options
@click.option("--model", help="Model architecture (default: the dataset's).")
@click.option("--forget", help="Forget set: a random fraction (default 0.1) or class:N[,M].")
@click.option("--seeds", type=int, help="Unlearning replicate seeds S.")
@click.option("--oracles", type=int, help="Retrained oracle models R.")
@click.option("--epochs", type=int, help="Epochs for the original and oracle models (default: per dataset).")
@click.option(
    "--method",
    "methods",
    multiple=True,
    metavar="PATTERN",
    help="Methods or items to run: fnmatch patterns or name[key=value,...] (repeatable).",
)
@click.option("-k", "keyword", metavar="EXPR", help="Select items by a boolean substring expression.")
@click.option(
    "--metric", "metrics", multiple=True, metavar="PATTERN", help="Metrics to compute (repeatable)."
)
@click.option("--collect-only", is_flag=True, default=None, help="List the collected items and stop.")
@click.option("-x", "exitfirst", is_flag=True, help="Stop after the first failed item.")
@click.option("--maxfail", type=int, help="Stop after N failed items.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache directory.")
@click.option("--no-cache", is_flag=True, default=None, help="Neither read nor write the cache.")
@click.option("--output-dir", type=click.Path(), help="Output directory (default: reports/<run-id>/).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Device (default: auto).")
@click.option("--time-budget", type=float, help="Soft time budget per unlearning call, in seconds.")
@click.option("--diff", "show_paired", is_flag=True, help="Also print paired differences to retrain (95 % t).")
@click.option(
    "--timeout", type=float, help="Hard limit per replicate's unlearn call, in seconds (the item fails past it)."
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False),
    metavar="RUN_DIR",
    help="Continue the run in RUN_DIR (its results.json gives the config); finished items are kept.",
)
@click.option(
    "--train-batching",
    type=click.Choice(["auto", "sequential", "vmap"]),
    help="Train the oracles one by one or together as one batched model (default: auto, per device and model).",
)
@click.option("--compile", "compile_", is_flag=True, default=None, help="torch.compile the model for training.")
@click.option("--no-augment", "no_augment", is_flag=True, help="Train the original and oracles without crop + flip.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    help="Training arithmetic (default: auto, bf16 autocast where the device computes bf16 natively).",
)
@click.option("--executor", help="Where jobs run: local (default), processes, ray (docs/executors.md).")
@click.option("--workers", type=int, help="processes executor: worker processes (default: the CPU count).")
@click.option("--address", help="ray executor: cluster address, auto or ray://host:port (default: local).")
@click.option("--threads", type=int, help="Torch threads per process; pin it for bitwise-equal executors.")
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("-q", "--quiet", count=True, help="Less output.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--preset", help="A named preset of options.")
@plugin_options
def run(**opts: Any) -> int:
    """Run every selected method against every selected metric."""
    from unlearnbench.config import resolve_config

    plugins, registry, path = load_plugins(opts["plugins"], opts["plugins_dir"], opts["config_file"])
    if opts["resume_dir"]:
        return _resume(opts, plugins, registry)
    dataset_options = parse_key_values(opts["dataset_option"], "--dataset-option")
    if opts["data_path"]:
        dataset_options["path"] = opts["data_path"]
    cli_options: dict[str, Any] = {
        key: opts[key]
        for key in ("dataset", "model", "forget", "seeds", "oracles", "epochs", "keyword", "collect_only",
                    "cache_dir", "no_cache", "output_dir", "device", "preset", "time_budget", "maxfail", "timeout",
                    "train_batching", "precision", "executor", "workers", "address", "threads")
    }  # fmt: skip
    cli_options["compile"] = opts["compile_"]
    if opts["no_augment"]:
        cli_options["augment"] = False
    if opts["exitfirst"]:
        cli_options["maxfail"] = 1
    if opts["methods"]:
        cli_options["methods"] = tuple(opts["methods"])
    if opts["metrics"]:
        cli_options["metrics"] = tuple(opts["metrics"])
    if dataset_options:
        cli_options["dataset_options"] = dataset_options
    verbosity = opts["verbose"] - opts["quiet"]
    if verbosity:
        cli_options["verbosity"] = verbosity
    config, _ = resolve_config(cli_options, registry.presets, Path(opts["config_file"]) if opts["config_file"]
                               else path)  # fmt: skip
    return _run_session(config, plugins, registry, show_paired=opts["show_paired"])


#: ``run`` options that may accompany ``--resume`` (they change neither the numbers nor the selection).
RESUME_OPTIONS = (
    "verbose", "quiet", "plugins", "plugins_dir", "timeout", "maxfail", "exitfirst", "cache_dir", "show_paired",
    "executor", "workers", "address",
)  # fmt: skip


def _resume(opts: dict[str, Any], plugins: PluginSet, registry: Registry) -> int:
    """``run --resume RUN_DIR``: the stored config, written into the same directory."""
    import dataclasses

    from unlearnbench.config import Config, check_config
    from unlearnbench.journal import resume_options

    extra = [name for name, value in opts.items()
             if name not in (*RESUME_OPTIONS, "resume_dir") and value not in (None, False, (), 0)]  # fmt: skip
    if extra:
        names = {"methods": "--method", "metrics": "--metric", "keyword": "-k", "config_file": "--config"}
        flag = names.get(extra[0], "--" + extra[0].replace("_", "-"))
        raise UsageError(f"--resume continues the run with its own config; drop {flag}")
    run_dir = Path(opts["resume_dir"])
    options, previous = resume_options(run_dir)
    overrides: dict[str, Any] = {"output_dir": str(run_dir), "collect_only": False}
    for key in ("timeout", "maxfail", "cache_dir", "executor", "workers", "address"):
        if opts[key] is not None:
            overrides[key] = opts[key]
    if opts["exitfirst"]:
        overrides["maxfail"] = 1
    if opts["verbose"] or opts["quiet"]:
        overrides["verbosity"] = opts["verbose"] - opts["quiet"]
    try:
        config = dataclasses.replace(Config(**options), **overrides)
    except TypeError as exc:
        raise UsageError(f"--resume: {run_dir / 'results.json'}: bad config: {exc}") from None
    check_config(config)
    return _run_session(
        config, plugins, registry, resume=True, command=previous.command, show_paired=opts["show_paired"]
    )


def _run_session(
    config: Config, plugins: PluginSet, registry: Registry, resume: bool = False, command: str = "",
    show_paired: bool = False,
) -> int:
    """Collect, then run (or only list, under ``--collect-only``) with the terminal reporter."""
    from unlearnbench.reporting.terminal import TerminalReporter
    from unlearnbench.results import REFERENCE_METHODS
    from unlearnbench.session import Session

    reporter = TerminalReporter(verbosity=config.verbosity, show_paired=show_paired)
    plugins.manager.register(reporter, name="terminalreporter")
    plugins.manager.hook.unlearnbench_configure(config=config, pluginmanager=plugins.manager)
    command = command or (shlex.join(["unlearnbench", *sys.argv[1:]]) if sys.argv else "unlearnbench run")
    session = Session(config, plugins, registry, reporter=reporter, command=command, resume=resume)
    items = session.collect()
    if config.collect_only:
        for item in items:
            reporter.line(item.item_id)
        reporter.line(f"{len(items)} items collected", style="bold")
        return int(ExitCode.OK if items else ExitCode.NO_ITEMS_COLLECTED)
    selected = [i for i in items if i.method not in REFERENCE_METHODS or i.params]
    if not items or ((config.methods or config.keyword) and not selected):
        reporter.line("no methods collected", style="yellow")
        return int(ExitCode.NO_ITEMS_COLLECTED)
    reporter.section("unlearnbench session starts")
    reporter.header(_header_lines(config, len(items)))
    try:
        _, exit_code = session.run()
    finally:
        reporter.close()
    return int(exit_code)


def _header_lines(config: Config, n_items: int) -> list[str]:
    import platform

    import torch

    return [
        f"platform {platform.system().lower()} -- Python {platform.python_version()}, torch {torch.__version__}, "
        f"unlearnbench {__version__}",
        f"dataset: {config.dataset}, model: {config.model or 'dataset default'}, forget: {config.forget}, "
        f"seeds: {config.seeds}, oracles: {config.oracles}, device: {config.device}",
        f"collected {n_items} items",
    ]


@cli.command(name="list")
@click.argument("kind", type=click.Choice(LIST_KINDS), default="methods")
@plugin_options
def list_(kind: str, plugins: tuple[str, ...], plugins_dir: str | None) -> int:
    """List registered methods, metrics, datasets, models, executors, plugins, presets or reproductions."""
    from unlearnbench.reporting.terminal import print_listing

    plugin_set, registry, _ = load_plugins(plugins, plugins_dir, None)
    if kind == "plugins":
        return _print_plugins(plugin_set)
    if kind == "reproductions":
        return _print_reproductions()
    if kind == "presets":
        rows = [(name, ", ".join(f"{k}={v}" for k, v in opts.items()), "") for name, opts in
                sorted(registry.presets.items())]  # fmt: skip
        print_listing("presets", ("name", "options", ""), rows)
        return 0
    from unlearnbench.api import metric_default_selected

    entries = registry.of_kind(kind[:-1])
    rows = [
        (e.name + ("" if kind != "metrics" or metric_default_selected(e.cls) else " (opt-in)"), e.description,
         f"{e.origin}: {e.location}")
        for e in entries.values()
    ]  # fmt: skip
    print_listing(kind, ("name", "description", "from"), rows)
    return 0


def _print_reproductions() -> int:
    """``list reproductions``: each published table, its source, its cost and what deviates from it."""
    from unlearnbench.reproduction import available, load_reproduction

    for name in available():
        r = load_reproduction(name)
        click.echo(f"{name}: {r.title} (preset {r.preset}, {len(r.cells)} cells, {len(r.orderings)} orderings)")
        click.echo(f"  source: {r.paper}; {r.table}; {r.repository}@{r.commit}")
        for kind, cost in r.cost.items():
            click.echo(f"  cost on {kind}: {cost}")
        for deviation in r.deviations:
            click.echo(f"  deviates: {deviation}")
    return 0


@cli.command()
@click.argument("name")
@dataset_options
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache directory.")
@click.option("--output-dir", type=click.Path(), help="Output directory (default: reports/reproduce-NAME/).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Device (default: auto).")
@click.option(
    "--results", "results_file", type=click.Path(dir_okay=False), help="Judge this results.json; run nothing."
)
@click.option(
    "--epochs", type=int,
    help="Override every epoch count of the protocol: base models, retrained models, methods (smoke tests: the "
    "verdict means nothing).",
)  # fmt: skip
@click.option("-q", "--quiet", count=True, help="Less output.")
@plugin_options
def reproduce(**opts: Any) -> int:
    """Run a published protocol and judge it cell by cell; exit 0 only when every check holds."""
    from unlearnbench.reproduction import load_reproduction

    reproduction = load_reproduction(opts["name"])
    results_path = Path(opts["results_file"]) if opts["results_file"] else None
    if results_path is None:
        output = Path(opts["output_dir"] or Path("reports") / f"reproduce-{reproduction.name}")
        code = _run_protocol(opts, reproduction.preset, output)
        if code not in (int(ExitCode.OK), int(ExitCode.ITEMS_FAILED)):
            return code
        results_path = output / "results.json"
    if opts["epochs"]:
        click.echo(f"deviation: --epochs {opts['epochs']} overrides the protocol's epochs; not a reproduction")
    return _judge_file(reproduction.name, results_path)


def _run_protocol(opts: dict[str, Any], preset: str, output: Path) -> int:
    """The protocol's preset run into ``output`` (the data, cache and device options passed on; ``--epochs``
    shortens every training of the protocol, see :func:`_shortened`)."""
    from unlearnbench.config import resolve_config

    plugins, registry, path = load_plugins(opts["plugins"], opts["plugins_dir"], None)
    cli_options: dict[str, Any] = {"preset": preset, "output_dir": str(output)}
    dataset_options = parse_key_values(opts["dataset_option"], "--dataset-option")
    if opts["data_path"]:
        dataset_options["path"] = opts["data_path"]
    if dataset_options:
        cli_options["dataset_options"] = dataset_options
    for key in ("cache_dir", "device", "epochs"):
        if opts[key]:
            cli_options[key] = opts[key]
    if opts["quiet"]:
        cli_options["verbosity"] = -int(opts["quiet"])
    config, _ = resolve_config(cli_options, registry.presets, path)
    if opts["epochs"]:
        config = _shortened(config, registry, int(opts["epochs"]))
    return _run_session(config, plugins, registry)


def _shortened(config: Config, registry: Registry, epochs: int) -> Config:
    """A smoke test's config: ``epochs`` for the retrained models and every method with an ``epochs`` default."""
    import dataclasses

    oracle_recipe = dict(config.oracle_recipe)
    if "epochs" in oracle_recipe:  # the retrained models' own count (the base models' comes with --epochs)
        oracle_recipe["epochs"] = epochs
    options = {name: dict(value) for name, value in config.method_options.items()}
    for name, entry in registry.methods.items():
        if "epochs" in getattr(entry.cls, "defaults", {}):
            table = options.setdefault(name, {})
            table["defaults"] = {**dict(table.get("defaults", {})), "epochs": epochs}
            if table.get("grid"):
                table["grid"] = []  # one item per method: a grid point would set its own epochs
    return dataclasses.replace(config, oracle_recipe=oracle_recipe, method_options=options)


def _judge_file(name: str, results_path: Path) -> int:
    """Print the verdict of ``results_path`` against reproduction ``name``; 0 when it passes, else 1."""
    from unlearnbench.reporting.terminal import print_verdict
    from unlearnbench.reproduction import judge, load_reproduction
    from unlearnbench.results import ResultsFormatError, load

    try:
        results = load(results_path)
    except (OSError, ResultsFormatError) as exc:
        raise UsageError(f"cannot read {results_path}: {exc}") from None
    verdict = judge(load_reproduction(name), results)
    print_verdict(verdict)
    return int(ExitCode.OK if verdict.passed else ExitCode.ITEMS_FAILED)


def _print_plugins(plugin_set: PluginSet) -> int:
    from unlearnbench.reporting.terminal import print_listing

    rows = [
        (info.name, f"{info.origin} {info.version}".strip(), f"{info.location}  [{', '.join(info.hooks)}]")
        for info in plugin_set.infos.values()
    ]
    print_listing("plugins", ("name", "origin / version", "location and hooks"), rows)
    return 0


@cli.command()
@plugin_options
def plugins(plugins: tuple[str, ...], plugins_dir: str | None) -> int:
    """List every plugin with its version, origin and the hooks it implements."""
    plugin_set, _, _ = load_plugins(plugins, plugins_dir, None)
    return _print_plugins(plugin_set)


@cli.command(name="new-plugin")
@click.argument("name")
@click.option(
    "--directory", "-d", type=click.Path(file_okay=False), help="Where to create it (default: ./NAME)."
)
def new_plugin(name: str, directory: str | None) -> int:
    """Create an installable plugin package NAME with a working method, metric and tests."""
    from unlearnbench.scaffold import next_steps, scaffold

    created = scaffold(name, directory)
    click.echo(next_steps(name, directory, created))
    return 0


@cli.command()
@click.argument("results_file", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(),
    help="Output file (a folder for svg; default: beside the JSON: report.html, results.tex, results.csv, "
    "results.md, figures/).",
)  # fmt: skip
@click.option("--diff", "show_paired", is_flag=True, help="Also print paired differences to retrain (95 % t).")
@click.option(
    "--format", "output_format", type=click.Choice(["html", "latex", "csv", "markdown", "svg"]), default="html",
    show_default=True, help="html: the report; latex (booktabs), csv, markdown: the results table; svg: every "
    "figure as a standalone file.",
)  # fmt: skip
@click.option("--columns", multiple=True, metavar="PATTERN", help="Table columns to export (fnmatch over keys).")
@click.option(
    "--rank-by", multiple=True, metavar="KEY",
    help="Column keys the ranking's distance averages (default: FA, RA, TA and the run's strongest MIA).",
)  # fmt: skip
def report(
    results_file: str, output: str | None, show_paired: bool, output_format: str, columns: tuple[str, ...],
    rank_by: tuple[str, ...],
) -> int:  # fmt: skip
    """Re-render the table and the HTML report from a results.json, or export its table or figures."""
    from unlearnbench.reporting.html import write_html
    from unlearnbench.reporting.terminal import TerminalReporter
    from unlearnbench.results import ResultsFormatError, load

    try:
        results = load(results_file)
    except ResultsFormatError as exc:
        raise UsageError(str(exc)) from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # hand-edited into another shape
        raise UsageError(f"{results_file}: malformed results: {type(exc).__name__}: {exc}") from None
    if output_format != "html":
        return _export(results, Path(results_file), output, output_format, columns)
    unknown = sorted(set(rank_by) - {column.key for column in results.columns})
    if unknown:
        raise UsageError(f"--rank-by {unknown[0]}: no such column in {results_file}")
    target = Path(output) if output else Path(results_file).with_name("report.html")
    write_html(results, target, rank_by or None)
    reporter = TerminalReporter(show_paired=show_paired, rank_by=rank_by or None)
    reporter.print_results(results)
    reporter.line(f"report written to {target}")
    return 0


_EXPORT_NAMES = {"latex": "results.tex", "csv": "results.csv", "markdown": "results.md", "svg": "figures"}


def _export(
    results: RunResults, results_file: Path, output: str | None, output_format: str, patterns: tuple[str, ...]
) -> int:
    """Write the table (latex, csv, markdown) or every figure (svg) of ``results``; one line says where."""
    from unlearnbench.reporting import exports
    from unlearnbench.results import atomic_write_text

    target = Path(output) if output else results_file.with_name(_EXPORT_NAMES[output_format])
    try:
        if output_format == "svg":
            target.mkdir(parents=True, exist_ok=True)
            files = exports.figure_files(results)
            for name, document in files.items():
                atomic_write_text(target / name, document)
            click.echo(f"{len(files)} figures written to {target}")
            return 0
        columns = exports.select_columns(results, patterns)
        if patterns and not columns:
            raise UsageError(f"--columns {' '.join(patterns)} matches no column of {results_file}")
        writer = {"latex": exports.to_latex, "csv": exports.to_csv, "markdown": exports.to_markdown}[output_format]
        atomic_write_text(target, writer(results, columns))
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"{output_format} table written to {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the exit code (see :class:`unlearnbench.errors.ExitCode`)."""
    from unlearnbench.reporting.terminal import print_error

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run_cli(args, print_error)
    finally:
        _forget_caught_interrupts()


def _forget_caught_interrupts() -> None:
    """Stop the interpreter from exiting by SIGINT for a Ctrl-C this command already handled.

    CPython marks a ``KeyboardInterrupt`` that leaves any ``exec`` of source text (a dataclass's generated
    ``__init__``, a lazily imported module's set-up code) as unhandled even when an outer ``except`` catches
    it; under ``python -m unlearnbench`` the process then ends by SIGINT (-2) instead of our exit code 2. The
    mark is cleared at the start of every such ``exec``, so one that finishes cleanly clears it.
    """
    exec("pass")  # noqa: S102 - a constant source text: clears the interpreter's unhandled-interrupt mark


def _run_cli(args: list[str], print_error: Callable[[str], None]) -> int:
    """Run the click group on ``args``; map every way it can end to an :class:`ExitCode`."""
    try:
        result = cli.main(args=args, prog_name="unlearnbench", standalone_mode=False)
    except UsageError as exc:
        print_error(f"ERROR: {exc}")
        return int(ExitCode.USAGE_ERROR)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        print_error(f"ERROR: {exc.format_message()}")
        return int(ExitCode.USAGE_ERROR)
    except click.exceptions.Abort:
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except Exception:
        sys.stderr.write("INTERNALERROR " + traceback.format_exc().replace("\n", "\nINTERNALERROR ") + "\n")
        return int(ExitCode.INTERNAL_ERROR)
    return int(result) if isinstance(result, int) else 0


# The data and compare commands import nothing heavy at module level (their work is imported when they run).
from unlearnbench.cli.backbone import backbone as _backbone  # noqa: E402
from unlearnbench.cli.commands import compare as _compare  # noqa: E402
from unlearnbench.cli.commands import data as _data  # noqa: E402

cli.add_command(_data)
cli.add_command(_compare)
cli.add_command(_backbone)

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
