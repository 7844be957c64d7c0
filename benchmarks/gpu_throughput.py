"""GPU training throughput: unlearnbench's loop vs the bare step for ResNet-18 at batch 512, and the epoch time.

For each of ``resnet18`` (ImageNet stem) and ``resnet18_cifar`` (CIFAR stem), on the device given:

* ``unlearnbench``: :func:`unlearnbench.training.train` on CIFAR-10-shaped uint8 data resident on the
  device, with augmentation (batched tensor ops), at ``--precision`` (default ``auto``: bf16 autocast with
  channels-last inputs where the device computes bf16 natively, as ``unlearnbench run`` resolves it);
* ``bare``: the same model, optimiser, autocast and layout on one prepared batch (the limit);
* ``compiled`` (with ``--compile``): the bench's loop with ``torch.compile`` of the model.

Reported: images/s of each, ``ratio_vs_bare`` and the seconds per CIFAR-10 epoch (50,000 images) at the
bench loop's rate. Written for a machine with a GPU; ``--device cpu --tiny`` only proves in CI that it runs.

    python benchmarks/gpu_throughput.py                     # cuda, batch 512, 30 timed steps
    python benchmarks/gpu_throughput.py --compile           # also the torch.compile'd loop
    python benchmarks/gpu_throughput.py --device cpu --tiny # CI

The last line printed is JSON: ``{"device", "batch", "models": {name: {"unlearnbench", "bare",
"ratio_vs_bare", "epoch_seconds", ["compiled"]}}}``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
from torch import nn

from unlearnbench.data.pipeline import TensorData
from unlearnbench.training import (
    Recipe,
    make_optimizer,
    prepare_batch,
    resolve_precision,
    train,
    training_autocast,
    training_layout,
)

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
CIFAR10_TRAIN = 50_000


def build(name: str, size: int) -> nn.Module:
    """A fresh model of a built-in architecture."""
    from unlearnbench.models.resnet18 import ResNet18
    from unlearnbench.models.resnet18_cifar import ResNet18CIFAR
    from unlearnbench.models.small_cnn import SmallCNN

    factories: dict[str, Any] = {"small_cnn": SmallCNN, "resnet18": ResNet18, "resnet18_cifar": ResNet18CIFAR}
    torch.manual_seed(0)
    model: nn.Module = factories[name]().build(10, 3, size)
    return model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_loop(
    name: str, data: TensorData, batch: int, warmup: int, device: torch.device, compile_model: bool,
    precision: str = "fp32",
) -> float:  # fmt: skip
    """Images/s of the bench's loop over ``data`` (one epoch), after a warm-up epoch of ``warmup`` batches."""
    model = build(name, data.x.shape[-1]).to(device)
    warm = data.subset(torch.arange(warmup * batch, device=data.device))
    recipe = Recipe(epochs=1, batch_size=batch, precision=precision)
    train(model, warm, recipe, seed=0, device=device, compile_model=compile_model)
    stats = train(model, data, recipe, seed=1, device=device, compile_model=compile_model)
    return stats.images_per_second


def bench_bare(
    name: str, size: int, batch: int, steps: int, warmup: int, device: torch.device, precision: str = "fp32"
) -> float:
    """Images/s of forward + backward + SGD on one prepared batch, with the loop's autocast and layout."""
    model = build(name, size).to(device).train()
    optimizer = make_optimizer(model, Recipe())
    xb = prepare_batch(torch.randn(batch, 3, size, size, device=device), device, precision)
    yb = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with training_autocast(device, precision):
            loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()

    with training_layout(model, device, precision):  # the loop's own layout under bf16
        for _ in range(warmup):
            step()
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        return steps * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure each model and print one JSON line last."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet18_cifar"],
                        choices=["resnet18", "resnet18_cifar", "small_cnn"])  # fmt: skip
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per contender")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile'd loop")
    parser.add_argument("--tiny", action="store_true", help="CI: small_cnn, 2 steps of 8 images of 16x16")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = parser.parse_args(argv)
    size = 32
    if args.tiny:
        args.models, args.batch, args.steps, args.warmup, size = ["small_cnn"], 8, 2, 1, 16
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu (and --tiny) on a machine without a GPU")
    precision = resolve_precision(args.precision, device)
    g = torch.Generator().manual_seed(0)
    n = args.steps * args.batch
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    data = TensorData(x, torch.randint(0, 10, (n,), generator=g), MEAN, STD).to(device)  # resident on the device
    models: dict[str, dict[str, float]] = {}
    for name in args.models:
        row = {
            "bare": bench_bare(name, size, args.batch, args.steps, args.warmup, device, precision),
            "unlearnbench": bench_loop(name, data, args.batch, args.warmup, device, False, precision),
        }
        if args.compile:
            row["compiled"] = bench_loop(name, data, args.batch, args.warmup, device, True, precision)
        row = {k: round(v, 1) for k, v in row.items()}
        row["ratio_vs_bare"] = round(row["unlearnbench"] / row["bare"], 3)
        row["epoch_seconds"] = round(CIFAR10_TRAIN / row["unlearnbench"], 1)
        models[name] = row
        print(name, row, flush=True)
    out = {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "batch": args.batch,
        "steps": args.steps,
        "autocast": "bf16" if precision == "bf16" else "none",
        "models": models,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
