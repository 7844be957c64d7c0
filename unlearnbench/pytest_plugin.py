"""The pytest plugin for plugin authors (entry point ``pytest11``: ``unlearnbench``).

Installed with unlearnbench, it gives every test session these fixtures (each built on first use):

``tiny_bench``
    the memoised tiny run on ``fake`` data (:func:`unlearnbench.testing.tiny_bench`); read-only.
``tiny_data``
    a dict of its :class:`~unlearnbench.data.pipeline.TensorData` splits (``train``, ``forget``,
    ``retain``, ``test``, ``val``).
``tiny_splits``
    its :class:`~unlearnbench.api.Splits` (index arrays).
``tiny_model``
    a fresh copy of its original model, in train mode, as ``unlearn`` receives it.
``warm_cache``
    a private cache folder in which the original and the oracles of the tiny run already exist, for
    :func:`unlearnbench.testing.run_bench` (``cache_dir=warm_cache``): a bench then only runs the methods.

Trained tiny models are stored once per project in pytest's cache folder
(``.pytest_cache/d/unlearnbench``, cleared by ``pytest --cache-clear``) or in
``$UNLEARNBENCH_TESTING_CACHE_DIR``, under a digest of the unlearnbench code that produces them, so a
second session trains nothing. Importing this module is cheap (no torch): every fixture imports what it
needs when it runs, because the plugin is loaded by every pytest session of an environment that has
unlearnbench installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from unlearnbench.testing_store import forget_config, store_dir, track_config

if TYPE_CHECKING:
    from torch import nn

    from unlearnbench.api import Splits
    from unlearnbench.data.pipeline import TensorData
    from unlearnbench.runner import Bench

def pytest_configure(config: pytest.Config) -> None:
    """Remember the session's configuration, for :func:`~unlearnbench.testing_store.store_dir` outside fixtures."""
    track_config(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Forget the configuration of a finished session."""
    forget_config(config)


@pytest.fixture(scope="session")
def unlearnbench_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of trained tiny models (persistent when pytest's cache is enabled)."""
    path = store_dir(request.config)
    return path if path is not None else tmp_path_factory.mktemp("unlearnbench-store")


@pytest.fixture(scope="session")
def tiny_bench(unlearnbench_store: Path) -> Bench:
    """The tiny fake-data bench (memoised per process; treat it as read-only)."""
    from unlearnbench.testing import tiny_bench as build

    return build(cache_dir=str(unlearnbench_store))


@pytest.fixture
def tiny_data(tiny_bench: Bench) -> dict[str, TensorData]:
    """The tiny bench's splits as TensorData: train, forget, retain, test, val."""
    return dict(tiny_bench.data)


@pytest.fixture
def tiny_splits(tiny_bench: Bench) -> Splits:
    """The tiny bench's split indices."""
    return tiny_bench.splits


@pytest.fixture
def tiny_model(tiny_bench: Bench) -> nn.Module:
    """A fresh copy of the tiny bench's original model, in train mode (what ``unlearn`` receives)."""
    from unlearnbench.testing import fresh_original

    return fresh_original(tiny_bench)


@pytest.fixture(scope="session")
def _unlearnbench_warm_store(unlearnbench_store: Path) -> Path:
    from unlearnbench.testing import warm_up

    return warm_up(unlearnbench_store)


@pytest.fixture
def warm_cache(_unlearnbench_warm_store: Path, tmp_path: Path) -> Path:
    """A private copy of a cache in which the tiny run's original and oracles are already trained."""
    target = tmp_path / "unlearnbench-cache"
    shutil.copytree(_unlearnbench_warm_store, target, ignore=shutil.ignore_patterns(".lock", "*.tmp"))
    return target
