"""Every way a plugin can be broken gives a message naming the plugin and the problem.

Complements tests/test_plugins.py (import error of a local file, unknown hook, bad hook argument,
duplicate name, missing description / unlearn / higher_is_better, a raising hook) and tests/test_cli.py
(an exception inside ``unlearn``): here the remaining attribute errors, entry-point failures, hooks
without ``@hookimpl``, a plugin loaded twice, NaN inside ``unlearn`` and failures inside ``compute``,
and what ``unlearnbench plugins`` shows.
"""

from __future__ import annotations

import math
import re
import sys
import textwrap
from pathlib import Path

import pytest

from unlearnbench.cli import main
from unlearnbench.errors import PluginError
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import build_registry
from unlearnbench.testing import run_bench

HEADER = "from unlearnbench import hookimpl\n"
METHOD_HOOK = "@hookimpl\ndef unlearnbench_add_methods():\n    return [M]\n"
METRIC_HOOK = "@hookimpl\ndef unlearnbench_add_metrics():\n    return [M]\n"


def method_source(body: str) -> str:
    """A plugin with one method class ``M`` whose class body is ``body`` (plus a working unlearn)."""
    lines = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    unlearn = "    def unlearn(self, model, ctx):\n        return model\n"
    return f"{HEADER}class M:\n{lines}\n{unlearn}{METHOD_HOOK}"


def metric_source(body: str) -> str:
    """A plugin with one metric class ``M`` whose class body is ``body`` (plus a working compute)."""
    lines = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    compute = "    def compute(self, ctx):\n        return 1.0\n"
    return f"{HEADER}class M:\n{lines}\n{compute}{METRIC_HOOK}"


def load_broken(folder: Path, source: str) -> None:
    (folder / "plugins").mkdir(exist_ok=True)
    (folder / "plugins" / "broken.py").write_text(source)
    try:
        build_registry(build_plugin_manager(use_entry_points=False))
    finally:
        sys.modules.pop("unlearnbench_local_plugins.broken", None)


