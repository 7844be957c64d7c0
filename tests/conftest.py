"""Shared fixtures: every test runs in its own working directory with a shared, isolated cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def cifar10_npz() -> Path | None:
    """The real CIFAR-10 .npz: $UNLEARNBENCH_CIFAR10, else ../shared/data/cifar10.npz beside the repository."""
    candidates = [
        os.environ.get("UNLEARNBENCH_CIFAR10"),
        str(REPO_ROOT.parent / "shared" / "data" / "cifar10.npz"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the whole test session (trained digits models are reused)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEARNBENCH_CACHE_DIR", str(shared_cache))
    monkeypatch.chdir(tmp_path)
    # In-process sessions skip the thread policy's busy-core sample: a test's numbers must not depend on
    # what else the machine runs (tests/test_threads.py checks the sample itself).
    import unlearnbench.threads

    monkeypatch.setattr(unlearnbench.threads, "SAMPLE_SECONDS", 0.0)


@pytest.fixture(autouse=True)
def _threads_unchanged() -> Iterator[None]:
    """Fail a test that leaves torch's thread count changed: it would change later tests' CPU bits."""
    import torch

    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"the test left torch's thread count at {after} (was {before})")
