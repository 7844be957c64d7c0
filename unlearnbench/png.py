"""A minimal PNG encoder (stdlib only) for the small images the reports embed as data URIs.

Dataset samples, mean images and heatmaps are a few dozen pixels wide: a dependency-free encoder keeps the
reporting layer importable anywhere and makes the bytes (and so the reports) reproducible across versions
of an imaging library. Only 8-bit grayscale and RGB without interlacing are written.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Sequence
from typing import Any

__all__ = ["DATA_URI_PREFIX", "encode_png", "is_png_data_uri", "png_data_uri"]

#: Every image a report embeds starts with this; anything else is refused (see :func:`is_png_data_uri`).
DATA_URI_PREFIX = "data:image/png;base64,"

_DATA_URI = re.compile(r"^data:image/png;base64,[A-Za-z0-9+/]+={0,2}$")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png(pixels: bytes, width: int, height: int, channels: int) -> bytes:
    """PNG bytes of row-major 8-bit pixels (``channels`` 1 = grayscale, 3 = RGB)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    stride = width * channels
    if len(pixels) != stride * height:
        raise ValueError(
            f"expected {stride * height} bytes for {width}x{height}x{channels}, got {len(pixels)}"
        )
    # Filter type 0 on every row: these images are too small for the adaptive filters to pay off.
    raw = b"".join(b"\x00" + pixels[row * stride : (row + 1) * stride] for row in range(height))
    colour_type = 0 if channels == 1 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def png_data_uri(rows: Sequence[Sequence[Any]], channels: int) -> str:
    """A ``data:image/png;base64,...`` URI of an image given as rows of pixels.

    A grayscale row is a sequence of ints; an RGB row a sequence of (r, g, b). Values are clipped to 0..255.
    """
    height = len(rows)
    width = len(rows[0]) if height else 0
    flat = bytearray()
    for row in rows:
        if len(row) != width:
            raise ValueError("every row must have the same width")
        for pixel in row:
            values: tuple[Any, ...] = (pixel,) if channels == 1 else tuple(pixel)
            flat.extend(max(0, min(255, int(v))) for v in values)
    encoded = base64.b64encode(encode_png(bytes(flat), width, height, channels)).decode("ascii")
    return DATA_URI_PREFIX + encoded


def is_png_data_uri(text: object) -> bool:
    """True for a well-formed base64 PNG data URI: the only image source a report accepts."""
    return isinstance(text, str) and bool(_DATA_URI.match(text))