OK_METHOD = "name = 'm'\ndescription = 'd'\n"
OK_METRIC = "name = 'm'\ndescription = 'd'\nhigher_is_better = True\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (method_source("name = 3\ndescription = 'd'"), r"method class M needs a 'name' string"),
        (method_source("name = 'two words'\ndescription = 'd'"), r"method class M needs a 'name' string"),
        (method_source("name = 'm'\ndescription = '   '"), r"method 'm' needs a non-empty 'description'"),
        (method_source(OK_METHOD + "grid = 'lr'"), r"method 'm' has a 'grid' that is neither a dict"),
        (method_source(OK_METHOD + "grid = {'lr': 0.1}"),
         r"method 'm' has a bad 'grid': grid values must be lists, got 0.1 for 'lr'"),
        (method_source(OK_METHOD + "grid = [1, 2]"),
         r"method 'm' has a bad 'grid': its points must be dicts, not 1"),
        (method_source(OK_METHOD + "defaults = [('lr', 1)]"),
         r"method 'm' has 'defaults' that is not a dict"),
        (method_source(OK_METHOD + "def __init__(self, lr):\n    self.lr = lr"),
         r"method 'm' must be instantiable with no arguments, but __init__ requires 'lr'"),
        (metric_source(OK_METRIC + "scope = 'global'"),
         r"metric 'm' has scope 'global'; use 'model' or 'population'"),
        (metric_source(OK_METRIC + "needs = {'outputs', 'weights'}"),
         r"metric 'm' needs unknown kind\(s\) 'weights'; choose from data, model, "),
        (metric_source(OK_METRIC + "needs = 'outputs'"), r"metric 'm' has 'needs' = 'outputs'; use a set"),
        (metric_source(OK_METRIC + "scope = 'population'\nneeds = {'model'}"),
         r"metric 'm' has scope 'population' but needs 'model'"),
        (metric_source(OK_METRIC + "columns = 'ab'"),
         r"metric 'm' has 'columns' = 'ab'; use a tuple of strings"),
        (metric_source("name = 'm'\ndescription = 'd'\nhigher_is_better = 'yes'"),
         r"metric 'm' has higher_is_better = 'yes'; use True, False, None"),
        (metric_source("name = 'm'\ndescription = 'd'\ncolumns = ('a', 'b')\nhigher_is_better = {'a': True}"),
         r"metric 'm' declares no higher_is_better for column\(s\) 'b'"),
        (f"{HEADER}@hookimpl\ndef unlearnbench_add_methods():\n    return 'M'\n",
         r"unlearnbench_add_methods must return a list of classes, got str"),
        (f"{HEADER}@hookimpl\ndef unlearnbench_add_metrics():\n    return [len]\n",
         r"unlearnbench_add_metrics must return classes, got <built-in function len>"),
    ],
)  # fmt: skip
def test_broken_classes_name_the_plugin_file(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(PluginError, match=r"local file .*broken\.py: " + message):
        load_broken(tmp_path, source)


def test_unknown_hook_suggests_the_right_name(tmp_path: Path) -> None:
    source = f"{HEADER}@hookimpl\ndef unlearnbench_add_method():\n    return []\n"
    with pytest.raises(PluginError) as info:
        load_broken(tmp_path, source)
    assert str(info.value) == (
        f"local file {tmp_path / 'plugins' / 'broken.py'}: unknown hook 'unlearnbench_add_method'. "
        "Did you mean: unlearnbench_add_methods, unlearnbench_add_models, unlearnbench_add_metrics?"
    )


def test_unknown_hook_argument_is_one_line_naming_what_the_hook_provides(tmp_path: Path) -> None:
    source = f"{HEADER}@hookimpl\ndef unlearnbench_sessionfinish(session, results, exit_code):\n    pass\n"
    with pytest.raises(PluginError) as info:
        load_broken(tmp_path, source)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith(
        "breaks the hook contract: unlearnbench_sessionfinish(session, results, exit_code) asks for "
        "'exit_code', which the hook does not provide; unlearnbench_sessionfinish provides "
        "(session, results, exitstatus)"
    )


def test_hook_without_hookimpl_is_an_error_not_silence(tmp_path: Path) -> None:
    source = "class M:\n    name = 'm'\n\ndef unlearnbench_add_methods():\n    return [M]\n"
    with pytest.raises(PluginError) as info:
        load_broken(tmp_path, source)
    assert str(info.value).endswith(
        "broken.py: function unlearnbench_add_methods is not marked as a hook implementation; "
        "decorate it with @hookimpl (from unlearnbench import hookimpl)"
    )


def fake_distribution(site: Path, dist: str, version: str, module: str, source: str) -> None:
    """An installed distribution (dist-info with an entry point of group unlearnbench) on ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[unlearnbench]\n{module} = {module}\n")


def test_entry_point_import_error_names_the_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = "raise ImportError('no cuda')\n"
    fake_distribution(tmp_path / "site", "ub-err-dist", "2.0.1", "ub_err_plugin", source)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(PluginError) as info:
        build_plugin_manager()
    assert str(info.value) == (
        "could not import entry point plugin ub_err_plugin (ub-err-dist 2.0.1): ImportError: no cuda"
    )
    sys.modules.pop("ub_err_plugin", None)


def test_installed_plugin_named_again_with_dash_p(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module an installed entry point loads, named again with -p (pluggy would refuse it obscurely)."""
    fake_distribution(tmp_path / "site", "ub-twice", "1.0", "ub_twice_plugin", method_source(OK_METHOD))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(PluginError, match=re.escape(
        "plugin -p ub_twice_plugin is already loaded as entry point ub-twice 1.0; load it only once"
    )):  # fmt: skip
        build_plugin_manager(["ub_twice_plugin"])
    assert "m" in build_registry(build_plugin_manager()).methods  # loaded once it is fine
    sys.modules.pop("ub_twice_plugin", None)


def test_plugins_command_shows_versions_and_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_distribution(tmp_path / "site", "ub-listed", "3.1.4", "ub_listed_plugin", method_source(OK_METHOD))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "plugins").mkdir()
    local = tmp_path / "plugins" / "mine.py"
    local.write_text(metric_source(OK_METRIC))
    monkeypatch.setenv("COLUMNS", "250")  # one row per plugin: nothing is folded
    assert main(["plugins"]) == 0
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines() if "│" in line}
    installed, mine, builtin = rows["ub_listed_plugin"], rows["mine"], rows["unlearnbench.methods.finetune"]
    assert re.search(r"entry point 3\.1\.4 .*ub-listed 3\.1\.4\s+\[unlearnbench_add_methods\]", installed)
    assert re.search(r"local file .*" + re.escape(str(local)) + r"\s+\[unlearnbench_add_metrics\]", mine)
    assert re.search(r"built-in 0\.1\.0 .*methods\.finetune\s+\[unlearnbench_add_methods\]", builtin)
    sys.modules.pop("ub_listed_plugin", None)
    sys.modules.pop("unlearnbench_local_plugins.mine", None)


