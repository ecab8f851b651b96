"""Writing clips as H.264 in MP4 with PyAV: small, and plays everywhere.

Files are written to a temporary name beside the target, fsynced, then renamed, so a clip
killed halfway never leaves a truncated file under its real name.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from classroom_mode.files import commit, temporary_beside

PIXEL_FORMAT = "yuv420p"
"""What every stored clip holds: 4:2:0 YUV (colour at half resolution), which every browser and player plays."""


class Mp4Writer:
    """H.264/yuv420p MP4 written frame by frame (a long stream need not fit in memory), renamed into place by `finish`.

    Odd widths or heights are padded by one edge pixel, since yuv420p needs even sizes. Frames of more than
    `max_pixels` are shrunk (the aspect ratio kept) as they are encoded. Used as a context manager, an exception
    before `finish` removes the partial file.
    """

    def __init__(
        self, path: Path | str, fps: float, size: tuple[int, int], crf: int = 23, max_pixels: int | None = None
    ) -> None:
        self.path = Path(path)
        self.tmp = temporary_beside(self.path)
        self.container = av.open(str(self.tmp), mode="w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        width, height = size
        self.shrunk = False
        if max_pixels is not None and width * height > max_pixels:
            self.shrunk, scale = True, math.sqrt(max_pixels / (width * height))
            width, height = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.pix_fmt = PIXEL_FORMAT
        self.stream.options = {"crf": str(crf), "preset": "veryfast"}

    def write(self, image: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if self.shrunk:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame = frame.reformat(width=self.stream.width, height=self.stream.height)
        else:
            pad_h, pad_w = image.shape[0] % 2, image.shape[1] % 2
            if pad_h or pad_w:
                image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        self.container.mux(self.stream.encode(frame))

    def finish(self) -> Path:
        self.container.mux(self.stream.encode(None))
        self.container.close()
        return commit(self.tmp, self.path)

    def abort(self) -> None:
        self.container.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()


def write_mp4(path: Path | str, frames: np.ndarray, fps: float, crf: int = 23, max_pixels: int | None = None) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as H.264 MP4 at a constant `fps` (shrunk to `max_pixels` a frame when
    larger); returns the path."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}")
    with Mp4Writer(path, fps, (frames.shape[2], frames.shape[1]), crf=crf, max_pixels=max_pixels) as writer:
        for image in frames:
            writer.write(image)
        return writer.finish()


def as_stored(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames as a stored clip gives them back: through the 4:2:0 YUV of every file this
    writes and out again, as the encoder and the decoder convert them.

    A live window goes through this so the model reads it as it read the recorded clips its probe learned from:
    skipped, the conversion shifts the shipped small model's embedding of every window the same way, by about
    as much as the modes' means lie apart; what is left, H.264's own loss, is less than half of that and differs
    from one encoding to the next (`docs/benchmarks/clip_skew.md`).
    """
    converted = [
        av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=PIXEL_FORMAT).to_ndarray(format="rgb24")
        for frame in frames
    ]
    return np.stack(converted)
