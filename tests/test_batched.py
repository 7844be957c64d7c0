"""Batched training of several models: equivalence with sequential training, the rule, the runner's keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from unlearnbench.batched import BATCHING_RULES, can_batch, resolve_batching, train_batched
from unlearnbench.cache import Cache, content_key
from unlearnbench.data.fake import Fake
from unlearnbench.data.pipeline import TensorData
from unlearnbench.data.splits import make_splits
from unlearnbench.models.small_cnn import SmallCNN
from unlearnbench.runner import Bench
from unlearnbench.training import Recipe, train

#: Absolute weight tolerance between batched and sequential training (summation order only).
TOLERANCE = 1e-4


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: these tiny steps are dominated by thread hand-offs on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class PoolFreeNet(nn.Module):
    """Conv → BatchNorm → ReLU → global mean → linear: no max-pool, so no gradient-routing ties."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def _data(n: int = 64, size: int = 8) -> TensorData:
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    return TensorData(x, y, (0.5, 0.4, 0.3), (0.25, 0.2, 0.3), crop_padding=2)


def _pool_free(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return PoolFreeNet()


def _small_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return SmallCNN().build(4, 3, 8)


def _max_difference(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


@pytest.mark.parametrize(
    ("build", "augment"), [(_pool_free, True), (_small_cnn, False)], ids=["augmented", "small_cnn"]
)
def test_batched_training_matches_sequential_training(build: object, augment: bool) -> None:
    make = build  # type: ignore[assignment]
    data = _data()
    recipe = Recipe(epochs=3, batch_size=16, augment=augment)
    seeds = [0, 5, 11]
    sequential = [make(s) for s in seeds]  # type: ignore[operator]
    for model, seed in zip(sequential, seeds):
        train(model, data, recipe, seed=seed)
    batched = [make(s) for s in seeds]  # type: ignore[operator]
    stats = train_batched(batched, data, recipe, seeds)
    for one, other in zip(sequential, batched):
        assert _max_difference(one, other) < TOLERANCE
        assert not other.training
    assert [s.steps for s in stats] == [3 * (64 // 16)] * 3
    # The models really differ from each other: each had its own init, shuffle order and augmentation.
    assert _max_difference(batched[0], batched[1]) > 100 * TOLERANCE
    # BatchNorm running statistics and step counters were updated per model.
    bn = batched[0].state_dict()
    counter = [v for k, v in bn.items() if k.endswith("num_batches_tracked")][0]
    assert int(counter) == 3 * (64 // 16)


def test_order_of_models_in_a_batch_does_not_matter() -> None:
    data = _data(48)
    recipe = Recipe(epochs=2, batch_size=16)
    forward = [_pool_free(s) for s in (1, 2)]
    train_batched(forward, data, recipe, [1, 2])
    backward = [_pool_free(s) for s in (2, 1)]
    train_batched(backward, data, recipe, [2, 1])
    assert _max_difference(forward[0], backward[1]) < TOLERANCE
    assert _max_difference(forward[1], backward[0]) < TOLERANCE


def test_models_with_dropout_are_refused() -> None:
    with_dropout = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(192, 4))
    assert not can_batch(with_dropout)
    assert can_batch(nn.Sequential(nn.Flatten(), nn.Dropout(0.0), nn.Linear(192, 4)))
    with pytest.raises(ValueError, match="dropout"):
        train_batched([with_dropout], _data(16), Recipe(epochs=1), [0])
    with pytest.raises(ValueError, match="seeds"):
        train_batched([_pool_free(0)], _data(16), Recipe(epochs=1), [0, 1])


def test_rule_is_a_fixed_table_with_overrides() -> None:
    assert resolve_batching("sequential", "cpu", "small_cnn") == "sequential"
    assert resolve_batching("vmap", "cpu", "resnet18") == "vmap"
    for (device, model), mode in BATCHING_RULES.items():
        assert resolve_batching("auto", device, model) == mode
    assert resolve_batching("auto", "cpu", "some_plugin_model") == "sequential"
    with pytest.raises(ValueError, match="train_batching"):
        resolve_batching("parallel", "cpu", "small_cnn")


def _bench(cache: Cache, batching: str, compile_model: bool = False) -> Bench:
    raw = Fake().load("", n_train=64, n_heldout=32)
    factory = SmallCNN()
    return Bench(
        raw=raw, splits=make_splits(raw, "0.1", seed=42), model_name="small_cnn",
        build_model=lambda: factory.build(raw.num_classes, raw.in_channels, raw.image_size),
        recipe=Recipe(epochs=2, batch_size=16), device=torch.device("cpu"), cache=cache, base_seed=0,
        oracle_count=3, train_batching=batching, compile_model=compile_model,
    )  # fmt: skip


def test_sequential_keys_are_unchanged_and_other_modes_are_part_of_the_key(tmp_path: object) -> None:
    cache = Cache("unused", enabled=False)
    sequential = _bench(cache, "sequential")
    expected = {
        "role": "oracle", "dataset": sequential.dataset_key, "model": "small_cnn",
        "num_classes": sequential.raw.num_classes, "recipe": sequential.recipe.key(), "seed": 4,
        "splits": sequential.splits_key,
    }  # fmt: skip
    assert sequential.model_parts("oracle", 4) == expected
    vmap = _bench(cache, "vmap")
    assert vmap.oracle_batching == "vmap"
    assert vmap.model_parts("oracle", 4) == {**expected, "training": "vmap"}
    assert vmap.model_parts("original", 0) == sequential.model_parts("original", 0)
    compiled = _bench(cache, "sequential", compile_model=True)
    assert compiled.model_parts("oracle", 4) == {**expected, "compile": True}
    assert content_key(compiled.model_parts("original", 0)) != content_key(sequential.model_parts("original", 0))


def test_oracle_pool_trains_together_caches_and_matches_sequential(tmp_path: object) -> None:
    from pathlib import Path

    cache = Cache(Path(str(tmp_path)) / "cache")
    bench = _bench(cache, "vmap")
    pool = bench.oracle_pool(3)
    assert [o.cached for o in pool] == [False] * 3
    # A fresh bench on the same cache finds all three (same keys), and a fourth oracle is trained alone.
    again = _bench(cache, "vmap")
    assert all(o.cached for o in again.oracle_pool(3))
    assert not again.oracle(3).cached
    reference = _bench(Cache("unused", enabled=False), "sequential")
    for batched, seed in zip(pool, range(3)):
        alone = reference.oracle(seed)
        for name, tensor in alone.state.items():
            assert float((tensor.double() - batched.state[name].double()).abs().max()) < 1e-3, name


def test_recipe_fields_are_unchanged() -> None:
    """The recipe is part of every cache key: a new field must leave the keys of existing recipes unchanged.

    ``precision``, ``drop_last``, ``l2_to_start``, ``freeze_batchnorm`` and ``select`` are the fields added
    since: they enter the key only when they differ from their defaults.
    """
    original_fields = [
        "epochs", "lr", "momentum", "weight_decay", "batch_size", "schedule", "augment", "nesterov", "optimizer",
    ]  # fmt: skip
    added = ["precision", "drop_last", "l2_to_start", "freeze_batchnorm", "select"]
    assert [f.name for f in dataclasses.fields(Recipe)] == [*original_fields, *added]
    assert list(Recipe().key()) == [*original_fields, "version"]
