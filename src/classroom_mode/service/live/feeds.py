"""A camera as the loop sees it: `next_clip()` gives the room as it is now, or says the camera is offline.

The frames come through the video layer's `ClipBuilder` (a ring buffer filled on its own thread,
so the source is read at its own pace while the encoder works). This module adds the one thing the
loop needs on top: freshness. A buffer still holds its last frames after a camera dies, so a clip
whose newest frame is older than `offline_after_s` (or no full clip within that time, or a source
that ended or failed) raises `CameraOffline`; the loop then marks the camera offline and reopens it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, cast

from classroom_mode.clock import as_utc, utc_now
from classroom_mode.config import CameraConfig, SimSourceConfig
from classroom_mode.errors import ClassroomModeError
from classroom_mode.records import Clip
from classroom_mode.video.clips import ClipBuilder
from classroom_mode.video.source import FrameSource


class CameraOffline(ClassroomModeError):
    """No fresh frames within the camera's `offline_after_s`, or its source ended or failed."""


class ClipFeed(Protocol):
    def next_clip(self) -> Clip:
        """Block until the camera's newest clip is ready; raises CameraOffline when it delivers nothing fresh."""
        ...

    def recent_clip(self) -> Clip | None:
        """Every frame of the camera's last clip span, at its own rate, for a recording; None without frames."""
        ...

    def close(self) -> None: ...


class LiveFeed:
    """The newest clip of a `FrameSource`, checked for freshness."""

    def __init__(self, source: FrameSource, camera: CameraConfig, clock: Callable[[], datetime] = utc_now) -> None:
        self.camera_id = source.camera_id
        self.offline_after_s = camera.offline_after_s
        self.clock = clock
        self.builder = ClipBuilder(source, camera.clip).__enter__()

    def next_clip(self) -> Clip:
        try:
            clip = self.builder.latest(timeout=self.offline_after_s)
        except Exception as exc:  # the source's own failure, handed over by the builder's thread
            raise CameraOffline(f"camera {self.camera_id}: the source failed: {exc}") from exc
        if clip is None:
            raise CameraOffline(f"camera {self.camera_id}: no full clip within {self.offline_after_s:g} s")
        age = (as_utc(self.clock()) - as_utc(clip.ended_at or self.clock())).total_seconds()
        if age > self.offline_after_s:
            raise CameraOffline(f"camera {self.camera_id}: no new frame for {age:.0f} s")
        return clip

    def recent_clip(self) -> Clip | None:
        return self.builder.recent()

    def close(self) -> None:
        self.builder.close()


def open_source(camera_id: str, camera: CameraConfig) -> FrameSource:
    """The video layer's source for the camera, with the simulator plugged in for `kind: sim`."""
    from classroom_mode.sim.camera import SimCamera
    from classroom_mode.video.factory import open_source as open_video_source

    def simulated(cid: str, cam: CameraConfig, _on_status: object) -> FrameSource:
        return SimCamera.from_config(cid, cast(SimSourceConfig, cam.source))

    return open_video_source(camera_id, camera, builders={"sim": simulated})


def open_feed(camera_id: str, camera: CameraConfig) -> ClipFeed:
    return LiveFeed(open_source(camera_id, camera), camera)
