"""Benchmark of journaling: one fsync'ed journal line per item versus rewriting the whole results.json.

Items are synthetic but shaped like real ones (S seeds × C columns of per-seed values, a summary per column
and diagnostics of a few kilobytes). For N finished items it times appending the N-th item's journal line
and rewriting results.json with all N items (atomically: temp file, fsync, rename), which is what a
"write results.json after every item" policy would cost per item.

    python benchmarks/journal_write.py                 # 200 items
    python benchmarks/journal_write.py --quick         # 20 items

The last line printed is JSON (``journal_append_ms``, ``results_rewrite_ms``, ``items``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from unlearnbench.journal import Journal
from unlearnbench.results import Column, ItemResult, RunResults, SeedResult, Summary, save


def make_item(index: int, seeds: int, columns: int) -> ItemResult:
    """A synthetic finished item with diagnostics of a realistic size."""
    keys = [f"metric{c}.col" for c in range(columns)]
    return ItemResult(
        item_id=f"method[lr={index}]", method="method", params={"lr": index}, description="synthetic",
        outcome="passed",
        seeds=tuple(SeedResult(s, {k: 0.1 * s + c for c, k in enumerate(keys)}, 1.5) for s in range(seeds)),
        summary={k: Summary(0.5, 0.4, 0.6, seeds, 0.05) for k in keys},
        diagnostics={"histogram": [[0.01 * i for i in range(50)] for _ in range(8)]},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 20 if args.quick else args.items
    items = [make_item(i, args.seeds, args.columns) for i in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        journal = Journal(run_dir)
        journal.open("0" * 16, "bench", {})
        start = time.perf_counter()
        for i, item in enumerate(items):
            journal.append(f"{i:064x}", float(i), item)
        append_ms = (time.perf_counter() - start) / n * 1e3
        journal.close()
        results = RunResults(
            run_id="bench", command="", config={}, config_hash="0" * 16, seeds=tuple(range(args.seeds)),
            oracle_seeds=(0,), versions={}, device="cpu", git_commit="", started_at="", duration=0.0,
            columns=tuple(Column(f"metric{c}.col", "col", f"metric{c}", True) for c in range(args.columns)),
            items=tuple(items),
        )  # fmt: skip
        start = time.perf_counter()
        repeats = 5
        for _ in range(repeats):
            save(results, run_dir / "results.json")
        rewrite_ms = (time.perf_counter() - start) / repeats * 1e3
        size_kib = (run_dir / "results.json").stat().st_size / 1024
    print(f"{n} items: journal append {append_ms:.2f} ms/item, results.json rewrite {rewrite_ms:.1f} ms "
          f"({size_kib:.0f} KiB)")  # fmt: skip
    print(json.dumps({"items": n, "journal_append_ms": round(append_ms, 3), "results_rewrite_ms": round(rewrite_ms, 2),
                      "results_kib": round(size_kib)}))  # fmt: skip


if __name__ == "__main__":
    main()
