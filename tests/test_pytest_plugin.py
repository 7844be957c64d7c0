"""The pytest plugin and the helpers of unlearnbench.testing that plugin authors use.

Fixtures are exercised in inner pytest sessions (pytester) that share this session's trained tiny
models; check_method / check_metric are run on good and on deliberately broken classes, and every
failure must name the class and the problem.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib
import torch
from torch import nn

import unlearnbench.runner.bench as runner  # Bench trains its reference models with this module's train
from unlearnbench.errors import MetricNotApplicable
from unlearnbench.metrics.accuracy import Accuracy
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import build_registry
from unlearnbench.runner import Bench
from unlearnbench.testing import (
    bench_argv,
    check_method,
    check_metric,
    eval_context,
    load_plugin,
    run_bench,
    split_loss,
)
from unlearnbench.testing_store import TESTING_CACHE_ENV, source_digest, store_dir

pytest_plugins = ["pytester"]

REPO_ROOT = Path(__file__).resolve().parent.parent
#: As pytest looks it up: every distribution on the path (a stale egg-info in a checkout may shadow the
#: installed metadata for importlib.metadata.entry_points, which keeps only the first of each name).
INSTALLED = any(
    ep.group == "pytest11" and ep.value == "unlearnbench.pytest_plugin"
    for dist in importlib.metadata.distributions()
    for ep in dist.entry_points
)
#: Inner sessions load the plugin through its entry point, or explicitly where the checkout is not installed.
PLUGIN_ARGS: tuple[str, ...] = () if INSTALLED else ("-p", "unlearnbench.pytest_plugin")


@pytest.fixture
def shared_store(unlearnbench_store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> Path:
    """Point inner sessions at this session's store of trained tiny models (nothing is trained twice)."""
    if unlearnbench_store.name == source_digest():
        root = unlearnbench_store.parent
    else:
        root = tmp_path_factory.mktemp("store-root")
        (root / source_digest()).symlink_to(unlearnbench_store)
    monkeypatch.setenv(TESTING_CACHE_ENV, str(root))
    return root


def test_entry_point_is_declared_and_importing_the_plugin_skips_torch() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"unlearnbench": "unlearnbench.pytest_plugin"}
    code = "import sys, unlearnbench.pytest_plugin; print(sorted(m for m in sys.modules if 'torch' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_store_dir_prefers_the_environment_then_pytests_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TESTING_CACHE_ENV, str(tmp_path / "env"))
    assert store_dir() == tmp_path / "env" / source_digest()
    monkeypatch.delenv(TESTING_CACHE_ENV)

    class NoCache:
        cache = None

    class WithCache:
        class cache:  # noqa: N801 - mimics pytest's config.cache
            @staticmethod
            def mkdir(name: str) -> Path:
                return tmp_path / ".pytest_cache" / "d" / name

    assert store_dir(NoCache()) is None  # type: ignore[arg-type]
    assert store_dir(WithCache()) == tmp_path / ".pytest_cache" / "d" / "unlearnbench" / source_digest()  # type: ignore[arg-type]
    assert (tmp_path / ".pytest_cache" / "d" / "unlearnbench" / source_digest()).is_dir()
    assert len(source_digest()) == 16 and source_digest() == source_digest()


FIXTURE_TESTS = """
import torch

from unlearnbench.api import Splits
from unlearnbench.data.pipeline import TensorData


def test_data_and_splits(tiny_bench, tiny_data, tiny_splits):
    assert tiny_bench.raw.name == "fake" and tiny_bench.model_name == "small_cnn"
    assert set(tiny_data) == {"train", "forget", "retain", "test", "val"}
    assert all(isinstance(v, TensorData) for v in tiny_data.values())
    assert isinstance(tiny_splits, Splits)
    assert len(tiny_data["forget"]) == len(tiny_splits.forget) == 26
    assert len(tiny_data["retain"]) + len(tiny_data["forget"]) == 256
    assert not set(tiny_splits.forget) & set(tiny_splits.retain)


def test_model_1_can_be_changed(tiny_model):
    assert tiny_model.training
    with torch.no_grad():
        for param in tiny_model.parameters():
            param.zero_()


def test_model_2_is_a_fresh_copy(tiny_model, tiny_bench):
    original = tiny_bench.original().state
    assert all(torch.equal(v, original[k]) for k, v in tiny_model.state_dict().items())


def test_warm_cache_1_holds_the_tiny_runs_models(warm_cache):
    assert len(list(warm_cache.rglob("*.pt"))) >= 5  # original, 2 reference oracles, 2 for the retrain row
    (warm_cache / "scribble").write_text("x")


def test_warm_cache_2_is_private(warm_cache):
    assert not (warm_cache / "scribble").exists()
"""


