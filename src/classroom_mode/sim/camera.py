"""The simulator as a camera: a timeline played in real time (or faster), frame by frame.

The demo and the live-loop tests use it where a real camera would be. Frame timestamps are scene
time, so with `speed=20` a five-minute timeline plays in fifteen seconds of wall time while every
clip cut from it still spans the scene seconds it claims, and `truth_at` says what was really going on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from classroom_mode.config import SimSourceConfig
from classroom_mode.errors import UserError
from classroom_mode.sim.stream import EventRequest, Stream, Timeline
from classroom_mode.video.source import Frame, FrameSource, SourceStatus


class SimCamera(FrameSource):
    """A `FrameSource` that renders a mode timeline continuously, paced at `speed` × real time.

    `speed=0` renders as fast as it can. With `loop` (the default, as a camera never runs out) the
    timeline starts over at its end and the scene carries on without a cut.
    """

    def __init__(  # noqa: PLR0913 -- keyword-only options, each named at the call
        self,
        camera_id: str,
        timeline: Timeline,
        *,
        fps: float = 8.0,
        size: tuple[int, int] = (256, 256),
        seed: int = 0,
        speed: float = 1.0,
        events: Sequence[EventRequest] = (),
        loop: bool = True,
    ) -> None:
        super().__init__(camera_id)
        if speed < 0:
            raise UserError(f"speed {speed}: must be 0 (as fast as possible) or positive")
        self.stream = Stream(timeline, fps=fps, size=size, seed=seed, events=events, loop=loop)
        self.speed = speed
        self._closed = threading.Event()

    @classmethod
    def from_config(cls, camera_id: str, source: SimSourceConfig, *, speed: float = 1.0) -> SimCamera:
        """The camera a config's `kind: sim` source describes."""
        return cls(camera_id, source.timeline, fps=source.fps, size=(source.width, source.height),
                   seed=source.seed, speed=speed)  # fmt: skip

    def truth_at(self, scene_time: float) -> str:
        """The ground-truth mode at a scene time (a frame's `timestamp`)."""
        return self.stream.truth_at(scene_time)

    @property
    def settled(self) -> bool:
        """Whether the room has finished changing into the current mode, as of the last frame rendered."""
        return self.stream.settled

    def events_at(self, scene_time: float) -> list[str]:
        """Injected events in progress at a scene time."""
        return self.stream.events_at(scene_time)

    def frames(self) -> Iterator[Frame]:
        started = time.monotonic()
        first = self.stream.time
        while not self._closed.is_set():
            if not self.stream.loop and self.stream.frame_index >= self.stream.num_frames:
                return
            t = self.stream.time
            if self.speed > 0:
                delay = started + (t - first) / self.speed - time.monotonic()
                if delay > 0 and self._closed.wait(delay):
                    return
            image = self.stream.next_frame()
            yield Frame(image=image, timestamp=t, wall_time=datetime.now(UTC))

    @property
    def status(self) -> SourceStatus:
        return "offline" if self._closed.is_set() else "online"

    def close(self) -> None:
        self._closed.set()
