"""Training throughput, measured side by side in one run: unlearnbench's loop vs the bare step vs a reference.

* ``unlearnbench``: :func:`unlearnbench.training.train` on CIFAR-10-shaped uint8 data with augmentation
  (random crop with padding 4 and horizontal flip as batched tensor ops).
* ``bare``: the same model, optimiser and batch size, tensors already prepared (no data pipeline at all):
  the limit any loop can reach on this machine.
* ``reference``: the NeurIPS 2023 challenge starting kit's style: a torchvision ``Dataset`` with per-sample
  PIL transforms (RandomCrop(32, 4), RandomHorizontalFlip, ToTensor, Normalize) and a ``DataLoader`` with
  2 workers, same model and optimiser.

``--precision`` (default ``auto``: what ``unlearnbench run`` resolves on this machine) sets the bench's loop
and the bare step alike (``bf16``: autocast with channels-last, as :mod:`unlearnbench.training` does); the
reference stays float32, as the starting kit trains. Under ``bf16`` the float32 loop and bare step are
measured too (``fp32`` in the JSON), so both precisions' ratios come from one run.

The last printed line is JSON with ``ratio_vs_bare`` (unlearnbench / bare) and ``ratio_vs_reference``
(unlearnbench / reference). Usage: ``python benchmarks/train_throughput.py [--quick | --tiny] [--model resnet18]``;
``--tiny`` (small_cnn, a few steps of batch 16, no loader workers) only proves in CI that it runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np
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


def build_model(name: str) -> nn.Module:
    """The benchmarked architecture through the model plugins."""
    if name == "resnet18":
        from unlearnbench.models.resnet18 import ResNet18

        return ResNet18().build(10, 3, 32)
    if name == "resnet18_cifar":
        from unlearnbench.models.resnet18_cifar import ResNet18CIFAR

        return ResNet18CIFAR().build(10, 3, 32)
    from unlearnbench.models.small_cnn import SmallCNN

    return SmallCNN().build(10, 3, 32)


def synthetic_cifar(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images (N, 32, 32, 3) and labels: CIFAR-10's shapes and dtypes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def bench_unlearnbench(model_name: str, steps: int, batch: int, warmup: int, precision: str = "fp32") -> float:
    """Images/s of the bench's training loop (one epoch of ``steps`` batches after a warm-up epoch)."""
    x, y = synthetic_cifar(steps * batch)
    data = TensorData(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y).long(), MEAN, STD)
    model = build_model(model_name)
    warm = data.subset(torch.arange(warmup * batch))
    train(model, warm, Recipe(epochs=1, batch_size=batch, precision=precision), seed=0)
    stats = train(model, data, Recipe(epochs=1, batch_size=batch, precision=precision), seed=1)
    return stats.images_per_second


def bench_bare(model_name: str, steps: int, batch: int, warmup: int, precision: str = "fp32") -> float:
    """Images/s of forward + backward + SGD step on one prepared batch: the upper limit.

    Under ``bf16`` the step is the same autocast, channels-last computation the bench's loop runs.
    """
    cpu = torch.device("cpu")
    model = build_model(model_name)
    model.train()
    optimizer = make_optimizer(model, Recipe())
    xb = prepare_batch(torch.randn(batch, 3, 32, 32), cpu, precision)
    yb = torch.randint(0, 10, (batch,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with training_autocast(cpu, precision):
            loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()

    with training_layout(model, cpu, precision):  # the loop's own layout under bf16
        for _ in range(warmup):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return steps * batch / (time.perf_counter() - start)


class _PILDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The starting kit's style: one PIL image and one transform pipeline call per sample."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        import torchvision.transforms as T

        self.x, self.y = x, y
        self.transform = T.Compose(
            [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)]
        )

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def bench_reference(model_name: str, steps: int, batch: int, warmup: int, workers: int) -> float:
    """Images/s of a DataLoader + per-sample PIL transforms loop with the same model and optimiser."""
    x, y = synthetic_cifar((steps + warmup) * batch)
    loader = torch.utils.data.DataLoader(
        _PILDataset(x, y), batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
        persistent_workers=False,
    )  # fmt: skip
    model = build_model(model_name)
    model.train()
    optimizer = make_optimizer(model, Recipe())
    start = 0.0
    seen = 0
    for i, (xb, yb) in enumerate(loader):
        if i == warmup:
            start = time.perf_counter()
            seen = 0
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
        seen += len(yb)
    return seen / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=["resnet18", "resnet18_cifar", "small_cnn"])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per contender")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference loop")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--quick", action="store_true", help="few steps")
    parser.add_argument("--tiny", action="store_true", help="CI: small_cnn, 3 steps of 16, no loader workers")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="the loop's and the bare step's arithmetic (default: what the bench uses here)")
    args = parser.parse_args(argv)
    precision = resolve_precision(args.precision, torch.device("cpu"))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.warmup, args.rounds = 12, 2, 1
    if args.tiny:
        args.model, args.steps, args.batch, args.warmup, args.rounds, args.workers = "small_cnn", 3, 16, 1, 1, 0
    torch.manual_seed(0)
    results: dict[str, list[float]] = {"unlearnbench": [], "bare": [], "reference": []}
    if precision != "fp32":
        results.update({"unlearnbench_fp32": [], "bare_fp32": []})
    shape = (args.model, args.steps, args.batch, args.warmup)
    for _ in range(args.rounds):  # interleaved, so drifting machine load hits every contender alike
        results["bare"].append(bench_bare(*shape, precision))
        results["unlearnbench"].append(bench_unlearnbench(*shape, precision))
        results["reference"].append(bench_reference(*shape, args.workers))
        if precision != "fp32":
            results["bare_fp32"].append(bench_bare(*shape, "fp32"))
            results["unlearnbench_fp32"].append(bench_unlearnbench(*shape, "fp32"))
        print({k: round(v[-1], 1) for k, v in results.items()}, flush=True)
    best = {k: max(v) for k, v in results.items()}
    out: dict[str, Any] = {
        "model": args.model,
        "batch": args.batch,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "precision": precision,
        "images_per_s": {k: round(v, 1) for k, v in best.items()},
        "ratio_vs_bare": round(best["unlearnbench"] / best["bare"], 3),
        "ratio_vs_reference": round(best["unlearnbench"] / best["reference"], 3),
    }
    if precision != "fp32":
        out["fp32"] = {
            "ratio_vs_bare": round(best["unlearnbench_fp32"] / best["bare_fp32"], 3),
            "ratio_vs_reference": round(best["unlearnbench_fp32"] / best["reference"], 3),
        }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
