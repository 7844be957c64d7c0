"""The dataset pictures: class counts per split, channel statistics, the mean image, the grayscale
histogram and sample images per class, drawn from ``results.dataset["stats"]`` (see
:func:`unlearnbench.data.stats.dataset_statistics`) for the report and for ``unlearnbench data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unlearnbench.reporting.figures import SPLIT_COLORS, Figure
from unlearnbench.reporting.raster import heatmap_svg, image_grid_svg
from unlearnbench.reporting.svg import WIDE, Axis, Bar, Series, bar_svg, histogram_svg

__all__ = ["channel_names", "dataset_figures"]


def channel_names(count: int) -> list[str]:
    """``red, green, blue`` for three channels, ``gray`` for one, else ``channel i``."""
    if count == 3:
        return ["red", "green", "blue"]
    if count == 1:
        return ["gray"]
    return [f"channel {i}" for i in range(count)]


def dataset_figures(stats: Mapping[str, Any]) -> list[Figure]:
    """Class counts per split, channel statistics, mean image per channel, grayscale histogram, samples."""
    if not isinstance(stats, Mapping) or stats.get("version") != 1:
        return []
    names = [str(n) for n in stats.get("class_names", [])]
    figures = []
    counts = stats.get("class_counts", {})
    if counts and names:
        bars = [Bar(split, values, SPLIT_COLORS.get(split, "#868e96")) for split, values in counts.items()]
        top = max([v for values in counts.values() for v in values] + [1]) * 1.1
        figures.append(
            Figure(
                "data-counts",
                "Class counts per split",
                "Examples of each class in each split. Forget and retain come from the training set, test "
                "and "
                "validation from the held-out set; a class-wise forget set empties its classes from retain.",
                bar_svg(names, bars, Axis(0.0, top, "examples"), "class", "class counts per split", WIDE),
                wide=True,
            )
        )
    channels = stats.get("channels", {})
    if channels.get("train"):
        labels = channel_names(len(channels["train"]["mean"]))
        bars = [
            Bar(f"{part} mean ± std", channels[part]["mean"], color, channels[part]["std"])
            for part, color in (("train", "#4263eb"), ("heldout", "#adb5bd"))
            if channels.get(part)
        ]
        figures.append(
            Figure(
                "data-channels",
                "Channel statistics",
                "Mean intensity of each channel (0 = black, 1 = full) with whiskers at ± one standard "
                "deviation, for the training and held-out sets: a shift between them would make test "
                "accuracy misleading.",
                bar_svg(labels, bars, Axis(0.0, 1.0, "intensity"), "channel", "channel mean and std"),
            )
        )
    mean = stats.get("mean_image", {}).get("values")
    if mean:
        flat = [v for channel in mean for row in channel for v in row]
        panels = list(zip(channel_names(len(mean)), mean))
        factor = stats["mean_image"].get("factor", 1)
        pooled = f" (averaged over {factor}×{factor} blocks)" if factor > 1 else ""
        figures.append(
            Figure(
                "data-mean",
                "Mean intensity per pixel position",
                f"Average training image, per channel{pooled}, on a colour scale from the darkest to the "
                "brightest mean. Structure here (a bright centre, a coloured border) is what every class "
                "shares.",
                heatmap_svg(panels, min(flat), max(flat), "mean intensity per pixel and channel"),
            )
        )
    gray = stats.get("gray_histogram")
    if gray:
        figures.append(
            Figure(
                "data-gray",
                "Grayscale histogram",
                "Distribution of pixel gray levels over the training set (BT.601 luma for colour images): "
                "spikes at 0 or 255 reveal padding or saturation.",
                histogram_svg(
                    float(gray["lo"]),
                    float(gray["hi"]),
                    [Series("pixels", gray["counts"], "#495057")],
                    "gray level (0–255)",
                    "grayscale histogram",
                    "fraction of pixels",
                ),
            )
        )
    samples = stats.get("samples")
    if samples and names:
        rows = list(zip(names, samples))
        figures.append(
            Figure(
                "data-samples",
                "Sample images per class",
                "The first training images of each class, enlarged without smoothing.",
                image_grid_svg(rows, "sample images per class"),
                wide=True,
            )
        )
    return figures
