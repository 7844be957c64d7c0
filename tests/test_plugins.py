"""Plugin discovery (built-ins, entry points, ./plugins, -p, -p no:) and broken plugins."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from unlearnbench.errors import PluginError
from unlearnbench.plugins import build_plugin_manager, builtin_module_names
from unlearnbench.registry import build_registry

MY_METHOD = """
from unlearnbench import hookimpl


class MyMethod:
    name = "my_method"
    description = "Does nothing, for tests (Nobody et al. 2026)"

    def unlearn(self, model, ctx):
        return model


@hookimpl
def unlearnbench_add_methods():
    return [MyMethod]
"""


def write_plugin(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return path


def test_builtins_are_registered_and_named_after_their_files() -> None:
    registry = build_registry(build_plugin_manager(use_entry_points=False))
    for module in builtin_module_names():
        package, stem = module.rsplit(".", 1)
        kind = {"unlearnbench.methods": "methods", "unlearnbench.metrics": "metrics",
                "unlearnbench.data": "datasets", "unlearnbench.models": "models",
                "unlearnbench.executors": "executors"}[package]  # fmt: skip
        entries = getattr(registry, kind)
        if not any(name.startswith("unlearnbench_add_") for name in vars(importlib.import_module(module))):
            continue  # helper modules (pipeline, splits, stats) register nothing
        assert stem in entries, f"{module} does not register a {kind[:-1]} named {stem!r}"
        assert entries[stem].origin == "built-in"
    assert {"original", "retrain", "finetune"} <= set(registry.methods)
    assert {"accuracy", "simple_mia", "gold_standard", "runtime"} <= set(registry.metrics)
    assert {"digits", "cifar10", "fake"} <= set(registry.datasets)
    assert {"resnet18", "resnet18_cifar", "small_cnn"} <= set(registry.models)


def test_local_plugins_folder(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "mine", MY_METHOD)
    plugins = build_plugin_manager(use_entry_points=False)
    registry = build_registry(plugins)
    assert registry.methods["my_method"].origin == "local file"
    assert plugins.infos["mine"].hooks == ("unlearnbench_add_methods",)


def test_plugins_dir_option(tmp_path: Path) -> None:
    write_plugin(tmp_path / "elsewhere", "mine", MY_METHOD)
    registry = build_registry(
        build_plugin_manager(plugins_dir=tmp_path / "elsewhere", use_entry_points=False)
    )
    assert "my_method" in registry.methods


def test_dash_p_module_and_blocking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin(tmp_path / "pkgdir", "ub_dash_p_plugin", MY_METHOD)
    monkeypatch.syspath_prepend(str(tmp_path / "pkgdir"))
    registry = build_registry(build_plugin_manager(["ub_dash_p_plugin"], use_entry_points=False))
    assert registry.methods["my_method"].origin == "-p"
    blocked = build_registry(build_plugin_manager(["no:finetune"], use_entry_points=False))
    assert "finetune" not in blocked.methods and "original" in blocked.methods
    sys.modules.pop("ub_dash_p_plugin", None)


def test_entry_point_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    write_plugin(site, "ub_ep_plugin", MY_METHOD)
    dist = site / "ub_ep_dist-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ub-ep-dist\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[unlearnbench]\nmyplug = ub_ep_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    plugins = build_plugin_manager()
    registry = build_registry(plugins)
    assert registry.methods["my_method"].origin == "entry point"
    assert plugins.infos["myplug"].version == "1.2.3"
    assert "my_method" not in build_registry(build_plugin_manager(["no:myplug"])).methods
    sys.modules.pop("ub_ep_plugin", None)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import does_not_exist_zz\n", r"could not import local plugin .*broken.py: ModuleNotFoundError"),
        ("from unlearnbench import hookimpl\n@hookimpl\ndef unlearnbench_add_methodz():\n    return []\n",
         r"broken.py.*unlearnbench_add_methodz"),
        ("from unlearnbench import hookimpl\n@hookimpl\ndef unlearnbench_runreport(report, extra):\n    pass\n",
         r"broken.py breaks the hook contract"),
        ("from unlearnbench import hookimpl\nclass M:\n    name = 'finetune'\n    description = 'dup'\n"
         "    def unlearn(self, model, ctx):\n        return model\n"
         "@hookimpl\ndef unlearnbench_add_methods():\n    return [M]\n",
         r"broken.py: method name 'finetune' is already registered by built-in"),
        ("from unlearnbench import hookimpl\nclass M:\n    name = 'm'\n"
         "@hookimpl\ndef unlearnbench_add_methods():\n    return [M]\n",
         r"broken.py: method 'm' needs a non-empty 'description'"),
        ("from unlearnbench import hookimpl\nclass M:\n    name = 'm'\n    description = 'x'\n"
         "@hookimpl\ndef unlearnbench_add_methods():\n    return [M]\n",
         r"broken.py: method 'm' needs a method 'unlearn'"),
        ("from unlearnbench import hookimpl\nclass M:\n    name = 'm'\n    description = 'x'\n"
         "    def compute(self, ctx):\n        return 1.0\n"
         "@hookimpl\ndef unlearnbench_add_metrics():\n    return [M]\n",
         r"metric 'm' needs 'higher_is_better'"),
        ("from unlearnbench import hookimpl\n@hookimpl\ndef unlearnbench_add_methods():\n"
         "    raise RuntimeError('boom')\n",
         r"broken.py: unlearnbench_add_methods raised RuntimeError: boom"),
    ],
)  # fmt: skip
def test_broken_plugins_name_the_file(tmp_path: Path, source: str, message: str) -> None:
    write_plugin(tmp_path / "plugins", "broken", source)
    with pytest.raises(PluginError, match=message):
        build_registry(build_plugin_manager(use_entry_points=False))
    sys.modules.pop("unlearnbench_local_plugins.broken", None)


def test_unknown_dash_p_module() -> None:
    with pytest.raises(PluginError, match="could not import -p plugin nope_zz_module"):
        build_plugin_manager(["nope_zz_module"], use_entry_points=False)
