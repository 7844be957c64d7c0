"""Benchmark of forgetting quality F: wall seconds for N models × S forget examples, and the speed-up of the
counting implementation over a straightforward one that compares every threshold with every model.

Confidences are synthetic and seeded: per example a Gaussian for the retrained pool and a slightly shifted,
rescaled one for the unlearned pool. The straightforward implementation runs on the first few examples
only; its seconds per example, times S, estimate what it would need for all of them. Both must give the
same ε on those examples.

    python benchmarks/forgetting_quality.py                 # 512 models × 5,000 examples
    python benchmarks/forgetting_quality.py --quick         # tiny sizes, seconds

The last line printed is JSON (``seconds``, ``seconds_<N>x<S>``, ``speedup_vs_naive``, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np

from unlearnbench.metrics.forgetting_quality import DELTA, forgetting_quality


def synthetic_confidences(n_models: int, n_examples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(unlearned, retrained), each [n_models, n_examples], seeded Gaussian confidences."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(2.0, 3.0, n_examples)
    spread = rng.uniform(0.5, 2.5, n_examples)
    retrained = rng.normal(mean, spread, (n_models, n_examples))
    shift = rng.normal(0.0, 0.3, n_examples)
    scale = rng.uniform(0.8, 1.25, n_examples)
    unlearned = rng.normal(mean + shift, spread * scale, (n_models, n_examples))
    return unlearned, retrained


def _epsilons_of_rates(fnr: np.ndarray, fpr: np.ndarray, delta: float) -> np.ndarray:
    """ε per threshold, NaN where discarded or undefined, as the released scoring code does."""
    with np.errstate(divide="ignore", invalid="ignore"):
        side1 = np.log(1 - delta - fpr) - np.log(fnr)
        side2 = np.log(1 - delta - fnr) - np.log(fpr)
        eps = np.clip(np.fmax(side1, side2), 0, None)
    eps = np.where((fnr > 0) & (fpr > 0), eps, np.nan)
    return np.where((fnr == 0) & (fpr == 0), np.inf, eps)


def naive_epsilon(u: np.ndarray, r: np.ndarray, delta: float = DELTA, chunk: int = 40) -> float:
    """ε of one example by materialising thresholds × models (right ends in chunks to bound memory)."""
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    pos_range, neg_range = np.ptp(pos), np.ptp(neg)
    small, large = min(pos_range, neg_range), max(pos_range, neg_range)
    if large == 0 or small / large < 0.01:
        return 50.0
    best = -math.inf
    low, high = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    t = np.linspace(low, high, int(np.ceil((high - low) * 100)))
    fnr = np.mean(pos[:, None] < t[None, :], axis=0)
    fpr = np.mean(neg[:, None] >= t[None, :], axis=0)
    best = max(best, float(np.nanmax(_epsilons_of_rates(fnr, fpr, delta), initial=-np.inf)))
    narrow, wide = (neg, pos) if pos_range >= neg_range else (pos, neg)
    width = narrow.max() - narrow.min()
    r_low, r_high = narrow.min() + width - 2.0, narrow.max() + 2.0
    rights = np.linspace(r_low, r_high, int(np.ceil((r_high - r_low) * 100)))
    for begin in range(0, rights.size, chunk):
        ends = rights[begin : begin + chunk]
        lefts = np.concatenate([np.linspace(end - width - 2.0, end - width + 2.0, 400) for end in ends])
        rr = np.repeat(ends, 400)
        inside_n = (lefts[None, :] <= narrow[:, None]) & (narrow[:, None] <= rr[None, :])
        inside_w = (lefts[None, :] <= wide[:, None]) & (wide[:, None] <= rr[None, :])
        eps = _epsilons_of_rates((~inside_n).mean(axis=0), inside_w.mean(axis=0), delta)
        best = max(best, float(np.nanmax(eps, initial=-np.inf)))
    return float(np.clip(best if best > -math.inf else 0.0, 0, 50))


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; prints a summary and, last, one JSON line (also returned)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-models", type=int, default=512)
    parser.add_argument("--n-examples", type=int, default=5000)
    parser.add_argument("--naive-examples", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (64 models × 200 examples)")
    parser.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="torch backend: the device the confidences live on")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_models, args.n_examples, args.naive_examples = 64, 200, 2
    n, s = args.n_models, args.n_examples
    unlearned, retrained = synthetic_confidences(n, s, args.seed)
    if args.device is not None:  # the torch backend computes where its tensors are
        import torch

        args.backend = "torch"
        unlearned, retrained = (torch.as_tensor(a, device=args.device) for a in (unlearned, retrained))

    forgetting_quality(unlearned[:, :1], retrained[:, :1], backend=args.backend)  # imports, table cache
    start = time.perf_counter()
    f_value, eps = forgetting_quality(unlearned, retrained, backend=args.backend)
    seconds = time.perf_counter() - start
    print(f"F = {f_value:.4f} for {n} models x {s} examples ({args.backend}): {seconds:.2f} s")

    k = min(args.naive_examples, s)
    start = time.perf_counter()
    naive = np.array([naive_epsilon(_host(unlearned[:, i]), _host(retrained[:, i])) for i in range(k)])
    naive_per_example = (time.perf_counter() - start) / max(k, 1)
    start = time.perf_counter()
    fast = forgetting_quality(unlearned[:, :k], retrained[:, :k], backend=args.backend)[1]
    fast_subset = (time.perf_counter() - start) / max(k, 1)
    agree = bool(np.array_equal(naive, fast) and np.array_equal(fast, np.asarray(eps)[:k]))
    fast_per_example = seconds / s
    speedup = naive_per_example / fast_per_example
    print(
        f"straightforward: {naive_per_example:.2f} s per example on {k} examples "
        f"(~{naive_per_example * s:.0f} s for all {s}); "
        f"counting: {fast_per_example * 1e3:.2f} ms per example "
        f"({fast_subset * 1e3:.2f} ms on the same {k}); speed-up {speedup:.0f}x; same ε: {agree}"
    )
    result: dict[str, object] = {
        "n_models": n,
        "n_examples": s,
        "backend": args.backend,
        "device": str(args.device or "cpu"),
        "seconds": round(seconds, 3),
        f"seconds_{n}x{s}": round(seconds, 3),
        "F": f_value,
        "naive_examples": k,
        "naive_seconds_per_example": round(naive_per_example, 4),
        "fast_seconds_per_example": round(fast_per_example, 6),
        "naive_seconds_extrapolated": round(naive_per_example * s, 1),
        "speedup_vs_naive": round(speedup, 1),
        "same_epsilon": agree,
        "machine": f"{platform.processor() or platform.machine()}, {_cores()} cores",
    }
    print(json.dumps(result))
    return result


def _host(values: object) -> np.ndarray:
    """A column as a NumPy array (from the device where the torch backend keeps it)."""
    return values.cpu().numpy() if hasattr(values, "cpu") else np.asarray(values)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
