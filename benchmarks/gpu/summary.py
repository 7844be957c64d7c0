"""Summary of benchmarks/gpu/throughput.sh: models per GPU-hour and the challenge protocol's extrapolated cost.

Reads ``step.json``, ``batched.json`` and ``forgetting_quality.json`` from the folder given and writes
``summary.json`` there (and prints it):

* ``loop_vs_bare``: the bench's loop as a share of the bare step's images/s, per architecture;
* ``models_per_gpu_hour``: ResNet-18 (ImageNet stem, the starting kit's model) trained at the kit's recipe,
  30 epochs of 45,000 retain images, one by one and as one batched ensemble, from their images/s;
* ``challenge``: 512 retrained models (30 epochs) and 512 unlearned ones (fine-tuning, 5 epochs of the retain
  set, the kit's method) at the faster of the two rates, plus F on 512 x 512 models x 5,000 examples:
  the extrapolated GPU-hours, and ``bound``: the share of that time spent training.

    python benchmarks/gpu/summary.py benchmarks/results/throughput
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RETAIN_IMAGES = 45_000
RETRAIN_EPOCHS = 30
UNLEARN_EPOCHS = 5
MODELS = 512


def summarise(folder: Path) -> dict[str, Any]:
    """The summary of the three steps' JSON files in ``folder``."""
    step = json.loads((folder / "step.json").read_text())
    batched = json.loads((folder / "batched.json").read_text())
    fq = json.loads((folder / "forgetting_quality.json").read_text())
    loop = {name: row["ratio_vs_bare"] for name, row in step["models"].items()}
    name = "resnet18" if "resnet18" in batched["models"] else next(iter(batched["models"]))
    rates = batched["models"][name]  # images/s over all K models
    per_model = RETRAIN_EPOCHS * RETAIN_IMAGES
    per_hour = {mode: round(rates[mode] * 3600 / per_model, 2) for mode in ("sequential", "vmap")}
    best = max(rates["sequential"], rates["vmap"])
    images = MODELS * (RETRAIN_EPOCHS + UNLEARN_EPOCHS) * RETAIN_IMAGES
    train_hours = images / best / 3600
    f_hours = float(fq["seconds"]) / 3600 * (MODELS * 5000) / (fq["n_models"] * fq["n_examples"])
    total = train_hours + f_hours
    return {
        "device": batched.get("device_name", batched.get("device")),
        "loop_vs_bare": loop,
        "model": name,
        "models_per_gpu_hour": {**per_hour, "ensemble_k": batched["k"],
                                "speedup": round(rates["vmap"] / rates["sequential"], 3)},
        "challenge": {
            "retrained": MODELS, "unlearned": MODELS, "training_images": images,
            "images_per_second": best, "training_hours": round(train_hours, 2), "f_hours": round(f_hours, 4),
            "gpu_hours": round(total, 2), "bound": f"training {100 * train_hours / total:.1f} % of the time",
        },
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Write and print the summary of the folder given; 4 with one line when a step's file is missing."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "benchmarks/results/throughput")
    try:
        summary = summarise(folder)
    except (OSError, ValueError, KeyError) as exc:
        print(f"summary.py: cannot summarise {folder}: {exc}", file=sys.stderr)
        return 4
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
