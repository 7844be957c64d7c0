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
    drawn = (
        _class_counts_figure(stats.get("class_counts", {}), names),
        _channels_figure(stats.get("channels", {})),
        _mean_image_figure(stats),
        _gray_histogram_figure(stats.get("gray_histogram")),
        _samples_figure(stats.get("samples"), names),
    )
    return [figure for figure in drawn if figure is not None]


def _class_counts_figure(counts: Mapping[str, Any], names: list[str]) -> Figure | None:
    """Grouped bars of the examples per class in each split; None without counts or class names."""
    if not (counts and names):
        return None
    bars = [Bar(split, values, SPLIT_COLORS.get(split, "#868e96")) for split, values in counts.items()]
    top = max([v for values in counts.values() for v in values] + [1]) * 1.1
    return Figure(
        "data-counts",
        "Class counts per split",
        "Examples of each class in each split. Forget and retain come from the training set, test "
        "and "
        "validation from the held-out set; a class-wise forget set empties its classes from retain.",
        bar_svg(names, bars, Axis(0.0, top, "examples"), "class", "class counts per split", WIDE),
        wide=True,
    )


def _channels_figure(channels: Mapping[str, Any]) -> Figure | None:
    """Mean ± std bars per channel for the training and held-out sets; None without training statistics."""
    if not channels.get("train"):
        return None
    labels = channel_names(len(channels["train"]["mean"]))
    bars = [
        Bar(f"{part} mean ± std", channels[part]["mean"], color, channels[part]["std"])
        for part, color in (("train", "#4263eb"), ("heldout", "#adb5bd"))
        if channels.get(part)
    ]
    return Figure(
        "data-channels",
        "Channel statistics",
        "Mean intensity of each channel (0 = black, 1 = full) with whiskers at ± one standard "
        "deviation, for the training and held-out sets: a shift between them would make test "
        "accuracy misleading.",
        bar_svg(labels, bars, Axis(0.0, 1.0, "intensity"), "channel", "channel mean and std"),
    )


def _mean_image_figure(stats: Mapping[str, Any]) -> Figure | None:
    """Heat maps of the mean training image, one panel per channel; None without a mean image."""
    mean = stats.get("mean_image", {}).get("values")
    if not mean:
        return None
    flat = [v for channel in mean for row in channel for v in row]
    panels = list(zip(channel_names(len(mean)), mean))
    factor = stats["mean_image"].get("factor", 1)
    pooled = f" (averaged over {factor}×{factor} blocks)" if factor > 1 else ""
    return Figure(
        "data-mean",
        "Mean intensity per pixel position",
        f"Average training image, per channel{pooled}, on a colour scale from the darkest to the "
        "brightest mean. Structure here (a bright centre, a coloured border) is what every class "
        "shares.",
        heatmap_svg(panels, min(flat), max(flat), "mean intensity per pixel and channel"),
    )


def _gray_histogram_figure(gray: Mapping[str, Any] | None) -> Figure | None:
    """The histogram of training pixel gray levels; None without one."""
    if not gray:
        return None
    return Figure(
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


def _samples_figure(samples: list[Any] | None, names: list[str]) -> Figure | None:
    """A grid of the first training images of each class; None without samples or class names."""
    if not (samples and names):
        return None
    rows = list(zip(names, samples))
    return Figure(
        "data-samples",
        "Sample images per class",
        "The first training images of each class, enlarged without smoothing.",
        image_grid_svg(rows, "sample images per class"),
        wide=True,
    )
