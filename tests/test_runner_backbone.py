"""unlearnbench.runner.bench: a backbone every fresh model starts from, the config's recipe fields, --no-augment."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import unlearnbench.runner.bench as bench_module
from unlearnbench.config import Config
from unlearnbench.errors import UsageError
from unlearnbench.plugins import build_plugin_manager
from unlearnbench.registry import build_registry
from unlearnbench.runner import build_bench

REGISTRY = build_registry(build_plugin_manager([], None))
BACKBONE = {"dataset": "fake", "epochs": 1, "lr": 0.05, "l2_to_start": 5e-4, "schedule": "constant"}


def config(tmp_path: Path, **changes: object) -> Config:
    base = {"dataset": "fake", "model": "small_cnn", "epochs": 1, "cache_dir": str(tmp_path / "cache"),
            "device": "cpu", "precision": "fp32"}  # fmt: skip
    return Config(**{**base, **changes})  # type: ignore[arg-type]


def test_fresh_models_start_from_the_backbone_with_a_fresh_classifier(tmp_path: Path) -> None:
    bench = build_bench(config(tmp_path, backbone=BACKBONE), REGISTRY)
    state = bench.backbone_state()
    model = bench.new_model(3)
    for name, value in model.state_dict().items():
        if name.startswith("fc."):
            assert not torch.equal(value, state[name])  # the head is re-initialised
        else:
            assert torch.equal(value, state[name]), name
    assert torch.equal(bench.new_model(3).fc.weight, model.fc.weight)  # the head is seeded
    random = bench.new_model(3, from_backbone=False)
    assert not torch.equal(random.features[0][0].weight, model.features[0][0].weight)


def test_the_backbone_is_part_of_the_base_models_keys_and_trained_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = build_bench(config(tmp_path), REGISTRY)
    with_backbone = build_bench(config(tmp_path, backbone=BACKBONE), REGISTRY)
    assert plain.model_key("original", 0) != with_backbone.model_key("original", 0)
    assert plain.model_key("random", 5) == with_backbone.model_key("random", 5)
    with_backbone.backbone_state()

    def no_training(*_: object, **__: object) -> None:
        raise AssertionError("a cached backbone must not be trained again")

    monkeypatch.setattr(bench_module, "train", no_training)
    again = build_bench(config(tmp_path, backbone=BACKBONE), REGISTRY)
    assert again.backbone_key() == with_backbone.backbone_key()
    again.backbone_state()  # from the cache
    other = build_bench(config(tmp_path, backbone={**BACKBONE, "epochs": 2}), REGISTRY)
    assert other.backbone_key() != with_backbone.backbone_key()


def test_the_configs_recipe_fields_and_augment_reach_the_bench(tmp_path: Path) -> None:
    bench = build_bench(config(tmp_path, recipe={"lr": 0.01, "l2_to_start": 0.1, "freeze_batchnorm": True},
                               augment=False), REGISTRY)  # fmt: skip
    recipe = bench.recipe
    assert (recipe.lr, recipe.l2_to_start, recipe.freeze_batchnorm, recipe.augment) == (0.01, 0.1, True, False)
    assert build_bench(config(tmp_path), REGISTRY).recipe.key() == bench_module.Recipe(epochs=1).key()


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"recipe": {"learning_rate": 0.1}}, "unknown recipe field 'learning_rate'"),
     ({"recipe": {"schedule": "cosin"}}, "recipe: schedule must be cosine, constant or multistep"),
     ({"backbone": {"dataset": "fak"}}, "backbone: unknown dataset 'fak'")],
)  # fmt: skip
def test_bad_recipe_or_backbone_options_are_one_line(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_bench(config(tmp_path, **changes), REGISTRY)


def test_a_recipe_the_batched_loop_cannot_run_trains_its_oracles_one_by_one(tmp_path: Path) -> None:
    pulled = build_bench(config(tmp_path, train_batching="vmap", recipe={"l2_to_start": 0.1}), REGISTRY)
    frozen = build_bench(config(tmp_path, train_batching="vmap", recipe={"freeze_batchnorm": True}), REGISTRY)
    plain = build_bench(config(tmp_path, train_batching="vmap"), REGISTRY)
    modes = (pulled.oracle_batching, frozen.oracle_batching, plain.oracle_batching)
    assert modes == ("sequential", "sequential", "vmap")
