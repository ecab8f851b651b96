"""Test footage whose every frame carries its own index, so a test can tell exactly which frame it got.

The index is written as 8 large black/white blocks (a binary code): big flat blocks survive
H.264, VP9, MJPEG and a GIF palette unchanged, so reading them back is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 8
ROWS, COLS = 2, 4


def index_frame(index: int, height: int = 64, width: int = 128) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame showing `index` (0..255) as a 2 x 4 grid of black/white blocks."""
    image = np.zeros((height, width, 3), np.uint8)
    bh, bw = height // ROWS, width // COLS
    for bit in range(BITS):
        if index >> bit & 1:
            r, c = divmod(bit, COLS)
            image[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw] = 255
    return image


def read_index(image: np.ndarray) -> int:
    """The index `index_frame` wrote, read from the centre of each block."""
    height, width = image.shape[:2]
    bh, bw = height // ROWS, width // COLS
    value = 0
    for bit in range(BITS):
        r, c = divmod(bit, COLS)
        centre = image[r * bh + bh // 4 : (r + 1) * bh - bh // 4, c * bw + bw // 4 : (c + 1) * bw - bw // 4]
        if centre.mean() > 127:
            value |= 1 << bit
    return value


def write_indexed(
    path: Path,
    times_ms: Sequence[int],
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    size: tuple[int, int] = (64, 128),
    rotation: int | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    format: str | None = None,
) -> Path:
    """Encode one indexed frame per entry of `times_ms` (presentation times in milliseconds: VFR when uneven)."""
    time_base = Fraction(1, 100) if codec == "gif" else Fraction(1, 1000)
    scale = 10 if codec == "gif" else 1
    gap = int(np.median(np.diff(times_ms))) if len(times_ms) > 1 else 100
    with av.open(str(path), mode="w", format=format, options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=Fraction(1000, max(1, gap)))
        stream.height, stream.width = size
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        if options:
            stream.options = options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(index_frame(i, *size), format="rgb24")
            frame.pts = t // scale
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def cfr_times(count: int, fps: float) -> list[int]:
    return [round(i * 1000 / fps) for i in range(count)]
