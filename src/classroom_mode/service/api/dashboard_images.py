"""The dashboard's images, drawn on the server so the page needs no plotting library and no CDN.

Frames become JPEG with Pillow. The attention heatmap, the confusion matrix and the learning curve are
the probe package's own pictures (`classroom_mode.model.probes.plots`), so the dashboard shows exactly
what `classify --explain` and `evaluate --confusion` write.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

STRIP_FRAMES = 8
STRIP_HEIGHT = 144
THUMBNAIL_WIDTH = 480


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _resized(frame: np.ndarray, *, width: int | None = None, height: int | None = None) -> Image.Image:
    """The frame scaled to `width` or to `height`, keeping its aspect ratio."""
    image = Image.fromarray(frame)
    if width is not None:
        height = max(1, round(image.height * width / image.width))
    else:
        assert height is not None, "give a width or a height"
        width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def thumbnail_jpeg(frame: np.ndarray, width: int = THUMBNAIL_WIDTH) -> bytes:
    """One (H, W, 3) uint8 frame as a JPEG no wider than `width`."""
    return _jpeg(_resized(frame, width=min(width, frame.shape[1])))


def frame_strip_jpeg(frames: np.ndarray, count: int = STRIP_FRAMES, height: int = STRIP_HEIGHT) -> bytes:
    """`count` evenly spaced frames of a (T, H, W, 3) clip side by side, as one JPEG (the clip at a glance)."""
    picks = np.unique(np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int))
    tiles = [_resized(frames[i], height=height) for i in picks]
    gap = 4
    strip = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height), (15, 23, 42))
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width + gap
    return _jpeg(strip)
