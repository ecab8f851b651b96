"""Turning a live source into clips: a ring buffer of recent frames, filled by a background thread.

The encoder is slow and a camera is not: reading frames on their own thread means a slow
model never makes the source fall behind or its read timeout fire. The buffer keeps a few
clip-lengths of frames by timestamp, and a clip is cut from it with the same rule as a file
(`decode.segment_centres`: the frame on screen at the centre of each of N equal segments), its
frames converted as a stored file's are (`writer.as_stored`), so a model sees the same clip from a
live camera as from a recorded file.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from classroom_mode.config import ClipSettings
from classroom_mode.errors import ClassroomModeError
from classroom_mode.records import Clip
from classroom_mode.video.decode import segment_centres
from classroom_mode.video.source import Frame, FrameSource
from classroom_mode.video.writer import as_stored


def clip_from_frames(frames: list[Frame], lo: float, hi: float, num_frames: int | None, camera_id: str) -> Clip:
    """A Clip over [lo, hi) of source time: every frame (`num_frames=None`) or N sampled by timestamp.

    `frames` are sorted by timestamp and the first one is on screen at `lo`. Timestamps in the
    clip count from `lo`; its wall-clock start and end are those of the first and last frame used.
    """
    if not frames:
        raise ValueError("no frames in the window")
    if num_frames is None:
        chosen = frames
    else:
        times = [f.timestamp for f in frames]
        chosen = [frames[max(bisect.bisect_right(times, t) - 1, 0)] for t in segment_centres(lo, hi, num_frames)]
    return Clip(
        frames=np.stack([f.image for f in chosen]),
        timestamps=np.array([max(f.timestamp - lo, 0.0) for f in chosen]),
        camera_id=camera_id,
        started_at=chosen[0].wall_time,
        ended_at=chosen[-1].wall_time,
    )


class ClipBuilder:
    """Reads a source on a thread into a ring buffer and cuts clips from it; use as a context manager."""

    def __init__(self, source: FrameSource, settings: ClipSettings, keep_s: float | None = None) -> None:
        self.source = source
        self.settings = settings
        self.keep_s = keep_s if keep_s is not None else 3 * settings.seconds
        self._frames: deque[Frame] = deque()
        self._changed = threading.Condition()
        self._finished = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name=f"frames-{source.camera_id}", daemon=True)

    def __enter__(self) -> ClipBuilder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()
        self._thread.join(timeout=10)

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                with self._changed:
                    self._frames.append(frame)
                    while self._frames[-1].timestamp - self._frames[0].timestamp > self.keep_s:
                        self._frames.popleft()
                    self._changed.notify_all()
        except BaseException as exc:  # handed to the caller's thread, which is where it can be reported
            self._error = exc
        finally:
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def newest_frame(self) -> Frame | None:
        """The most recent frame read, or None before the first one."""
        with self._changed:
            return self._frames[-1] if self._frames else None

    @property
    def newest_timestamp(self) -> float | None:
        with self._changed:
            return self._frames[-1].timestamp if self._frames else None

    def _wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            done = self._changed.wait_for(lambda: ready() or self._finished, timeout)
            if self._error is not None:
                raise self._error
            return done and ready()

    def _span(self, lo: float, hi: float) -> list[Frame]:
        with self._changed:
            frames = list(self._frames)
        times = [f.timestamp for f in frames]
        first = max(bisect.bisect_right(times, lo) - 1, 0)
        return frames[first : bisect.bisect_left(times, hi)]

    def latest(self, timeout: float) -> Clip | None:
        """The N-frame clip over the last `seconds` of frames, as a recording of them would give it back
        (`writer.as_stored`); None if no full window arrived within `timeout`."""
        seconds = self.settings.seconds

        def full() -> bool:
            return bool(self._frames) and self._frames[-1].timestamp - self._frames[0].timestamp >= seconds

        if not self._wait(full, timeout):
            return None
        newest = self.newest_timestamp
        assert newest is not None
        clip = clip_from_frames(
            self._span(newest - seconds, newest + 1e-9),
            newest - seconds,
            newest,
            self.settings.frames,
            self.source.camera_id,
        )
        return dataclasses.replace(clip, frames=as_stored(clip.frames))

    def recent(self) -> Clip | None:
        """Every frame of the last `seconds` the buffer holds, at once (a recording of the moment just past, for a
        request that arrives while the frames are being read); None before the first frame."""
        newest = self.newest_timestamp
        if newest is None:
            return None
        start = newest - self.settings.seconds
        frames = [f for f in self._span(start, newest + 1e-9) if f.timestamp >= start]
        return clip_from_frames(frames, start, newest, None, self.source.camera_id)

    def record(self, start: float, timeout: float) -> Clip:
        """Every frame of [start, start + seconds) of source time, waiting for it to arrive (for recording)."""
        end = start + self.settings.seconds
        if not self.wait_for(end, timeout):
            raise ClassroomModeError(
                f"camera {self.source.camera_id}: no frames up to {end:.1f} s within {timeout:g} s "
                f"(source {self.source.status})"
            )
        frames = [f for f in self._span(start, end) if f.timestamp >= start]
        return clip_from_frames(frames, start, end, None, self.source.camera_id)

    def wait_for(self, timestamp: float, timeout: float) -> bool:
        """Whether a frame at or after `timestamp` of source time arrived within `timeout` seconds."""
        return self._wait(lambda: bool(self._frames) and self._frames[-1].timestamp >= timestamp, timeout)

    def wait_for_first_frame(self, timeout: float) -> float:
        """The timestamp of the newest frame once one has arrived: where a recording can start."""
        if not self._wait(lambda: bool(self._frames), timeout):
            raise ClassroomModeError(f"camera {self.source.camera_id}: no frame within {timeout:g} s")
        newest = self.newest_timestamp
        assert newest is not None
        return newest
