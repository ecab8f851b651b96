"""Privacy masks: polygons of a camera's picture blacked out at the source, before anything else sees a frame.

A classroom camera also sees a corridor window, a door, a screen showing faces. The mask is applied where a
camera's frames enter the program (`factory.open_source` wraps the source in `MaskedSource`), so the encoder,
the recorder, the dashboard's picture, the probe's attention drawn over it and the labelling page (which plays
recorded clips) all receive the masked frame and nothing else. Polygons are in coordinates relative to the
frame (0–1, x to the right, y down), so a change of resolution keeps them where they were.

A probe learns the picture it was trained on, mask included; its card keeps the mask's `fingerprint`, and a
probe is refused on a camera whose mask differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

from classroom_mode.video.source import Frame, FrameSource, SourceStatus

Point = tuple[float, float]
Polygon = Sequence[Point]

NO_MASK = "none"
"""The fingerprint of a camera without a mask (and of a probe trained before masks were recorded)."""


def fingerprint(polygons: Sequence[Polygon]) -> str:
    """A short stable id of a set of polygons (order of points and of polygons as written); `none` for no mask."""
    if not polygons:
        return NO_MASK
    canonical = json.dumps([[[round(float(x), 6), round(float(y), 6)] for x, y in polygon] for polygon in polygons])
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _key(polygons: Sequence[Polygon]) -> tuple[tuple[Point, ...], ...]:
    return tuple(tuple((float(x), float(y)) for x, y in polygon) for polygon in polygons)


@cache
def _coverage(polygons: tuple[tuple[Point, ...], ...], height: int, width: int) -> np.ndarray:
    picture = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(picture)
    for polygon in polygons:
        draw.polygon([(x * width, y * height) for x, y in polygon], fill=1, outline=1)
    return np.asarray(picture, dtype=bool)


def coverage(polygons: Sequence[Polygon], height: int, width: int) -> np.ndarray:
    """(height, width) bool: True where a polygon covers the pixel (edges included), drawn once per frame size."""
    return _coverage(_key(polygons), height, width)


def apply_mask(image: np.ndarray, polygons: Sequence[Polygon]) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 frame with every pixel under a polygon set to 0 (the frame itself if none)."""
    if not polygons:
        return image
    masked = image.copy()
    masked[coverage(polygons, image.shape[0], image.shape[1])] = 0
    return masked


def draw_outline(image: np.ndarray, polygons: Sequence[Polygon]) -> Image.Image:
    """The frame with each polygon outlined, for a person to check where the mask falls."""
    picture = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(picture)
    height, width = image.shape[:2]
    thickness = max(2, round(min(height, width) / 160))
    for polygon in polygons:
        points = [(x * width, y * height) for x, y in polygon]
        draw.line([*points, points[0]], fill=(255, 64, 64), width=thickness, joint="curve")
    return picture


class MaskedSource(FrameSource):
    """Another source's frames with its camera's privacy mask applied; everything else is the inner source's."""

    def __init__(self, inner: FrameSource, polygons: Sequence[Polygon]) -> None:
        super().__init__(inner.camera_id)
        self.inner = inner
        self.polygons = polygons

    def frames(self) -> Iterator[Frame]:
        for frame in self.inner.frames():
            yield Frame(apply_mask(frame.image, self.polygons), frame.timestamp, frame.wall_time)

    @property
    def status(self) -> SourceStatus:
        return self.inner.status

    def close(self) -> None:
        self.inner.close()
