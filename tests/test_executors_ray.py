"""The `ray` executor on a local Ray instance (2 CPUs): same numbers as `local`, retries, skipping, errors."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unlearnbench.executors import base as executors_base
from unlearnbench.executors.jobs import write_token

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "unlearnbench[ray]")')

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_executors_support import TINY, numbers, reference_numbers, run_cli, write_dies_once  # noqa: E402, F401


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    """One local Ray instance for the module; the executor uses it instead of starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _ray_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli([*TINY, "--method", "dies_once", "--executor", "ray", "--cache-dir", str(tmp_path / "cache"),
                    "--output-dir", str(tmp_path / "out")], capsys)  # fmt: skip


def _jobs_line(out: str) -> tuple[int, int]:
    found = re.search(r"ray executor: (\d+) jobs to run, (\d+) cached", out)
    assert found, out
    return int(found.group(1)), int(found.group(2))


def test_ray_retries_a_killed_worker_matches_local_and_skips_on_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference: dict[str, Any]
) -> None:
    write_dies_once(tmp_path, tmp_path / "marker")
    code, out, err = _ray_run(tmp_path, capsys)
    assert code == 0, out + err
    assert _jobs_line(out) == (17, 0)
    assert (tmp_path / "marker").exists(), "the plugin killed one Ray worker; the task was retried"
    assert numbers(tmp_path / "out" / "results.json") == reference

    code, out, err = _ray_run(tmp_path, capsys)
    assert code == 0, out + err
    assert _jobs_line(out) == (0, 17)
    assert numbers(tmp_path / "out" / "results.json") == reference


def test_ray_fails_in_one_line_when_workers_cannot_see_the_cache_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "driver-only"
    monkeypatch.setattr(executors_base, "write_token", lambda root, token: write_token(elsewhere, token))
    code, out, err = run_cli([*TINY, "--executor", "ray", "--cache-dir", "cache"], capsys)
    assert code == 4, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"ERROR: cache dir .*cache is not visible from worker .*: use a shared "
                                            r"filesystem", lines[0]), err  # fmt: skip