FAILING_AT_RUN_TIME = """
import math

import torch

from unlearnbench import hookimpl


class NanWeights:
    name = "nan_weights"
    description = "Fills every weight with NaN (test plugin)"

    def unlearn(self, model, ctx):
        with torch.no_grad():
            for param in model.parameters():
                param.fill_(float("nan"))
        return model


class ReturnsNothing:
    name = "returns_nothing"
    description = "Forgets to return the model (test plugin)"

    def unlearn(self, model, ctx):
        ctx.train(model, ctx.retain, epochs=1, augment=False)


class RaisingMetric:
    name = "raising_metric"
    description = "Raises inside compute (test plugin)"
    higher_is_better = True

    def compute(self, ctx):
        raise ZeroDivisionError("no forget examples left")


class NanMetric:
    name = "nan_metric"
    description = "Returns NaN for one column (test plugin)"
    columns = ("ok", "bad")
    higher_is_better = {"ok": True, "bad": None}

    def compute(self, ctx):
        return {"ok": 1.0, "bad": math.nan}


@hookimpl
def unlearnbench_add_methods():
    return [NanWeights, ReturnsNothing]


@hookimpl
def unlearnbench_add_metrics():
    return [RaisingMetric, NanMetric]
"""


def test_failures_inside_unlearn_and_compute_become_failed_items_and_error_cells(
    tmp_path: Path, warm_cache: Path
) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "failing.py").write_text(FAILING_AT_RUN_TIME)
    results = run_bench(
        methods=["nan_weights", "returns_nothing"],
        metrics=["accuracy", "raising_metric", "nan_metric"],
        cache_dir=warm_cache,
    )
    assert results.exit_status == 1
    nan = results.item("nan_weights")
    assert nan.outcome == "failed" and set(nan.errors) == {"unlearn"}
    assert "the unlearned model produces non-finite logits (NaN or inf weights?)" in nan.errors["unlearn"]
    nothing = results.item("returns_nothing")
    assert nothing.outcome == "failed"
    assert "unlearn returned NoneType, expected a torch.nn.Module" in nothing.errors["unlearn"]
    original = results.item("original")  # methods that work get error cells from the broken metrics
    assert original.outcome == "error" and set(original.errors) == {"raising_metric", "nan_metric"}
    assert "ZeroDivisionError: no forget examples left" in original.errors["raising_metric"]
    assert "non-finite value for nan_metric.bad" in original.errors["nan_metric"]
    assert "raising_metric" not in original.summary and "nan_metric.bad" not in original.summary
    assert math.isclose(original.summary["accuracy.RA"].mean, original.seeds[0].values["accuracy.RA"])
    sys.modules.pop("unlearnbench_local_plugins.failing", None)


def test_constructor_errors_are_isolated_or_named(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A method whose constructor raises fails its item; a metric's names the plugin (exit 4)."""
    from unlearnbench.cli import main
    from unlearnbench.results import load

    (tmp_path / "plugins").mkdir(exist_ok=True)
    (tmp_path / "plugins" / "ctor.py").write_text(
        "from unlearnbench import hookimpl\n"
        "class Boom:\n    name = 'boom_ctor'\n    description = 'raises in __init__ (test)'\n"
        "    def __init__(self):\n        raise RuntimeError('no')\n"
        "    def unlearn(self, model, ctx):\n        return model\n"
        "@hookimpl\ndef unlearnbench_add_methods():\n    return [Boom]\n"
    )
    code = main(["run", "--preset", "fake", "-q", "--method", "boom_ctor", "--metric", "accuracy", "--output-dir", "o"])
    assert code == 1
    item = load(tmp_path / "o" / "results.json").item("boom_ctor")
    assert item.outcome == "failed" and "boom_ctor() raised" in item.errors["unlearn"]
    (tmp_path / "plugins" / "ctor.py").write_text(
        "from unlearnbench import hookimpl\n"
        "class BadMetric:\n    name = 'bad_ctor'\n    description = 'raises in __init__ (test)'\n"
        "    higher_is_better = True\n"
        "    def __init__(self):\n        raise RuntimeError('nope')\n"
        "    def compute(self, ctx):\n        return 1.0\n"
        "@hookimpl\ndef unlearnbench_add_metrics():\n    return [BadMetric]\n"
    )
    capsys.readouterr()
    code = main(["run", "--preset", "fake", "-q", "--method", "finetune[epochs=1,lr=0.01]", "--output-dir", "p"])
    err = capsys.readouterr().err
    assert code == 4 and "ctor.py" in err and "constructor raised RuntimeError: nope" in err
