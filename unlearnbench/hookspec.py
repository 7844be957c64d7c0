"""Every hook a plugin may implement, with its full contract.

The hooks are declared and documented in one place, ``unlearnbench/hookspec.py``: ``docs/hooks.md`` is
generated from its docstrings by ``python -m unlearnbench.docsgen``, and a test keeps the page and the
declarations identical (same hooks, same signatures, same text). For a guided tour, see
`writing-plugins.md <writing-plugins.md>`_.

How hooks are implemented
-------------------------

A plugin is a module (or any object, such as a reporter) whose hook implementations are its functions
(or methods) named exactly like a hook and decorated with :data:`unlearnbench.hookimpl`:

.. code-block:: python

    from unlearnbench import hookimpl

    @hookimpl
    def unlearnbench_add_methods():
        return [MyMethod]

- **Any subset of the arguments.** An implementation asks only for the arguments it needs, by name
  (``def unlearnbench_sessionfinish(results): ...``). Asking for an argument the hook does not provide is a
  plugin error (exit code 4) naming the plugin, the argument and what the hook provides.
- **Names are checked.** A function called ``unlearnbench_*`` that matches no hook is a plugin error (exit
  code 4) with a "did you mean" suggestion; one that lacks ``@hookimpl`` is a plugin error too, telling you
  to decorate it. Nothing is ignored silently (only ``@hookimpl(optionalhook=True)`` lets an implementation
  of a hook that does not exist through).
- **Order.** Plugins register in this order: built-ins, entry points (group ``unlearnbench``), local files
  (``./plugins/*.py``, sorted), ``-p MODULE``. As in pluggy, later plugins' implementations run first;
  ``@hookimpl(tryfirst=True)`` / ``@hookimpl(trylast=True)`` move one to the front or the back. The
  ``unlearnbench_add_*`` hooks are the exception: unlearnbench calls their implementations itself, one at a
  time, in registration order (``trylast`` ones first, ``tryfirst`` ones last).
- **Results.** The ``unlearnbench_add_*`` hooks are each called once per plugin, so every class is
  attributed to the plugin that returned it (``unlearnbench list methods`` shows where each comes from).
  The other hooks return nothing. No hook is ``firstresult``: every implementation is called.
- **Errors.** A plugin that fails to import, breaks a contract, or raises inside an ``unlearnbench_add_*``
  hook stops the command with a one-line :class:`unlearnbench.PluginError` naming the plugin (exit code 4).
  An exception from any other hook is not caught: the run stops with ``INTERNALERROR`` and the traceback
  (exit code 3); raise :class:`unlearnbench.UsageError` there for a one-line error with exit code 4.
- **Where.** Every hook works in every kind of plugin: a local file (``./plugins/*.py`` or
  ``--plugins-dir``), an installed package (entry point group ``unlearnbench``), ``-p MODULE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from unlearnbench.config import Config
    from unlearnbench.registry import Item
    from unlearnbench.results import ItemResult, RunResults
    from unlearnbench.session import Session

PROJECT = "unlearnbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def unlearnbench_configure(config: Config, pluginmanager: pluggy.PluginManager) -> None:
    """Called once after all plugins are registered and before collection.

    :param config: the run's resolved :class:`unlearnbench.config.Config` (read-only; a frozen dataclass with
        every option: ``dataset``, ``seeds``, ``oracles``, ``methods``, ``output_dir``, ...).
    :param pluginmanager: the run's plugin manager; register extra hook implementations here (a reporter
        object whose methods are decorated with ``@hookimpl``, for instance).

    **When:** once per run, by ``unlearnbench run`` only (also with ``--collect-only`` and ``--resume``; not
    by ``list``, ``plugins`` or ``report``, nor in an executor's worker processes): after every plugin is
    registered, the registry is built (every ``unlearnbench_add_*`` hook has run) and the terminal reporter
    is registered (as ``terminalreporter``); before collection and before anything is trained. An object
    registered here takes part in the later hooks (``unlearnbench_collection_modifyitems``,
    ``unlearnbench_runreport``, ``unlearnbench_sessionfinish``), not in the ``unlearnbench_add_*`` ones.

    **Result:** returns nothing; not ``firstresult``: every implementation is called, later plugins first.

    **If it raises:** the run stops before collection. A :class:`unlearnbench.UsageError` (or
    :class:`unlearnbench.PluginError`) prints its one-line message and exits with code 4; any other
    exception prints ``INTERNALERROR`` with the traceback and exits with code 3.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """


@hookspec
def unlearnbench_add_methods() -> list[type]:
    """Return unlearning method classes (see :class:`unlearnbench.api.Method`).

    Each class needs ``name`` (letters, digits, ``_ . -``), a non-empty ``description`` and
    ``unlearn(self, model, ctx) -> model``; optional ``defaults`` (a dict of hyperparameters), ``grid`` (a dict
    of lists, whose cartesian product is taken, or a list of dicts; each point is one row ``name[key=value]``),
    ``dataset_defaults`` (per-dataset overrides of ``defaults``) and ``requires_class_forget``. Classes are
    built with no arguments. ``unlearn`` receives a fresh copy of the original model (train mode) and an
    ``UnlearnContext`` (``ctx.params``, ``ctx.retain``, ``ctx.forget``, ``ctx.val``, ``ctx.original``,
    ``ctx.train(...)``, ``ctx.generator()``, ...) and returns the unlearned model.

    **When:** once per plugin that implements it, whenever a registry is built: by ``unlearnbench run``,
    ``unlearnbench list`` and ``unlearnbench plugins`` right after the plugins are loaded (before
    ``unlearnbench_configure``), and again in each worker process of a multi-process executor.
    unlearnbench calls each implementation itself, with no arguments, in registration order.

    **Result:** a list (or tuple) of classes; ``None`` counts as none. Not ``firstresult``: the lists of all
    plugins are merged, and every class is attributed to the plugin that returned it. Each class is
    validated at once against the contract above; a method name another plugin already registered is a
    plugin error.

    **If it raises:** a plugin error naming the plugin and the exception
    (``local file /…/x.py: unlearnbench_add_methods raised RuntimeError: boom``), exit code 4; so is a return
    value that is not a list of classes, or a class that breaks the contract.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """
    return []


@hookspec
def unlearnbench_add_metrics() -> list[type]:
    """Return metric classes (see :class:`unlearnbench.api.Metric`).

    Each class needs ``name``, ``description``, ``higher_is_better`` (``True``, ``False``, ``None``, or a dict
    of column → direction, covering every column) and ``compute(self, ctx)`` returning a float or a dict of
    column → float; optional ``scope`` (``"model"``: once per replicate seed, summarised as mean ± 95 % CI;
    ``"population"``: once from all replicates and all oracles), ``needs`` (a subset of ``outputs``,
    ``oracle_outputs``, ``original_outputs``, ``model``, ``data``; a ``"population"`` metric cannot need
    ``model``) and ``columns`` (the column names a dict result may hold, for the table layout). Classes are
    built with no arguments. A metric that cannot apply to a run raises :class:`unlearnbench.MetricNotApplicable`
    (the cell shows "n/a" with the reason); any other exception, or a non-finite value, becomes an error cell
    naming the metric.

    **When:** once per plugin that implements it, whenever a registry is built: by ``unlearnbench run``,
    ``unlearnbench list`` and ``unlearnbench plugins`` right after the plugins are loaded (before
    ``unlearnbench_configure``), and again in each worker process of a multi-process executor.
    unlearnbench calls each implementation itself, with no arguments, in registration order.

    **Result:** a list (or tuple) of classes; ``None`` counts as none. Not ``firstresult``: the lists of all
    plugins are merged, and every class is attributed to the plugin that returned it. Each class is
    validated at once against the contract above; a metric name another plugin already registered is a
    plugin error.

    **If it raises:** a plugin error naming the plugin and the exception, exit code 4; so is a return value
    that is not a list of classes, or a class that breaks the contract. (An exception inside ``compute``
    during the run is not a plugin error: it becomes the error cell described above, and the run continues.)

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """
    return []


@hookspec
def unlearnbench_add_datasets() -> list[type]:
    """Return dataset classes (see :class:`unlearnbench.api.Dataset`).

    Each class needs ``name``, ``description`` and ``load(self, cache_dir, **options) -> RawDataset`` (uint8
    images ``(N, C, H, W)``, int64 labels, the held-out set, class names, normalisation constants); optional
    ``default_model`` and ``default_epochs``. Options come from ``--dataset-option KEY=VALUE`` and
    ``--data-path``. Classes are built with no arguments.

    **When:** once per plugin that implements it, whenever a registry is built: by ``unlearnbench run``,
    ``unlearnbench list`` and ``unlearnbench plugins`` right after the plugins are loaded (before
    ``unlearnbench_configure``), and again in each worker process of a multi-process executor.
    unlearnbench calls each implementation itself, with no arguments, in registration order.

    **Result:** a list (or tuple) of classes; ``None`` counts as none. Not ``firstresult``: the lists of all
    plugins are merged, and every class is attributed to the plugin that returned it. Each class is
    validated at once; a dataset name another plugin already registered is a plugin error.

    **If it raises:** a plugin error naming the plugin and the exception, exit code 4; so is a return value
    that is not a list of classes, or a class that breaks the contract.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """
    return []


@hookspec
def unlearnbench_add_models() -> list[type]:
    """Return model-architecture classes (see :class:`unlearnbench.api.ModelFactory`).

    Each class needs ``name``, ``description`` and
    ``build(self, num_classes, in_channels, image_size) -> nn.Module``. Classes are built with no arguments.

    **When:** once per plugin that implements it, whenever a registry is built: by ``unlearnbench run``,
    ``unlearnbench list`` and ``unlearnbench plugins`` right after the plugins are loaded (before
    ``unlearnbench_configure``), and again in each worker process of a multi-process executor.
    unlearnbench calls each implementation itself, with no arguments, in registration order.

    **Result:** a list (or tuple) of classes; ``None`` counts as none. Not ``firstresult``: the lists of all
    plugins are merged, and every class is attributed to the plugin that returned it. Each class is
    validated at once; a model name another plugin already registered is a plugin error.

    **If it raises:** a plugin error naming the plugin and the exception, exit code 4; so is a return value
    that is not a list of classes, or a class that breaks the contract.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """
    return []


@hookspec
def unlearnbench_add_executors() -> list[type]:
    """Return executor classes (see :mod:`unlearnbench.executors`): where a run's jobs execute.

    Each class needs ``name``, ``description`` and ``prefetch(self, plan, ctx) -> PrefetchReport``; it is
    chosen with ``--executor NAME`` (config key ``executor``). ``plan`` is a ``JobPlan`` (dependency waves of
    ``Job`` objects whose artifacts are not cached yet); ``ctx`` an ``ExecutorContext`` (the picklable
    ``WorkSpec`` a worker rebuilds the run from, ``workers``, ``address``, ``threads``, ``retries``,
    ``announce``). A worker runs a job with ``unlearnbench.executors.run_job(spec, job)``. Subclassing
    ``WaveExecutor`` leaves only ``run_wave(jobs, ctx)`` (and optionally ``start`` / ``stop``) to write.
    Classes are built with no arguments. See `executors.md <executors.md>`_.

    **When:** once per plugin that implements it, whenever a registry is built: by ``unlearnbench run``,
    ``unlearnbench list`` and ``unlearnbench plugins`` right after the plugins are loaded (before
    ``unlearnbench_configure``), and again in each worker process of a multi-process executor.
    unlearnbench calls each implementation itself, with no arguments, in registration order.

    **Result:** a list (or tuple) of classes; ``None`` counts as none. Not ``firstresult``: the lists of all
    plugins are merged, and every class is attributed to the plugin that returned it. Each class is
    validated at once; an executor name another plugin already registered is a plugin error.

    **If it raises:** a plugin error naming the plugin and the exception, exit code 4; so is a return value
    that is not a list of classes, or a class that breaks the contract.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """
    return []


@hookspec
def unlearnbench_add_presets() -> dict[str, dict[str, Any]]:
    """Return named presets: ``{name: {option: value}}`` with the keys of the TOML config.

    A preset is a bundle of run options (``unlearnbench run --preset NAME``); the config file and the command
    line override it. Keys and value types are validated like the config file's (``docs/configuration.md``).

    **When:** once per plugin that implements it, whenever a registry is built: by ``unlearnbench run``,
    ``unlearnbench list`` and ``unlearnbench plugins`` right after the plugins are loaded and after the
    ``unlearnbench_add_*`` class hooks (before ``unlearnbench_configure``), and again in each worker process
    of a multi-process executor. unlearnbench calls each implementation itself, with no arguments, in
    registration order.

    **Result:** a dict of presets, each a dict of options (return ``{}`` for none: unlike the class hooks,
    ``None`` is a plugin error here). Not ``firstresult``: the presets of all plugins are merged over the
    built-in ones in registration order, so a preset named like a built-in or an earlier plugin's preset
    replaces it.

    **If it raises:** a plugin error naming the plugin and the exception, exit code 4; so is a return value
    that is not a dict, or a preset that is not a dict of options.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """
    return {}


@hookspec
def unlearnbench_collection_modifyitems(session: Session, config: Config, items: list[Item]) -> None:
    """Called after collection; may filter or re-order ``items`` in place.

    :param session: the :class:`unlearnbench.session.Session` (its ``registry`` holds every method and
        metric).
    :param config: the run's ``Config``.
    :param items: the collected ``Item`` objects (``item_id``, ``method``, ``params``, ``merged_params``); the
        reference rows ``original`` and ``retrain`` come first. Remove items with slice assignment
        (``items[:] = [...]``).

    **When:** once per run, after ``unlearnbench_configure``: once grids are expanded, ``--method`` / ``-k``
    / ``--metric`` selection and de-duplication are applied and the reference rows are sorted first; before
    anything is trained. The items then run in the order the list has. Also called by ``--collect-only``, so
    the listing shows the modified collection. A list left empty ends the run with exit code 5 (no items
    collected).

    **Result:** returns nothing (the list is changed in place); not ``firstresult``: every implementation is
    called, later plugins first, each seeing the list as the ones before left it.

    **If it raises:** the run stops before anything is trained. A :class:`unlearnbench.UsageError` prints its
    one-line message and exits with code 4; any other exception prints ``INTERNALERROR`` with the traceback
    and exits with code 3.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """


@hookspec
def unlearnbench_runreport(report: ItemResult) -> None:
    """Called with each finished item's frozen result, as soon as it is complete.

    :param report: the item's :class:`unlearnbench.results.ItemResult`: ``item_id``, ``outcome`` (``passed``,
        ``failed``, ``error``, ``skipped``), per-seed values, ``summary`` (column → mean ± CI), ``errors``
        (metric name or ``"unlearn"`` → message with traceback) and ``notes``.

    Use it to stream results elsewhere (a tracker, a database, a chat message).

    **When:** once per item, in collection order, right after the item finished and was appended to the
    run's journal, before the next item starts. Items an earlier session of the same run directory finished
    (``--resume``, or a rerun into the same output dir) are taken from its journal and reported too, in
    their place. Not called for the items a ``--maxfail`` stop or Ctrl-C leaves unrun, nor under
    ``--collect-only``.

    **Result:** returns nothing; not ``firstresult``: every implementation is called, later plugins first.

    **If it raises:** the exception is not caught: the run stops at once, without
    ``unlearnbench_sessionfinish``. A :class:`unlearnbench.UsageError` prints its one-line message and exits
    with code 4; any other exception prints ``INTERNALERROR`` with the traceback and exits with code 3. The
    items finished so far are in the run's journal, so ``unlearnbench run --resume RUN_DIR`` continues from
    there.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """


@hookspec
def unlearnbench_sessionfinish(session: Session, results: RunResults, exitstatus: int) -> None:
    """Called once at the end of a run (also after Ctrl-C), with the final results.

    :param session: the :class:`unlearnbench.session.Session` that ran.
    :param results: the :class:`unlearnbench.results.RunResults` that ``results.json`` holds (already written
        when the hook runs, as is ``report.html``).
    :param exitstatus: the process exit code (0 all passed, 1 some item failed or errored, 2 interrupted).

    **When:** once per run, last: after every item ran (or Ctrl-C or ``--maxfail`` stopped the run) and the
    results were written. Not called under ``--collect-only``, when nothing was collected, or when the run
    stopped on an error (a usage error such as a full cache, or an exception raised by another hook).

    **Result:** returns nothing; not ``firstresult``: every implementation is called, later plugins first.

    **If it raises:** the exception is not caught: a :class:`unlearnbench.UsageError` prints its one-line
    message and exits with code 4; any other exception prints ``INTERNALERROR`` with the traceback and exits
    with code 3. ``results.json`` and the HTML report are already written either way.

    **Use in:** local plugins (``./plugins/*.py``), entry-point plugins (group ``unlearnbench``) and
    ``-p MODULE`` plugins.
    """
