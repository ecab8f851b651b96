"""What every live camera shares: status reporting, a stop flag, and reconnecting with backoff.

A live camera fails in ordinary ways (a switch reboots, Wi-Fi drops, a USB cable is pulled).
The worker must not care: `frames()` keeps yielding across reconnects and only the status
flips to `offline` and back, reported through a callback so the store and the dashboard see it.
Delays grow exponentially with full jitter, so a room of cameras behind one rebooted switch does
not reconnect in lockstep.
"""

from __future__ import annotations

import abc
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from classroom_mode.errors import ClassroomModeError
from classroom_mode.video.source import Frame, FrameSource, SourceStatus

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, SourceStatus, str | None], None]
"""Called as (camera_id, new status, reason) on every change between online and offline."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)) seconds."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2**attempt))


class ReportingSource(FrameSource):
    """A source with a thread-safe stop flag and a status that reports its changes once each."""

    def __init__(self, camera_id: str, on_status: StatusCallback | None = None) -> None:
        super().__init__(camera_id)
        self.on_status = on_status
        self._status: SourceStatus = "offline"
        self._stop = threading.Event()
        self.last_error: str | None = None

    @property
    def status(self) -> SourceStatus:
        return self._status

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def _set_status(self, status: SourceStatus, reason: str | None = None, *, failure: bool = False) -> None:
        """Record a change and report it; `failure` marks the reason as the source's `last_error`."""
        if failure:
            self.last_error = reason
        if status == self._status:
            return
        self._status = status
        log.info("camera %s is %s%s", self.camera_id, status, f" ({reason})" if reason else "")
        if self.on_status is not None:
            self.on_status(self.camera_id, status, reason)

    def close(self) -> None:
        self._stop.set()

    def _frame(self, image: np.ndarray, timestamp: float) -> Frame:
        return Frame(image=image, timestamp=timestamp, wall_time=datetime.now(UTC))


class ReconnectingSource(ReportingSource):
    """A live source that reopens its connection after any failure, forever, until closed.

    Subclasses implement `_connect()`, which opens the device or stream and returns an
    iterator of RGB images; it raises `ClassroomModeError` or `OSError` when the connection
    cannot be made or breaks, and ends when the stream ends.
    """

    def __init__(
        self,
        camera_id: str,
        on_status: StatusCallback | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(camera_id, on_status)
        self.backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self.connections = 0
        """How many times a connection delivered at least one frame (1 + the number of recoveries)."""

    @abc.abstractmethod
    def _connect(self) -> Iterator[np.ndarray]: ...

    def frames(self) -> Iterator[Frame]:
        """Frames stamped on one monotonic clock from the source's start: stream PTS restarts on every reconnect."""
        t0 = time.monotonic()
        attempt = 0
        try:
            while not self.closed:
                reason = "stream ended"
                delivered = False
                try:
                    for image in self._connect():
                        if self.closed:
                            return
                        if not delivered:
                            delivered, attempt = True, 0
                            self.connections += 1
                        self._set_status("online")
                        yield self._frame(image, time.monotonic() - t0)
                except (ClassroomModeError, OSError) as exc:
                    reason = str(exc)
                if self.closed:
                    return
                self._set_status("offline", reason, failure=True)
                delay = self.backoff.delay(attempt, self._rng)
                attempt += 1
                log.debug("camera %s: reconnecting in %.2f s", self.camera_id, delay)
                self._stop.wait(delay)
        finally:
            self._set_status("offline", "closed")
