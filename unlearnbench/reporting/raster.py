"""Pictures made of pixels, as inline SVG: heatmaps (a colour ramp over a value grid) and image grids.

The pixels travel as PNG data URIs (:mod:`~unlearnbench.png`) inside ``<image>`` elements drawn
without smoothing, so an 8 × 8 digit stays a crisp 8 × 8 grid when enlarged. Only PNG data URIs are
accepted as sources: anything else in a results.json is dropped, never fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from unlearnbench.png import is_png_data_uri, png_data_uri
from unlearnbench.reporting.svg import CHAR_WIDTH, esc, tick_text

__all__ = ["heatmap_svg", "image_grid_svg", "ramp"]

_VIRIDIS = (
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
)


def ramp(value: float, lo: float, hi: float) -> tuple[int, int, int]:
    """The viridis colour of ``value`` on [lo, hi] (linear interpolation between ten stops)."""
    t = 0.0 if hi <= lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))
    position = t * (len(_VIRIDIS) - 1)
    i = min(int(position), len(_VIRIDIS) - 2)
    a, b = _hex(_VIRIDIS[i]), _hex(_VIRIDIS[i + 1])
    f = position - i
    return (round(a[0] + (b[0] - a[0]) * f), round(a[1] + (b[1] - a[1]) * f), round(a[2] + (b[2] - a[2]) * f))


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def heatmap_svg(
    panels: Sequence[tuple[str, Sequence[Sequence[float]]]],
    lo: float,
    hi: float,
    title: str,
    colour: Callable[[float, float, float], tuple[int, int, int]] = ramp,
) -> str:
    """One square heatmap per panel side by side (pixelated PNGs), sharing a colour bar from lo to hi."""
    size, gap, top = 120, 18, 20
    count = max(1, len(panels))
    width = count * size + (count - 1) * gap + 90
    parts = []
    for k, (label, grid) in enumerate(panels):
        if not grid or not grid[0]:
            continue
        uri = png_data_uri([[colour(v, lo, hi) for v in row] for row in grid], 3)
        x = k * (size + gap) + 4
        parts.append(
            f'<text class="legend" x="{x + size // 2}" y="13" text-anchor="middle">{esc(label)}</text>'
        )
        parts.append(
            f'<image x="{x}" y="{top}" width="{size}" height="{size}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="{uri}"/>'
        )
    bar_x = count * (size + gap) + 4
    stops = [colour(lo + (hi - lo) * (1 - i / 31), lo, hi) for i in range(32)]
    parts.append(
        f'<image x="{bar_x}" y="{top}" width="12" height="{size}" preserveAspectRatio="none" '
        f'style="image-rendering:pixelated" href="{png_data_uri([[c] for c in stops], 3)}"/>'
    )
    parts.append(f'<text class="tick" x="{bar_x + 16}" y="{top + 8}">{esc(tick_text(round(hi, 3)))}</text>')
    parts.append(
        f'<text class="tick" x="{bar_x + 16}" y="{top + size}">{esc(tick_text(round(lo, 3)))}</text>'
    )
    return (
        f'<svg class="chart heat" viewBox="0 0 {width} {size + top + 6}" width="{width}" '
        f'height="{size + top + 6}" role="img" aria-label="{esc(title)}">'
        f"<title>{esc(title)}</title>" + "".join(parts) + "</svg>"
    )


def image_grid_svg(rows: Sequence[tuple[str, Sequence[str]]], title: str, cell: int = 40) -> str:
    """A labelled row of images per class; sources other than PNG data URIs are dropped, never fetched."""
    label_width = min(110, 14 + int(CHAR_WIDTH * max([len(label) for label, _ in rows] + [1])))
    columns = max([len(uris) for _, uris in rows] + [1])
    width = label_width + columns * (cell + 4)
    height = max(1, len(rows)) * (cell + 4) + 4
    parts = []
    for r, (label, uris) in enumerate(rows):
        y = 4 + r * (cell + 4)
        text = label if len(label) <= 16 else label[:15] + "…"
        parts.append(
            f'<text class="legend" x="{label_width - 8}" y="{y + cell / 2}" text-anchor="end" '
            f'dominant-baseline="middle">{esc(text)}<title>{esc(label)}</title></text>'
        )
        for c, uri in enumerate(u for u in uris if is_png_data_uri(u)):
            parts.append(
                f'<image x="{label_width + c * (cell + 4)}" y="{y}" width="{cell}" height="{cell}" '
                f'style="image-rendering:pixelated" href="{esc(uri)}"/>'
            )
    return (
        f'<svg class="chart grid-img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(title)}">'
        f"<title>{esc(title)}</title>" + "".join(parts) + "</svg>"
    )
