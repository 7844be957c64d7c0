"""Training K models of one architecture sequentially vs together (``vmap``), side by side in one run.

For each model (``small_cnn``, ``resnet18``, optionally ``resnet18_cifar``) both contenders train K freshly
initialised models for one epoch on the same CIFAR-10-shaped uint8 data with augmentation (the oracle
recipe: SGD, batch 128, crop + flip):

* ``sequential``: :func:`unlearnbench.training.train` once per model, as the runner does by default;
* ``vmap``: :func:`unlearnbench.batched.train_batched` on all K at once.

Reported per model: images/s per model (images of one model's epoch × K / wall seconds) and the speed-up
``vmap / sequential``. The rule table :data:`unlearnbench.batched.BATCHING_RULES` is taken from these
figures (see benchmarks/README.md). Rounds are interleaved and the best of each contender is kept.

    python benchmarks/batched_training.py                   # K = 6, 1536 images, small_cnn + resnet18
    python benchmarks/batched_training.py --quick           # fewer images, one round
    python benchmarks/batched_training.py --tiny            # CI: seconds, proves it runs

The last line printed is JSON: ``{"device", "k", "images", "models": {name: {"sequential", "vmap",
"speedup"}}, "choice": {name: "vmap" | "sequential"}}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import torch
from torch import nn

from unlearnbench.batched import train_batched
from unlearnbench.data.pipeline import TensorData
from unlearnbench.training import Recipe, train

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def build(name: str, seed: int, image_size: int) -> nn.Module:
    """A freshly initialised model of a built-in architecture under ``seed``."""
    from unlearnbench.models.resnet18 import ResNet18
    from unlearnbench.models.resnet18_cifar import ResNet18CIFAR
    from unlearnbench.models.small_cnn import SmallCNN

    factories: dict[str, Any] = {"small_cnn": SmallCNN, "resnet18": ResNet18, "resnet18_cifar": ResNet18CIFAR}
    torch.manual_seed(seed)
    model: nn.Module = factories[name]().build(10, 3, image_size)
    return model


def data_of(n: int, image_size: int, device: torch.device) -> TensorData:
    """Seeded random uint8 images with CIFAR-10's normalisation, resident on ``device``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, image_size, image_size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return TensorData(x, y, MEAN, STD).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_sequential(name: str, data: TensorData, recipe: Recipe, k: int, device: torch.device) -> float:
    """Wall seconds to train K models one after the other."""
    models = [build(name, seed, data.x.shape[-1]).to(device) for seed in range(k)]
    _sync(device)
    start = time.perf_counter()
    for seed, model in enumerate(models):
        train(model, data, recipe, seed=seed, device=device)
    _sync(device)
    return time.perf_counter() - start


def time_vmap(name: str, data: TensorData, recipe: Recipe, k: int, device: torch.device) -> float:
    """Wall seconds to train K models together."""
    models = [build(name, seed, data.x.shape[-1]).to(device) for seed in range(k)]
    _sync(device)
    start = time.perf_counter()
    train_batched(models, data, recipe, list(range(k)), device=device)
    _sync(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison and print one JSON line last."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small_cnn", "resnet18"],
                        choices=["small_cnn", "resnet18", "resnet18_cifar"])  # fmt: skip
    parser.add_argument("--k", type=int, default=6, help="models trained together (the pool size R)")
    parser.add_argument("--images", type=int, default=1536, help="training images per model and epoch")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="768 images, one round")
    parser.add_argument("--tiny", action="store_true", help="CI: small_cnn only, K = 2, 64 images of 16x16")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.rounds = 768, 1
    if args.tiny:
        args.k, args.images, args.batch, args.image_size, args.rounds = 2, 64, 32, 16, 1
        args.models = ["small_cnn"]
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = data_of(args.images, args.image_size, device)
    recipe = Recipe(epochs=1, batch_size=args.batch)
    per_epoch = (args.images // args.batch) * args.batch if args.images > args.batch else args.images
    report: dict[str, dict[str, float]] = {}
    for name in args.models:
        best = {"sequential": float("inf"), "vmap": float("inf")}
        # Warm-up (allocator, kernel selection) on a few images, then interleaved timed rounds.
        warm = data.subset(torch.arange(min(len(data), args.batch)))
        time_sequential(name, warm, recipe, 1, device)
        time_vmap(name, warm, recipe, 2, device)
        for _ in range(args.rounds):
            best["sequential"] = min(best["sequential"], time_sequential(name, data, recipe, args.k, device))
            best["vmap"] = min(best["vmap"], time_vmap(name, data, recipe, args.k, device))
        images = per_epoch * args.k
        row = {
            "sequential": round(images / best["sequential"], 1),
            "vmap": round(images / best["vmap"], 1),
        }
        row["speedup"] = round(best["sequential"] / best["vmap"], 3)
        report[name] = row
        print(name, row, flush=True)
    out = {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine(),
        "threads": torch.get_num_threads(),
        "k": args.k,
        "images": args.images,
        "batch": args.batch,
        "models": report,
        "choice": {name: "vmap" if row["speedup"] > 1.0 else "sequential" for name, row in report.items()},
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
