"""Executors: the plan, the `processes` executor against `local` (bitwise), failures, resuming, errors."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from unlearnbench.config import resolve_config
from unlearnbench.errors import UsageError
from unlearnbench.executors import base as executors_base
from unlearnbench.executors.jobs import WorkSpec, check_cache_visible, plan_jobs, write_token
from unlearnbench.executors.ray import import_ray
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import build_registry
from unlearnbench.results import load
from unlearnbench.runner import MetricSpec
from unlearnbench.session import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_executors_support import TINY, numbers, reference_numbers, run_cli, write_dies_once  # noqa: E402, F401


def _processes_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli([*TINY, "--method", "dies_once", "--executor", "processes", "--cache-dir", str(tmp_path / "cache"),
                    "--output-dir", str(tmp_path / "out"), *extra], capsys)  # fmt: skip


def _jobs_line(out: str) -> tuple[int, int]:
    found = re.search(r"processes executor: (\d+) jobs to run, (\d+) cached", out)
    assert found, out
    return int(found.group(1)), int(found.group(2))


def test_processes_gives_bitwise_the_local_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference: dict[str, Any]
) -> None:
    write_dies_once(tmp_path, tmp_path / "marker")
    (tmp_path / "marker").write_text("never kill")
    code, out, err = _processes_run(tmp_path, capsys, "--workers", "2")
    assert code == 0, out + err
    # 1 original + 2 oracles + 2 independent oracles of `retrain`; 4 items x 2 seeds; 4 population jobs.
    assert _jobs_line(out) == (17, 0)
    assert "2 workers × 1 threads" in out
    results = load(tmp_path / "out" / "results.json")
    assert all(seed.cached for item in results.items for seed in item.seeds), "the local pass recomputed a replicate"
    assert numbers(tmp_path / "out" / "results.json") == reference
    assert not list((tmp_path / "cache").glob(".executor-token-*")), "the token file is removed after the run"


def test_a_killed_worker_fails_its_item_and_the_rerun_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference: dict[str, Any]
) -> None:
    write_dies_once(tmp_path, tmp_path / "marker")
    (tmp_path / "unlearnbench.toml").write_text("retries = 0\n")
    code, out, err = _processes_run(tmp_path, capsys, "--workers", "1")
    assert code == 1, out + err
    assert (tmp_path / "marker").exists()
    results = load(tmp_path / "out" / "results.json")
    failed = results.item("dies_once")
    assert failed.outcome == "failed" and "worker process died" in failed.errors["executor"]
    assert {i.item_id: i.outcome for i in results.items if i.item_id != "dies_once"} == {
        "original": "passed", "retrain": "passed", "finetune[epochs=1,lr=0.01]": "passed"
    }  # fmt: skip

    code, out, err = _processes_run(tmp_path, capsys, "--workers", "1")
    assert code == 0, out + err
    to_run, cached = _jobs_line(out)
    assert (to_run, cached) == (2, 15), "only the killed replicate and its population job run again"
    assert numbers(tmp_path / "out" / "results.json") == reference


def test_a_killed_worker_is_retried_within_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference: dict[str, Any]
) -> None:
    write_dies_once(tmp_path, tmp_path / "marker")
    code, out, err = _processes_run(tmp_path, capsys, "--workers", "2")
    assert code == 0, out + err
    assert (tmp_path / "marker").exists() and "a worker process died" in out
    assert numbers(tmp_path / "out" / "results.json") == reference


def test_a_cache_dir_the_workers_cannot_see_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The driver's token lands where no worker looks, as on a cache dir that is local to the driver's host.
    elsewhere = tmp_path / "driver-only"
    monkeypatch.setattr(executors_base, "write_token", lambda root, token: write_token(elsewhere, token))
    code, out, err = run_cli([*TINY, "--executor", "processes", "--workers", "1", "--cache-dir", "cache"], capsys)
    assert code == 4, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.fullmatch(r"ERROR: cache dir .*cache is not visible from worker \S+ \(pid \d+\): use a shared "
                        r"filesystem", lines[0]), lines[0]  # fmt: skip


def test_the_worker_token_check(tmp_path: Path) -> None:
    spec = _spec(tmp_path, token="abc123")
    with pytest.raises(Exception, match="is not visible from worker"):
        check_cache_visible(spec)
    write_token(tmp_path, "abc123")
    check_cache_visible(spec)
    (tmp_path / ".executor-token-abc123").write_text("another run")
    with pytest.raises(Exception, match="use a shared filesystem"):
        check_cache_visible(spec)


def _spec(root: Path, token: str) -> WorkSpec:
    config, _ = resolve_config({}, {})
    return WorkSpec(config=config, plugin_args=(), plugins_dir=None, cwd=str(root), cache_root=str(root),
                    token=token)  # fmt: skip


def _session(tmp_path: Path, **options: Any) -> tuple[Session, Any, list[MetricSpec]]:
    plugins = build_plugin_manager()
    registry = build_registry(plugins)
    config, _ = resolve_config({"dataset": "fake", "cache_dir": str(tmp_path / "cache"), **options},
                               registry.presets)  # fmt: skip
    session = Session(config, plugins, registry)
    session.collect()
    bench = session._build_bench()
    specs = [MetricSpec(e, e.cls()) for e in session.metric_entries]
    return session, bench, specs


def test_the_plan_has_three_waves_and_skips_cached_artifacts(tmp_path: Path) -> None:
    session, bench, specs = _session(tmp_path, seeds=3, oracles=4, methods=("finetune[epochs=1,lr=0.01]",),
                                     metrics=("accuracy", "forgetting_quality"))  # fmt: skip
    plan = plan_jobs(bench, session.items, specs, 4, [0, 1, 2])
    train, unlearn, population = plan.waves
    assert [j.job_id for j in train] == ["original", "oracle 0", "oracle 1", "oracle 2", "oracle 3", "oracle 4",
                                         "oracle 5", "oracle 6"]  # fmt: skip
    assert [j.job_id for j in unlearn][:3] == ["original seed 0", "original seed 1", "original seed 2"]
    assert len(unlearn) == 9 and all(j.metrics == ("accuracy",) for j in unlearn)
    assert [j.job_id for j in population] == ["original population", "retrain population",
                                              "finetune[epochs=1,lr=0.01] population"]  # fmt: skip
    assert all(j.metrics == ("forgetting_quality",) and j.seeds == (0, 1, 2) for j in population)
    assert plan.skipped == 0
    bench.oracle(2)  # trains and caches one oracle
    again = plan_jobs(bench, session.items, specs, 4, [0, 1, 2])
    assert "oracle 2" not in [j.job_id for j in again.waves[0]] and again.skipped == 1


def test_without_retrain_there_are_no_independent_oracles(tmp_path: Path) -> None:
    session, bench, specs = _session(tmp_path, seeds=2, oracles=2)
    items = [item for item in session.items if item.method != "retrain"]  # e.g. a plugin removed the row
    plan = plan_jobs(bench, items, specs, 2, [0, 1])
    assert [j.job_id for j in plan.waves[0]] == ["original", "oracle 0", "oracle 1"]


def test_unknown_executor_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*TINY, "--executor", "procesess", "--cache-dir", "cache"], capsys)
    assert code == 4
    assert err.strip() == "ERROR: unknown executor 'procesess'. Did you mean: processes?"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--workers", "0"], "--workers must be at least 1, got 0"), (["--threads", "-1"], "--threads must be at")],
)
def test_bad_executor_options(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*TINY, *args], capsys)
    assert code == 4 and message in err


def test_list_executors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["list", "executors"], capsys)
    assert code == 0
    for name in ("local", "processes", "ray"):
        assert re.search(rf"\b{name}\b", out), out


def test_executor_settings_do_not_change_the_config_hash() -> None:
    local, _ = resolve_config({"dataset": "fake"}, {})
    spread, _ = resolve_config({"dataset": "fake", "executor": "ray", "workers": 8, "address": "auto"}, {})
    pinned, _ = resolve_config({"dataset": "fake", "threads": 1}, {})
    assert local.config_hash() == spread.config_hash()
    assert pinned.config_hash() != local.config_hash(), "a pinned thread count changes float rounding"


def test_executor_keys_in_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "unlearnbench.toml").write_text('executor = "processes"\nworkers = 3\nretries = 1\n')
    config, _ = resolve_config({}, {}, cwd=tmp_path)
    assert (config.executor, config.workers, config.retries, config.threads) == ("processes", 3, 1, None)
    (tmp_path / "unlearnbench.toml").write_text("retries = -1\n")
    with pytest.raises(UsageError, match="retries must be >= 0"):
        resolve_config({}, {}, cwd=tmp_path)


def test_ray_missing_is_a_one_line_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(UsageError, match=r'^the ray executor needs Ray: pip install "unlearnbench\[ray\]"$'):
        import_ray()


def test_unpinned_threads_give_the_local_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --threads the workers use the driver's thread count: the same command, the same bits."""
    import torch

    unpinned = [arg for arg in TINY if arg not in ("--threads", "1")]
    assert len(unpinned) == len(TINY) - 2
    local_out, proc_out = tmp_path / "local", tmp_path / "proc"
    code, _, _ = run_cli([*unpinned, "--cache-dir", str(tmp_path / "c1"), "--output-dir", str(local_out)], capsys)
    assert code == 0
    code, out, err = run_cli([*unpinned, "--executor", "processes", "--cache-dir", str(tmp_path / "c2"),
                              "--output-dir", str(proc_out)], capsys)  # fmt: skip
    assert code == 0, out + err
    assert f"× {torch.get_num_threads()} threads" in out
    assert numbers(proc_out / "results.json") == numbers(local_out / "results.json")


def test_pinned_threads_hold_for_the_session_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A `--threads 1` run in-process gives the caller its own thread count back: the count changes CPU bits."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        code, out, err = run_cli([*TINY, "--collect-only"], capsys)
        assert code == 0, out + err
        code, out, err = run_cli([*TINY, "--cache-dir", str(tmp_path / "c"), "--output-dir", "o"], capsys)
        assert code == 0, out + err
        assert ", 1 thread (--threads))" in load(tmp_path / "o" / "results.json").device  # ran pinned
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_workers_train_at_the_drivers_resolved_precision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` is resolved once, by the driver: a worker on other hardware must not resolve it differently."""
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    session, bench, _ = _session(tmp_path, seeds=1, oracles=1, epochs=1)
    assert session.config.precision == "auto" and bench.recipe.precision == "bf16"
    spec = executors_base.work_spec(session.config, session.plugins, bench.recipe.precision, "tok", tmp_path)
    assert spec.config.precision == "bf16"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    worker = Session(spec.config, session.plugins, session.registry)
    worker.collect()
    assert worker._build_bench().recipe.precision == "bf16"  # the worker keeps the driver's choice
