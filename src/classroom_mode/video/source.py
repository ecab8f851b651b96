"""The one small interface every camera source implements: iterate frames, report status, close.

A worker (the live loop, the recorder) only ever sees this interface, so a webcam, an RTSP
stream, an OAK-D, a looping file and the simulator's classroom are interchangeable.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

SourceStatus = Literal["online", "offline"]


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    timestamp: float
    """Seconds on the source's own clock (presentation time for files and streams)."""
    wall_time: datetime
    """When the frame arrived (UTC), which is what clips and history are stamped with."""


class FrameSource(abc.ABC):
    """A live or replayed camera. Subclasses must be safe to `close()` from another thread."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id

    @abc.abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Yield frames as they arrive, blocking between them; ends when the source is closed or exhausted."""

    @property
    @abc.abstractmethod
    def status(self) -> SourceStatus:
        """`online` while frames arrive within the source's read timeout, else `offline`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device or connection; `frames()` then ends."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HeldFrames(FrameSource):
    """A camera showing given frames at `fps` from timestamp 0, then holding still until closed: the same
    frames offered to a live cut and to a recording, to compare the two."""

    def __init__(self, camera_id: str, images: Sequence[np.ndarray], fps: float) -> None:
        super().__init__(camera_id)
        self.images, self.fps = images, fps
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        for i, image in enumerate(self.images):
            yield Frame(image, i / self.fps, datetime.now(UTC))
        self._closed.wait()

    @property
    def status(self) -> SourceStatus:
        return "online"

    def close(self) -> None:
        self._closed.set()
