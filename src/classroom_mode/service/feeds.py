"""From a camera's stream of frames to the clips the loop analyses, and the camera's online/offline signal.

A `FrameFeed` drains its `FrameSource` on a thread of its own, so a live camera is always read at
its own pace (no stale frames queueing up in a driver while the encoder works), and keeps only the
last few seconds. `next_clip()` then waits for `clip.seconds` of frames that arrive after the call
and samples `clip.frames` of them evenly: a clip always shows the room as it is now. No frame for
`offline_after_s` raises `CameraOffline`, which is how the loop learns a camera died.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol

import numpy as np

from classroom_mode.config import CameraConfig, ClipSettings
from classroom_mode.errors import ClassroomModeError, NotAvailableError
from classroom_mode.records import Clip
from classroom_mode.video.source import Frame, FrameSource


class CameraOffline(ClassroomModeError):
    """No frame arrived within the camera's `offline_after_s`, or its source ended or failed."""


class ClipFeed(Protocol):
    def next_clip(self) -> Clip:
        """Block until the next clip is ready; raises CameraOffline when the camera delivers nothing."""
        ...

    def close(self) -> None: ...


class FrameFeed:
    """Clips cut from a `FrameSource` read continuously on a background thread."""

    def __init__(self, source: FrameSource, clip: ClipSettings, offline_after_s: float) -> None:
        self.source = source
        self.clip = clip
        self.offline_after_s = offline_after_s
        self._frames: deque[tuple[float, Frame]] = deque()
        """(arrival on the monotonic clock, frame), oldest first, at most two clips' worth."""
        self._changed = threading.Condition()
        self._ended: str | None = None
        self._thread = threading.Thread(target=self._read, name=f"frames-{source.camera_id}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                now = time.monotonic()
                with self._changed:
                    self._frames.append((now, frame))
                    while self._frames and self._frames[0][0] < now - 2 * self.clip.seconds:
                        self._frames.popleft()
                    self._changed.notify_all()
            reason = "the source ended"
        except Exception as exc:  # a driver error ends this feed; the loop reopens the camera
            reason = f"the source failed: {exc}"
        with self._changed:
            self._ended = reason
            self._changed.notify_all()

    def next_clip(self) -> Clip:
        start = time.monotonic()
        with self._changed:
            while True:
                fresh = [frame for arrived, frame in self._frames if arrived >= start]
                now = time.monotonic()
                if fresh and now - start >= self.clip.seconds:
                    break
                if self._ended is not None:
                    raise CameraOffline(f"camera {self.source.camera_id}: {self._ended}")
                last = self._frames[-1][0] if self._frames else start
                if now - max(last, start) >= self.offline_after_s:
                    raise CameraOffline(f"camera {self.source.camera_id}: no frame for {self.offline_after_s:g} s")
                self._changed.wait(timeout=min(0.25, self.clip.seconds))
        return clip_from_frames(fresh, self.clip.frames, self.source.camera_id)

    def close(self) -> None:
        self.source.close()
        self._thread.join(timeout=5.0)


def clip_from_frames(frames: list[Frame], num_frames: int, camera_id: str) -> Clip:
    """`num_frames` frames sampled evenly (by position) from `frames`, repeating frames when there are fewer."""
    picks = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
    chosen = [frames[i] for i in picks]
    return Clip(
        frames=np.stack([f.image for f in chosen]),
        timestamps=np.array([f.timestamp - chosen[0].timestamp for f in chosen], dtype=np.float64),
        camera_id=camera_id,
        started_at=chosen[0].wall_time,
        ended_at=chosen[-1].wall_time,
    )


def open_feed(camera_id: str, camera: CameraConfig) -> ClipFeed:
    """The camera's configured source (the video layer's factory; the simulator for `sim`) as a clip feed."""
    try:
        if camera.source.kind == "sim":
            from classroom_mode.sim.camera import SimCamera

            source: FrameSource = SimCamera(camera_id, camera.source)
        else:
            from classroom_mode.video.sources import open_source

            source = open_source(camera_id, camera.source)
    except ImportError as exc:
        raise NotAvailableError(
            f"camera {camera_id}: {camera.source.kind} sources are not available yet ({exc})"
        ) from None
    return FrameFeed(source, camera.clip, camera.offline_after_s)