def test_fixtures_in_a_plugin_authors_session(pytester: pytest.Pytester, shared_store: Path) -> None:
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "-q")
    result.assert_outcomes(passed=5)


def test_run_bench_with_a_warm_cache_trains_no_reference_model(
    warm_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_training(*_: object, **__: object) -> None:
        raise AssertionError("a warm cache must not train the original or an oracle")

    monkeypatch.setattr(runner, "train", no_training)
    results = run_bench(methods=["finetune[epochs=1,lr=0.01]"], metrics=["accuracy"], cache_dir=warm_cache)
    assert [i.item_id for i in results.items] == ["original", "retrain", "finetune[epochs=1,lr=0.01]"]
    assert results.seeds == (0, 1) and results.oracle_seeds == (0, 1)
    assert all(item.outcome == "passed" for item in results.items)
    assert results.item("original").summary["accuracy.RA"].mean == 1.0


def test_run_bench_raises_with_the_message_of_a_usage_error(warm_cache: Path) -> None:
    expected = r"exited with code 4:\n.*unknown method 'finetun'. Did you mean: finetune"
    with pytest.raises(AssertionError, match=expected):
        run_bench(methods=["finetun"], cache_dir=warm_cache)


def test_bench_argv_maps_options_to_flags(tmp_path: Path) -> None:
    argv = bench_argv(
        ["--epochs", "3"], methods=["a", "b[x=1]"], metrics=["accuracy"], plugins=["my.plugin"],
        forget="class:1", collect_only=True, no_cache=False, time_budget=None, dataset_option=["k=1"],
        output_dir=tmp_path,
    )  # fmt: skip
    assert argv == [
        "run", "--preset", "fake", "-q", "--seeds", "2", "--oracles", "2", "--method", "a",
        "--method", "b[x=1]", "--metric", "accuracy", "-p", "my.plugin", "--no-cache", "--forget", "class:1",
        "--collect-only", "--dataset-option", "k=1", "--output-dir", str(tmp_path), "--epochs", "3",
    ]  # fmt: skip
    assert bench_argv(cache_dir=tmp_path, seeds=4)[4:8] == ["--seeds", "4", "--oracles", "2"]
    assert bench_argv(cache_dir=tmp_path)[-2:] == ["--cache-dir", str(tmp_path)]


# --------------------------------------------------------------------------- check_method


class Identity:
    name = "identity_check"
    description = "Returns the model unchanged"

    def unlearn(self, model: nn.Module, ctx: Any) -> nn.Module:
        return model


class OneEpoch:
    name = "one_epoch_check"
    description = "One epoch of fine-tuning on retain"
    defaults = {"lr": 0.01}

    def unlearn(self, model: nn.Module, ctx: Any) -> nn.Module:
        ctx.train(model, ctx.retain, epochs=1, lr=float(ctx.params["lr"]), augment=False)
        return model


def test_check_method_passes_good_methods(tiny_bench: Bench) -> None:
    assert check_method(Identity, bench=tiny_bench).after is not None
    run = check_method(OneEpoch, {"lr": 0.05}, bench=tiny_bench)
    assert run.ctx.params == {"lr": 0.05}
    assert split_loss(run.after, tiny_bench, "retain") != split_loss(run.before, tiny_bench, "retain")


def method(name: str, unlearn: Any, **attrs: Any) -> type:
    base = {"name": name.lower(), "description": "broken on purpose", "unlearn": unlearn}
    return type(name, (), {**base, **attrs})


def _returns_none(self: Any, model: nn.Module, ctx: Any) -> None:
    return None


def _returns_linear(self: Any, model: nn.Module, ctx: Any) -> nn.Module:
    return nn.Linear(3, 4)


def _touches_original(self: Any, model: nn.Module, ctx: Any) -> nn.Module:
    with torch.no_grad():
        next(ctx.original.parameters()).add_(1.0)
    return model


def _nan_weights(self: Any, model: nn.Module, ctx: Any) -> nn.Module:
    with torch.no_grad():
        next(model.parameters()).fill_(math.nan)
    return model


_CALLS = itertools.count()


def _drifts(self: Any, model: nn.Module, ctx: Any) -> nn.Module:
    with torch.no_grad():
        next(model.parameters()).add_(0.1 * next(_CALLS))  # a different model every call
    return model


def _raises(self: Any, model: nn.Module, ctx: Any) -> nn.Module:
    raise RuntimeError("boom in unlearn")


def _needs_argument(self: Any, sigma: float) -> None:
    self.sigma = sigma


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (method("ReturnsNone", _returns_none), r"unlearn returned NoneType, not a torch.nn.Module"),
        (method("ReturnsLinear", _returns_linear),
         r"returned a model whose parameters differ from the original's: missing features\.0\.0\.weight"),
        (method("TouchesOriginal", _touches_original),
         r"unlearn modified ctx.original \(features\.0\.0\.weight\)"),
        (method("NanWeights", _nan_weights), r"non-finite logits on forget, retain, test, val"),
        (method("Drifts", _drifts), r"two runs with seed 0 give different models \(logits differ on forget"),
        (method("Raises", _raises), r"unlearn raised RuntimeError: boom in unlearn"),
        (method("NoDescription", _returns_none, description=""), r"method 'nodescription' needs a non-empty"),
        (method("NeedsArgument", _raises, __init__=_needs_argument),
         r"must be instantiable with no arguments, but __init__ requires 'sigma'"),
        (method("BadGrid", _raises, grid={"lr": 0.1}), r"has a bad 'grid': grid values must be lists"),
    ],
)  # fmt: skip
def test_check_method_names_the_class_and_the_problem(tiny_bench: Bench, cls: type, message: str) -> None:
    with pytest.raises(AssertionError, match=rf"^test_pytest_plugin\.{cls.__name__}: .*{message}"):
        check_method(cls, bench=tiny_bench)


