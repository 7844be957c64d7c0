"""A warm re-run recomputes nothing: models, outputs, metric values and the report's diagnostics come from the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from unlearnbench.testing import run_bench


def test_warm_rerun_reuses_diagnostics_and_gives_the_same_results(
    tmp_path: Path, warm_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = "finetune[epochs=1,lr=0.1]"
    first = run_bench(methods=[item], metrics=["accuracy"], cache_dir=warm_cache, output_dir=tmp_path / "a")
    assert first.item(item).diagnostics and "error" not in first.item(item).diagnostics

    import unlearnbench.runner.item

    def fail(*args: object, **kwargs: object) -> dict[str, object]:
        raise AssertionError("diagnostics recomputed on a warm run")

    monkeypatch.setattr(unlearnbench.runner.item, "item_diagnostics", fail)
    second = run_bench(methods=[item], metrics=["accuracy"], cache_dir=warm_cache, output_dir=tmp_path / "b")
    for one, other in zip(first.items, second.items):
        assert other.diagnostics == one.diagnostics
        assert other.summary == one.summary
        assert all(seed.cached for seed in other.seeds)
