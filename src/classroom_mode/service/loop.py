"""The live loop: a worker per camera, each turning a clip every `interval_s` into the room's mode.

Per window a worker takes a clip from its feed, asks the analyzer (local or remote) for a
prediction and a surprise energy, feeds the prediction to its room's `RoomModel`, and writes the
reading, the room state and the surprise reading to the history store. Workers share nothing but
their room's model (under a lock) and the store, so a camera that fails (its feed raises, its
analysis errors) only marks itself offline or records its error; the others carry on, and the room
says which cameras it is using. A camera that went offline is reopened on its next window.

A supervisor thread re-evaluates each room about once a second, so a room whose cameras all went
quiet becomes `stale` in the store without waiting for a reading, and applies retention hourly.

`LiveLoop` is the class `classroom-mode run`, `serve --live` and the demo drive: `start()`/`stop()`,
`run(windows=N)` for a fixed number of windows per camera, `changes` (a queue of `ModeChange`s) and
an `on_change` callback, and `last_clip(camera)` for the dashboard.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from classroom_mode.clock import Clock, utc_now
from classroom_mode.config import CameraConfig, Config, SurpriseThresholds
from classroom_mode.modes import RoomModel
from classroom_mode.records import CameraStatus, Clip, ModeChange, ModeState, SurpriseReading
from classroom_mode.service.analysis import Analysis, Analyzer
from classroom_mode.service.feeds import ClipFeed, open_feed
from classroom_mode.store import HistoryStore

log = logging.getLogger(__name__)

FeedFactory = Callable[[str, CameraConfig], ClipFeed]
ChangeCallback = Callable[[ModeChange, ModeState], None]
RETENTION_EVERY_S = 3600.0


class Calibrator(Protocol):
    """The part of `classroom_mode.model.surprise.SurpriseCalibrator` the loop uses."""

    def update(self, camera_id: str, energy: float, at: datetime) -> SurpriseReading: ...


def default_calibrator(thresholds: SurpriseThresholds) -> Calibrator:
    from classroom_mode.model.surprise import SurpriseCalibrator  # torch comes with it: only when energies do

    return SurpriseCalibrator(thresholds)


@dataclass
class _Camera:
    camera_id: str
    room: str
    config: CameraConfig
    online: bool | None = None
    since: datetime | None = None
    windows: int = 0
    last_clip: Clip | None = None
    last_attention: np.ndarray | None = None
    last_error: str | None = None


class LiveLoop:
    """Every configured camera's worker, its room's mode model, and the history they write."""

    def __init__(
        self,
        config: Config,
        store: HistoryStore,
        analyzer: Analyzer,
        *,
        feeds: FeedFactory = open_feed,
        clock: Clock = utc_now,
        calibrator: Calibrator | None = None,
        on_change: ChangeCallback | None = None,
        tick_s: float = 1.0,
    ) -> None:
        self.config = config
        self.store = store
        self.analyzer = analyzer
        self.feeds = feeds
        self.clock = clock
        self.on_change = on_change
        self.tick_s = tick_s
        self.changes: queue.Queue[ModeChange] = queue.Queue()
        self.calibrator = calibrator
        self.rooms = {
            name: RoomModel(name, room.cameras, config.modes, config.thresholds, room.consensus, clock)
            for name, room in config.rooms.items()
        }
        self._room_locks = {name: threading.Lock() for name in self.rooms}
        self._written: dict[str, tuple[object, ...]] = {}
        self.cameras = {
            camera_id: _Camera(camera_id, room_name, camera)
            for room_name, room in config.rooms.items()
            for camera_id, camera in room.cameras.items()
        }
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- control ------------------------------------------------------------------------------------

    def start(self, windows: int | None = None) -> None:
        """Start every camera's worker (each stops after `windows` windows when given) and the supervisor."""
        if self._threads:
            raise RuntimeError("the live loop is already running")
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._worker, args=(cam, windows), name=f"camera-{cam.camera_id}", daemon=True)
            for cam in self.cameras.values()
        ]
        self._threads.append(threading.Thread(target=self._supervise, name="rooms", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self._threads = []

    def run(self, windows: int | None = None) -> None:
        """Run in the calling thread until every camera has done `windows` windows (forever if None) or stop()."""
        self.start(windows)
        try:
            for thread in self._threads[:-1]:
                while thread.is_alive():
                    thread.join(timeout=0.5)
            self._refresh_rooms()
        finally:
            self.stop()

    def __enter__(self) -> LiveLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the dashboard reads -------------------------------------------------------------------

    def last_clip(self, camera_id: str) -> Clip | None:
        camera = self.cameras.get(camera_id)
        return camera.last_clip if camera else None

    def last_attention(self, camera_id: str) -> np.ndarray | None:
        """The attentive probe's attention over the last clip's patch grid (None for other probes or remote)."""
        camera = self.cameras.get(camera_id)
        return camera.last_attention if camera else None

    # -- workers ------------------------------------------------------------------------------------

    def _worker(self, camera: _Camera, windows: int | None) -> None:
        feed: ClipFeed | None = None
        interval = camera.config.interval_s
        try:
            while not self._stop.is_set() and (windows is None or camera.windows < windows):
                started = time.monotonic()
                try:
                    feed = feed or self.feeds(camera.camera_id, camera.config)
                    clip = feed.next_clip()
                except Exception as exc:  # any camera fault: this camera goes offline, the room goes on
                    if camera.online is not False or camera.last_error != str(exc):  # log news, not every retry
                        log.warning("camera %s offline: %s", camera.camera_id, exc)
                    feed = _close(feed)
                    self._set_online(camera, False, str(exc))
                else:
                    camera.last_clip = clip
                    self._set_online(camera, True, None, last_frame_at=clip.ended_at)
                    self._analyse(camera, clip)
                camera.windows += 1
                self._stop.wait(max(0.0, interval - (time.monotonic() - started)))
        finally:
            _close(feed)

    def _analyse(self, camera: _Camera, clip: Clip) -> None:
        try:
            analysis = self.analyzer.analyse(clip, camera.room)
            camera.last_attention = analysis.attention
            self.record(camera.room, analysis)
        except Exception as exc:  # a failed analysis (or write) costs this window only
            log.warning("camera %s: analysis failed: %s", camera.camera_id, exc)
            camera.last_error = f"analysis failed: {exc}"
            self._write_status(camera, last_frame_at=clip.ended_at)

    def record(self, room: str, analysis: Analysis) -> ModeState:
        """Write one analysed window to the history and fold it into the room's mode; returns the room state."""
        prediction = analysis.prediction
        self.store.add_prediction(prediction)
        with self._room_locks[room]:
            state = self.rooms[room].observe(prediction)
            self._write_state(state, force=True)
        if analysis.energy is not None:
            if self.calibrator is None:
                self.calibrator = default_calibrator(self.config.thresholds.surprise)
            self.store.add_surprise(self.calibrator.update(prediction.camera_id, analysis.energy, prediction.at))
        return state

    def _set_online(
        self, camera: _Camera, online: bool, error: str | None, last_frame_at: datetime | None = None
    ) -> None:
        if camera.online != online:
            camera.online, camera.since = online, self.clock()
            with self._room_locks[camera.room]:
                state = self.rooms[camera.room].set_online(camera.camera_id, online)
                if not online:  # coming online shows with the reading that follows
                    self._write_state(state, force=True)
        camera.last_error = error
        self._write_status(camera, last_frame_at=last_frame_at)

    def _write_status(self, camera: _Camera, last_frame_at: datetime | None = None) -> None:
        self.store.set_camera_status(
            CameraStatus(
                camera_id=camera.camera_id,
                room=camera.room,
                online=bool(camera.online),
                since=camera.since or self.clock(),
                last_frame_at=last_frame_at,
                last_error=camera.last_error,
            )
        )

    def _write_state(self, state: ModeState, force: bool = False) -> None:
        """Store a room's state (on a tick only when its mode, staleness or cameras changed); hold the room's lock."""
        key = (state.mode, state.stale, tuple(state.cameras), tuple(state.offline_cameras))
        if not force and self._written.get(state.room) == key:
            return
        self._written[state.room] = key
        change = self.store.set_state(state)
        if change is not None:
            self.changes.put(change)
            if self.on_change is not None:
                try:
                    self.on_change(change, state)
                except Exception:  # a listener's bug must not stop a camera
                    log.exception("mode-change callback failed")

    # -- supervisor ---------------------------------------------------------------------------------

    def _supervise(self) -> None:
        last_retention = float("-inf")
        while not self._stop.wait(self.tick_s):
            self._refresh_rooms()
            if time.monotonic() - last_retention >= RETENTION_EVERY_S:
                last_retention = time.monotonic()
                self.store.apply_retention(self.config.retention, self.clock())

    def _refresh_rooms(self) -> None:
        for name, room in self.rooms.items():
            with self._room_locks[name]:
                if name in self._written:  # nothing to say about a room before its cameras have reported
                    self._write_state(room.state())


def _close(feed: ClipFeed | None) -> None:
    if feed is not None:
        try:
            feed.close()
        except Exception:
            log.exception("closing a camera feed failed")