# --------------------------------------------------------------------------- check_metric


class ForgetLoss:
    name = "forget_loss_check"
    description = "Mean forget loss"
    higher_is_better = None

    def compute(self, ctx: Any) -> float:
        return float(ctx.losses("forget").mean())


COLUMNS = ("forget", "test")


class TwoColumns:
    name = "two_columns_check"
    description = "Forget and test accuracy"
    columns = ("forget", "test")
    higher_is_better = {"forget": None, "test": True}
    needs = frozenset({"outputs", "model", "data"})

    def compute(self, ctx: Any) -> dict[str, float]:
        assert ctx.model is not None and ctx.data is not None
        return {s: float((ctx.outputs[s].argmax(1) == ctx.labels[s]).mean()) for s in self.columns}


def test_check_metric_passes_good_metrics_and_returns_their_values(tiny_bench: Bench) -> None:
    values = check_metric(ForgetLoss, bench=tiny_bench)
    original = tiny_bench.model_from_state(tiny_bench.original().state)
    assert list(values) == ["forget_loss_check"]
    assert math.isclose(values["forget_loss_check"], split_loss(original, tiny_bench, "forget"), rel_tol=1e-4)
    outputs, labels = tiny_bench.original().outputs, tiny_bench.labels
    expected = {f"two_columns_check.{s}": float(np.mean(outputs[s].argmax(1) == labels[s])) for s in COLUMNS}
    assert check_metric(TwoColumns, bench=tiny_bench) == expected


def metric(name: str, compute: Any, **attrs: Any) -> type:
    base = {"name": name.lower(), "description": "broken", "higher_is_better": True, "compute": compute}
    return type(name, (), {**base, **attrs})


class Counter:
    """Instance state that changes the value: identical inputs give different values."""

    name = "counter"
    description = "broken on purpose"
    higher_is_better = True

    def __init__(self) -> None:
        self.calls = 0

    def compute(self, ctx: Any) -> float:
        self.calls += 1
        return float(self.calls)


def _mutates(self: Any, ctx: Any) -> float:
    ctx.outputs.logits["forget"][:] = 0.0
    return 1.0


def _not_applicable(self: Any, ctx: Any) -> float:
    raise MetricNotApplicable("needs 50 oracles")


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (metric("Nan", lambda self, ctx: math.nan),
         r"compute returned nan for nan on the original model; it must be finite"),
        (metric("Raises", lambda self, ctx: 1 / 0), r"compute raised ZeroDivisionError: division by zero"),
        (metric("Text", lambda self, ctx: "high"), r"compute returned 'high' for text, not a number"),
        (metric("Random", lambda self, ctx: float(np.random.rand())),
         r"identical inputs gave different values"),
        (Counter, r"identical inputs gave different values \(\{'counter': 1.0\} vs \{'counter': 2.0\}"),
        (metric("Mutates", _mutates), r"compute modified its inputs"),
        (metric("NotApplicable", _not_applicable),
         r"MetricNotApplicable on the tiny bench \(on the original model, 2 replicates, 2 oracles\): needs"),
        (metric("Undeclared", lambda self, ctx: {"a": 1.0, "z": 2.0}, columns=("a", "b"),
                higher_is_better={"a": True, "b": True}), r"returned column\(s\) z that it does not declare"),
        (metric("NoDirection", lambda self, ctx: {"a": 1.0, "b": 2.0}, higher_is_better={"a": True}),
         r"higher_is_better has no entry for column\(s\) b"),
        (metric("SingleButColumns", lambda self, ctx: 1.0, columns=("a",), higher_is_better={"a": True}),
         r"declares columns \['a'\] but compute returned a single value"),
        (metric("SingleButDict", lambda self, ctx: 1.0, higher_is_better={"singlebutdict": True}),
         r"returns one value, so higher_is_better must be True, False or None"),
        (metric("BadScope", lambda self, ctx: 1.0, scope="everything"), r"has scope 'everything'"),
        (metric("BadNeeds", lambda self, ctx: 1.0, needs={"gradients"}),
         r"needs unknown kind\(s\) 'gradients'"),
        (type("NoDirectionAtAll", (), {"name": "x", "description": "d", "compute": lambda self, ctx: 1.0}),
         r"metric 'x' needs 'higher_is_better'"),
    ],
)  # fmt: skip
def test_check_metric_names_the_class_and_the_problem(tiny_bench: Bench, cls: type, message: str) -> None:
    with pytest.raises(AssertionError, match=rf"^test_pytest_plugin\.{cls.__name__}: .*{message}"):
        check_metric(cls, bench=tiny_bench)


