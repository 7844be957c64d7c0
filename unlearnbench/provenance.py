"""Provenance of a run: package versions, the source tree's git commit, the device in words."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from unlearnbench.threads import ThreadChoice


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that change numbers."""
    import importlib.metadata as md

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("unlearnbench", "torch", "torchvision", "numpy", "scikit-learn", "scipy", "pluggy"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """The git commit of the unlearnbench source tree (``+dirty`` if modified), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "") if head else "unknown"


def cpu_model() -> tuple[str, tuple[str, ...]]:
    """The CPU's model name (``/proc/cpuinfo``, else the platform's processor) and its native bf16 flags
    (``avx512_bf16``, ``amx_bf16``): what decides whether training runs in bf16 and how fast."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return model, tuple(sorted(flags & {"avx512_bf16", "amx_bf16"}))


def describe_device(device: torch.device, threads: ThreadChoice | None = None) -> str:
    """``cuda (NAME)`` or ``cpu (MODEL, N threads)``; with ``threads``, how the count was chosen."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    count = threads.describe() if threads is not None else f"{torch.get_num_threads()} threads"
    return f"cpu ({cpu_model()[0]}, {count})"


def describe_dataset(bench: Any) -> dict[str, Any]:
    """The dataset, split and recipe of a bench as results.json records them."""
    from unlearnbench.data.stats import dataset_statistics

    raw, splits = bench.raw, bench.splits
    counts = {}
    for split in ("forget", "retain", "test", "val"):
        y = bench.labels[split]
        counts[split] = [int((y == c).sum()) for c in range(raw.num_classes)]
    described = {
        "name": raw.name,
        "source": raw.source,
        "model": bench.model_name,
        "num_classes": raw.num_classes,
        "class_names": list(raw.class_names),
        "image_shape": [raw.in_channels, raw.image_size, raw.image_size],
        "sizes": {s: int(len(bench.labels[s])) for s in counts},
        "class_counts": counts,
        "forget": splits.forget_spec,
        "split_seed": splits.seed,
        "fingerprint": bench.dataset_key,
        "splits_fingerprint": bench.splits_key,
        "recipe": bench.recipe.key(),
        **({"oracle_recipe": bench.retrain_recipe.key()} if bench.oracle_recipe is not None else {}),
        "mean": list(raw.mean),
        "std": list(raw.std),
        "stats": dataset_statistics(raw, splits),
    }
    backbone = bench.backbone_provenance()
    if backbone is not None:  # where the pre-trained backbone comes from: shipped, cached or trained
        described["backbone"] = backbone
    return described
