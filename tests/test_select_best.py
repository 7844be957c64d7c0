"""Choosing the epoch on the validation split (``select = "best-val"``) and the retrained models' own recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unlearnbench.config import Config
from unlearnbench.errors import UsageError
from unlearnbench.models.small_cnn import SmallCNN
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.recipe import Recipe
from unlearnbench.registry import build_registry
from unlearnbench.runner import build_bench
from unlearnbench.tensordata import TensorData
from unlearnbench.training import train

REGISTRY = build_registry(build_plugin_manager([], None))


def _data(n: int, seed: int) -> TensorData:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=generator)
    y = (x.float().mean(dim=(1, 2, 3)) > 127.5).long()  # a learnable rule, so accuracy moves epoch to epoch
    return TensorData(x, y, (0.5,), (0.25,), 0, False)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return SmallCNN().build(2, 1, 8)


def _accuracy(model: torch.nn.Module, data: TensorData) -> float:
    model.eval()
    with torch.no_grad():
        return float(sum(int((model(x).argmax(1) == y).sum()) for x, y in data.batches(1024)) / len(data))


RECIPE = dict(lr=0.05, batch_size=16, schedule="constant", augment=False, precision="fp32")


def test_best_val_keeps_the_first_epoch_of_highest_validation_accuracy() -> None:
    train_data, val = _data(96, 1), _data(40, 2)
    epochs = 6
    # Under a constant rate the run of k epochs is the longer run's state after epoch k (same draws).
    per_epoch = []
    states = []
    for k in range(1, epochs + 1):
        model = _model()
        train(model, train_data, Recipe(epochs=k, **RECIPE), seed=3)  # type: ignore[arg-type]
        per_epoch.append(_accuracy(model, val))
        states.append(model.state_dict())
    chosen = _model()
    stats = train(chosen, train_data, Recipe(epochs=epochs, select="best-val", **RECIPE), seed=3,  # type: ignore[arg-type]
                  validation=val)  # fmt: skip
    best = max(per_epoch)
    first = per_epoch.index(best) + 1
    assert stats.selected_epoch == first and stats.selected_accuracy == pytest.approx(best)
    for name, value in chosen.state_dict().items():  # weights and BatchNorm statistics of that epoch
        assert torch.equal(value, states[first - 1][name]), name
    assert len(set(per_epoch)) > 1, "the data should make the accuracy move, or the test says nothing"


def test_last_is_unchanged_and_reports_no_selected_epoch() -> None:
    model = _model()
    stats = train(model, _data(64, 1), Recipe(epochs=2, **RECIPE), seed=3, validation=_data(20, 2))  # type: ignore[arg-type]
    assert stats.selected_epoch is None and stats.selected_accuracy is None


def test_best_val_without_validation_data_is_refused() -> None:
    with pytest.raises(ValueError, match="needs validation data"):
        train(_model(), _data(32, 1), Recipe(epochs=1, select="best-val", **RECIPE))  # type: ignore[arg-type]


def test_select_is_checked_and_enters_the_key_only_when_not_last() -> None:
    with pytest.raises(ValueError, match="select must be one of last, best-val"):
        Recipe(select="best")
    assert "select" not in Recipe().key()
    assert Recipe(select="best-val").key()["select"] == "best-val"


def _config(tmp_path: Path, **changes: object) -> Config:
    base = {"dataset": "fake", "model": "small_cnn", "epochs": 2, "cache_dir": str(tmp_path / "cache"),
            "device": "cpu", "precision": "fp32", "recipe": {"schedule": "constant"}}  # fmt: skip
    return Config(**{**base, **changes})  # type: ignore[arg-type]


def test_the_oracles_train_with_their_own_recipe_and_the_original_with_its_own(tmp_path: Path) -> None:
    bench = build_bench(_config(tmp_path, recipe={"schedule": "constant", "select": "best-val"},
                                oracle_recipe={"epochs": 1, "select": "last"}), REGISTRY)  # fmt: skip
    assert (bench.recipe.epochs, bench.recipe.select) == (2, "best-val")
    assert (bench.retrain_recipe.epochs, bench.retrain_recipe.select, bench.retrain_recipe.schedule) == (
        1, "last", "constant")  # fmt: skip
    plain = build_bench(_config(tmp_path), REGISTRY)
    assert bench.model_key("oracle", 0) != plain.model_key("oracle", 0)
    assert bench.model_key("original", 0) != plain.model_key("original", 0)
    bench.original()
    _, meta = bench.cache.load_state("original", bench.model_key("original", bench.base_seed))  # type: ignore[misc]
    assert meta["selected_epoch"] in (1, 2) and 0.0 <= meta["selected_accuracy"] <= 1.0
    bench.oracle(0)
    _, oracle_meta = bench.cache.load_state("oracle", bench.model_key("oracle", 0))  # type: ignore[misc]
    assert "selected_epoch" not in oracle_meta


def test_no_oracle_recipe_leaves_the_oracles_keys_as_they_were(tmp_path: Path) -> None:
    same = build_bench(_config(tmp_path, oracle_recipe={}), REGISTRY)
    plain = build_bench(_config(tmp_path), REGISTRY)
    assert same.model_key("oracle", 0) == plain.model_key("oracle", 0)
    assert same.oracle_recipe is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"oracle_recipe": {"epochz": 3}}, "unknown recipe field 'epochz'"),
     ({"oracle_recipe": {"select": "best"}}, "recipe: select must be one of")],
)  # fmt: skip
def test_a_bad_oracle_recipe_is_one_line(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_bench(_config(tmp_path, **changes), REGISTRY)


def test_the_batched_loop_refuses_a_recipe_that_chooses_its_epoch() -> None:
    from unlearnbench.batched import train_batched

    with pytest.raises(ValueError, match="trains one by one"):
        train_batched([_model()], _data(32, 1), Recipe(epochs=1, select="best-val", **RECIPE), [0])  # type: ignore[arg-type]


def test_a_best_val_original_trains_its_oracles_one_by_one_under_vmap(tmp_path: Path) -> None:
    bench = build_bench(_config(tmp_path, train_batching="vmap", oracle_recipe={"select": "best-val"}), REGISTRY)
    assert bench.oracle_batching == "sequential"
    assert build_bench(_config(tmp_path, train_batching="vmap"), REGISTRY).oracle_batching == "vmap"


class _Killed(Exception):
    """Raised by the progress callback to stand for a kill between epochs."""


def _kill_after(epoch: int):  # type: ignore[no-untyped-def]
    def progress(_: str, done: int, total: int) -> None:
        if done == epoch:
            raise _Killed

    return progress


@pytest.mark.parametrize("select", ["last", "best-val"])
def test_a_killed_training_resumes_from_its_snapshot_bit_for_bit(tmp_path: Path, select: str) -> None:
    from unlearnbench.cache import Cache
    from unlearnbench.snapshots import CacheSnapshots

    train_data, val = _data(96, 1), _data(40, 2)
    recipe = Recipe(epochs=5, select=select, **{**RECIPE, "schedule": "multistep:2,4"})  # type: ignore[arg-type]
    whole = _model()
    expected = train(whole, train_data, recipe, seed=3, validation=val)
    cache = Cache(tmp_path)
    snapshots = CacheSnapshots(cache, "ab" * 8, every_seconds=0.0)
    with pytest.raises(_Killed):
        train(_model(), train_data, recipe, seed=3, validation=val, snapshots=snapshots,
              progress=_kill_after(3))  # fmt: skip
    assert snapshots.load() is not None and snapshots.load()["epoch"] == 2  # type: ignore[index]
    resumed = _model()
    seen: list[int] = []
    stats = train(resumed, train_data, recipe, seed=3, validation=val, snapshots=snapshots,
                  progress=lambda _, done, total: seen.append(done))  # fmt: skip
    assert seen == [3, 4, 5]  # it went on after epoch 2
    for name, value in resumed.state_dict().items():
        assert torch.equal(value, whole.state_dict()[name]), name
    assert (stats.steps, stats.selected_epoch, stats.final_loss) == (
        expected.steps, expected.selected_epoch, expected.final_loss)  # fmt: skip
    assert snapshots.load() is None  # cleared when the run finished


def test_an_unreadable_snapshot_is_ignored_and_training_starts_over(tmp_path: Path) -> None:
    from unlearnbench.cache import Cache
    from unlearnbench.snapshots import SNAPSHOT_KIND, CacheSnapshots

    cache = Cache(tmp_path)
    snapshots = CacheSnapshots(cache, "cd" * 8, every_seconds=0.0)
    with pytest.raises(_Killed):
        train(_model(), _data(64, 1), Recipe(epochs=3, **RECIPE), seed=3, snapshots=snapshots,  # type: ignore[arg-type]
              progress=_kill_after(2))  # fmt: skip
    cache.payload_path(SNAPSHOT_KIND, "cd" * 8, "snapshot").write_bytes(b"not a snapshot")
    with pytest.warns(UserWarning, match="corrupt cache entry"):
        assert snapshots.load() is None
    model = _model()
    stats = train(model, _data(64, 1), Recipe(epochs=3, **RECIPE), seed=3, snapshots=snapshots)  # type: ignore[arg-type]
    assert stats.epochs == 3 and stats.steps == 3 * 4


def test_the_bench_resumes_a_killed_original_from_its_snapshot(tmp_path: Path) -> None:
    from unlearnbench.snapshots import SNAPSHOT_KIND

    def kill(_: str, done: int, total: int) -> None:
        if done == 2:
            raise _Killed

    killed = build_bench(_config(tmp_path, epochs=3), REGISTRY, progress=kill)
    killed.snapshot_seconds = 0.0
    with pytest.raises(_Killed):
        killed.original()
    key = killed.model_key("original", killed.base_seed)
    assert killed.cache.load_snapshot(SNAPSHOT_KIND, key)["epoch"] == 1  # type: ignore[index]
    epochs: list[int] = []
    again = build_bench(_config(tmp_path, epochs=3), REGISTRY, progress=lambda _, done, total: epochs.append(done))
    resumed = again.original()
    assert epochs == [2, 3] and again.cache.load_snapshot(SNAPSHOT_KIND, key) is None
    fresh = build_bench(_config(tmp_path, epochs=3, cache_dir=str(tmp_path / "other")), REGISTRY).original()
    for name, value in fresh.state.items():
        assert torch.equal(value, resumed.state[name]), name