def test_every_builtin_metric_passes_check_metric(tiny_bench: Bench) -> None:
    registry = build_registry(build_plugin_manager(use_entry_points=False))
    builtin = {n: e for n, e in registry.metrics.items() if e.origin == "built-in"}
    assert {"accuracy", "simple_mia", "forgetting_quality", "runtime"} <= set(builtin)
    for entry in builtin.values():
        values = check_metric(entry.cls, bench=tiny_bench, replicates=3)  # F needs S = 3 with R = 2
        assert values and all(math.isfinite(v) for v in values.values()), entry.name


def test_eval_context_checks_a_metric_by_hand() -> None:
    logits = {s: np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]) for s in ("forget", "retain", "test", "val")}
    labels = {"forget": [0, 0, 1], "retain": [0, 1, 0], "test": [1, 1, 1], "val": [0, 1, 1]}
    ctx = eval_context(logits, labels)
    assert ctx.num_classes == 2 and ctx.replicates == [ctx.outputs] and ctx.oracle_outputs == []
    expected = {"RA": 1.0, "FA": 1 / 3, "UA": 2 / 3, "TA": 1 / 3, "VA": 2 / 3}
    assert Accuracy().compute(ctx) == pytest.approx(expected)
    loss = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert ctx.losses("retain")[0] == pytest.approx(loss, rel=1e-6)


# --------------------------------------------------------------------------- load_plugin

PLUGIN = """
from unlearnbench import hookimpl


class Shrink:
    name = "shrink_loaded"
    description = "Returns the model (test plugin)"

    def unlearn(self, model, ctx):
        return model


@hookimpl
def unlearnbench_add_methods():
    return [Shrink]


@hookimpl
def unlearnbench_add_presets():
    return {"tiny_shrink": {"dataset": "fake", "methods": ["shrink_loaded"]}}
"""


def test_load_plugin_from_a_file_a_module_name_and_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "shrink.py").write_text(PLUGIN)
    loaded = load_plugin("plugins/shrink.py")
    assert (loaded.name, loaded.origin) == ("shrink", "local file")
    assert loaded.location == str(tmp_path / "plugins" / "shrink.py")
    assert loaded.hooks == ("unlearnbench_add_methods", "unlearnbench_add_presets")
    assert list(loaded.methods) == ["shrink_loaded"] and loaded.metrics == {} and loaded.models == {}
    assert loaded.presets == {"tiny_shrink": {"dataset": "fake", "methods": ["shrink_loaded"]}}

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "ub_loaded_mod.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    by_name = load_plugin("ub_loaded_mod")
    assert by_name.origin == "-p" and list(by_name.methods) == ["shrink_loaded"]
    by_module = load_plugin(sys.modules["ub_loaded_mod"])
    assert by_module.methods == by_name.methods
    sys.modules.pop("ub_loaded_mod", None)
    sys.modules.pop("unlearnbench_local_plugins.shrink", None)


def test_load_plugin_turns_plugin_errors_into_assertions(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(textwrap.dedent(PLUGIN).replace("shrink_loaded", "finetune"))
    with pytest.raises(AssertionError, match=r"method name 'finetune' is already registered by built-in"):
        load_plugin(tmp_path / "broken.py")
    with pytest.raises(AssertionError, match=r"plugin file nowhere\.py does not exist"):
        load_plugin("nowhere.py")
    with pytest.raises(AssertionError, match=r"could not import -p plugin no_such_plugin_zz"):
        load_plugin("no_such_plugin_zz")
    sys.modules.pop("unlearnbench_local_plugins.broken", None)
