"""Shadow models for attacks that simulate the method under test (U-LiRA), cached like oracles.

A metric that declares ``"shadows"`` in ``needs`` gets, per item:

* ``shadow_outputs``: K *shadow originals* (trained on the full training set exactly like the original,
  seeds :data:`SHADOW_SEED_BASE` + k), each unlearned by the item's method at the item's parameters
  (unlearning seed :data:`SHADOW_SEED_BASE` + k); K is the largest ``shadows`` attribute of the selected
  metrics;
* ``target_retrained_outputs``: S retrained models held out from every other use (oracle seeds
  R + S … R + 2S − 1): the reference pool is 0 … R − 1 and the ``retrain`` row's replicates R … R + S − 1.

Under ``train_batching = "vmap"`` the missing shadow originals are trained together as one batched ensemble, and
so are the held-out retrained models (their keys say so). Shadow originals are cached under the ``original`` role
with their own seed, unlearned shadows under the
``unlearned`` key scheme with a ``shadow`` marker, so a second run (or another metric needing them) trains
nothing again. The seeds are far from the original's ``base_seed``, the oracles', the methods' fresh-model
seeds (seed + 7919) and the random reference (2 000 003 011).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from unlearnbench.api import Method, ModelOutputs, metric_needs
from unlearnbench.cache import content_key
from unlearnbench.evaluation import state_dict_cpu
from unlearnbench.registry import Entry
from unlearnbench.runner.bench import SHADOW_SEED_BASE, Bench, TrainedModel
from unlearnbench.runner.replicate import UNLEARNED_ROLE, unlearn_once

__all__ = [
    "SHADOW_SEED_BASE", "ShadowArtifacts", "held_out_retrained", "shadow_artifacts", "shadow_count", "shadow_keys",
    "shadow_original",
]  # fmt: skip

@dataclass(frozen=True)
class ShadowArtifacts:
    """What a ``"shadows"`` metric receives, with the cache keys that identify it."""

    shadow_outputs: tuple[ModelOutputs, ...]
    target_retrained_outputs: tuple[ModelOutputs, ...]
    keys: tuple[str, ...]


def shadow_original(bench: Bench, k: int) -> TrainedModel:
    """Shadow original ``k``: the original's recipe and data, seed :data:`SHADOW_SEED_BASE` + k."""
    return bench.trained_original(SHADOW_SEED_BASE + k, f"shadow original {k}")


def held_out_retrained(bench: Bench, count: int) -> list[TrainedModel]:
    """``count`` retrained models used by nothing else: oracle seeds R + S … R + S + count − 1."""
    first = bench.oracle_count + count
    return bench.oracle_group(range(first, first + count))


def _shadow_key(bench: Bench, entry: Entry, merged: Mapping[str, Any], k: int) -> str:
    return content_key(
        {
            "unlearned": bench.unlearned_key(entry, merged, SHADOW_SEED_BASE + k),
            "shadow_original": content_key(bench.model_parts("original", SHADOW_SEED_BASE + k)),
        }
    )


def _target_keys(bench: Bench, replicates: int) -> list[str]:
    first = bench.oracle_count + replicates
    return [content_key(bench.model_parts("oracle", first + s)) for s in range(replicates)]


def shadow_keys(bench: Bench, entry: Entry, merged: Mapping[str, Any], shadows: int, replicates: int) -> list[str]:
    """Content keys of the K unlearned shadows and the S held-out retrained models (nothing is trained)."""
    return [_shadow_key(bench, entry, merged, k) for k in range(shadows)] + _target_keys(bench, replicates)


def shadow_artifacts(
    bench: Bench, entry: Entry, method: Method, merged: Mapping[str, Any], shadows: int, replicates: int
) -> ShadowArtifacts:
    """K unlearned shadows (from the cache, else trained and unlearned now) and S held-out retrained models.

    Raises whatever the method raises on a shadow: the metric then gets an error cell with the reason.
    """
    keys = [_shadow_key(bench, entry, merged, k) for k in range(shadows)]
    hits = [bench.cache.load_outputs(key) for key in keys]
    # The shadow originals still to unlearn, each trained once (together under the vmap mode).
    missing = [k for k, hit in enumerate(hits) if hit is None]
    starts = dict(zip(missing, bench.shadow_originals([SHADOW_SEED_BASE + k for k in missing]), strict=True))
    outputs: list[ModelOutputs] = []
    for k, (key, hit) in enumerate(zip(keys, hits, strict=True)):
        if hit is None:
            start = starts[k]
            model, seconds = unlearn_once(bench, method, merged, SHADOW_SEED_BASE + k, start_state=start.state)
            result = bench.outputs_of(model)
            bench.cache.save_state(UNLEARNED_ROLE, key, state_dict_cpu(model), {"seconds": seconds, "shadow": k})
            bench.cache.save_outputs(key, result, {"seconds": seconds, "shadow": k})
        else:
            result = hit[0]
        outputs.append(result)
    targets = held_out_retrained(bench, replicates)
    return ShadowArtifacts(
        tuple(outputs), tuple(t.outputs for t in targets), tuple(keys + _target_keys(bench, replicates))
    )


def shadow_count(instances: Iterable[Any]) -> int:
    """K: the largest ``shadows`` attribute among metrics that need shadows (0 when none does)."""
    counts = [int(getattr(m, "shadows", 0)) for m in instances if "shadows" in metric_needs(m)]
    return max(counts, default=0)
