"""The live loop: a worker per camera, each turning a clip every `interval_s` into the room's mode.

Per window a worker takes a clip from its feed, asks the analyzer (local or remote) for a
prediction and a surprise energy, feeds the prediction to its room's `RoomModel`, and writes the
reading, the room state and the surprise reading to the history store. Workers share nothing but
their room's model (under a lock) and the store, so a camera that fails (its feed raises, its
analysis errors) only marks itself offline or records its error; the others carry on, and the room
says which cameras it is using. A camera that went offline is reopened on its next window.

A supervisor thread re-evaluates each room about once a second, so a room whose cameras all went
quiet becomes `stale` in the store without waiting for a reading, and applies retention hourly. It
also restarts a camera worker that died of a bug (marking the camera offline with the reason), and
retries the writes a busy database made wait (`writes.py`). When the store cannot be written at all
the loop stops and `run` raises the reason, so the process exits non-zero instead of looking alive.
The outputs layer's delivery workers (`Outputs`) start and stop with the loop.

`LiveLoop` is the class `classroom-mode run`, `serve --live` and the demo drive: `start()`/`stop()`,
`run(windows=N)` for a fixed number of windows per camera, `changes` (a queue of `ModeChange`s) and
an `on_change` callback, and `last_clip(camera)` for the dashboard.

A camera is watched only while its room is inside its active hours and neither it nor its room is paused
(`watch`). Otherwise its worker releases the camera (the device's light goes off), encodes and records
nothing, and the camera and room show `off-hours` or `paused`; the room keeps its mode, so the gap records no
mode change. `set_paused` is the one entry for pausing: the HTTP API, the MQTT switches and the dashboard call
it, and any other input can. A pause lives in the store, so it survives a restart, and a loop in another
process than the one that paused picks it up on its next tick.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

import numpy as np

from classroom_mode.clock import Clock, utc_now
from classroom_mode.config import CameraConfig, Config, SurpriseThresholds
from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.modes import RoomModel
from classroom_mode.outputs import Outputs
from classroom_mode.records import CameraStatus, Clip, ModeChange, ModeState, SurpriseReading, Watch
from classroom_mode.service.analysis import Analysis, Analyzer
from classroom_mode.service.live.feeds import ClipFeed, open_feed
from classroom_mode.service.live.writes import WriteQueue
from classroom_mode.store import HistoryStore, PauseKind

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
    feed: ClipFeed | None = None
    """The camera's open feed, while it has one (a recording request reads its frames)."""
    last_clip: Clip | None = None
    last_attention: np.ndarray | None = None
    last_error: str | None = None
    crashed: str | None = None
    """Why the camera's worker died, until the supervisor restarts it."""
    watch: Watch = "watching"


class LiveLoop:
    """Every configured camera's worker, its room's mode model, and the history they write."""

    def __init__(  # noqa: PLR0913 -- config, store and analyzer, then keyword-only seams (feeds, clock, outputs)
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
        outputs: Outputs | None = None,
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
            name: RoomModel(
                name,
                {camera_id: camera.interval_s for camera_id, camera in room.cameras.items()},
                config.modes,
                config.thresholds,
                room.consensus,
                clock,
            )
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
        self._workers: dict[str, threading.Thread] = {}
        self._windows: int | None = None
        self.writes = WriteQueue(on_fatal=self._fail)
        self.failure: str | None = None
        """Why the loop stopped on its own (the store cannot be written); None while it can go on."""
        self.on_failure: Callable[[str], None] | None = None
        """Called once with that reason, for whoever runs the loop in the background (`serve --live`)."""
        self.outputs = (
            outputs
            if outputs is not None
            else Outputs(config, store, clock=clock, cameras=self, on_pause=self.set_paused)
        )
        """The delivery workers of `config.outputs`: they run while the loop runs."""
        self._paused: set[tuple[PauseKind, str]] = set()
        """The store's pauses, as the supervisor last read them (and `set_paused` changed them)."""

    # -- control ------------------------------------------------------------------------------------

    def start(self, windows: int | None = None) -> None:
        """Start every camera's worker (each stops after `windows` windows when given) and the supervisor."""
        if self._threads:
            raise RuntimeError("the live loop is already running")
        self._stop.clear()
        self._windows = windows
        self._paused = set(self.store.pauses())
        self.writes.submit(self.outputs.register)  # before any event of this run, in the order writes keep
        self.outputs.start(register=False)
        for camera in self.cameras.values():
            self._start_worker(camera)
        self._threads = [threading.Thread(target=self._supervise, name="rooms", daemon=True)]
        self._threads[0].start()

    def _start_worker(self, camera: _Camera) -> None:
        thread = threading.Thread(target=self._worker, args=(camera,), name=f"camera-{camera.camera_id}", daemon=True)
        self._workers[camera.camera_id] = thread
        thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for thread in [*self._workers.values(), *self._threads]:
            thread.join(timeout=timeout_s)
        self._threads, self._workers = [], {}
        self.outputs.stop()

    def _fail(self, reason: str) -> None:
        log.error("live loop stopping: %s", reason)
        self.failure = reason
        self._stop.set()
        if self.on_failure is not None:
            self.on_failure(reason)

    def _done(self, camera: _Camera) -> bool:
        return self._windows is not None and camera.windows >= self._windows

    def run(self, windows: int | None = None) -> None:
        """Run in the calling thread until every camera has done `windows` windows (forever if None) or stop().

        Raises ClassroomModeError when the loop stopped because it could not go on (see `failure`).
        """
        self.start(windows)
        try:
            while not self._stop.is_set() and not all(self._done(c) for c in self.cameras.values()):
                self._stop.wait(0.2)
            self._refresh_rooms()
            self.writes.flush()
        finally:
            self.stop()
        if self.failure is not None:
            raise ClassroomModeError(f"the live loop stopped: {self.failure}")

    def __enter__(self) -> LiveLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the dashboard reads -------------------------------------------------------------------

    def last_clip(self, camera_id: str) -> Clip | None:
        camera = self.cameras.get(camera_id)
        return camera.last_clip if camera else None

    def recent_clip(self, camera_id: str) -> Clip | None:
        """Every frame of the camera's last clip span at its own rate, for a recording the room asked for; None
        for an unknown camera or one without frames now."""
        camera = self.cameras.get(camera_id)
        feed = camera.feed if camera else None
        return feed.recent_clip() if feed else None

    def last_attention(self, camera_id: str) -> np.ndarray | None:
        """The attentive probe's attention over the last clip's patch grid (None for other probes or remote)."""
        camera = self.cameras.get(camera_id)
        return camera.last_attention if camera else None

    # -- what is watched ------------------------------------------------------------------------------

    def set_paused(self, kind: PauseKind, name: str, paused: bool) -> bool:
        """Pause or resume a camera or a whole room, at once and for good (the store keeps it across restarts);
        returns whether it changed anything. An unknown name is a UserError naming the ones that exist."""
        known = self.cameras if kind == "camera" else self.rooms
        if name not in known:
            raise UserError(f"unknown {kind} {name!r} (configured: {', '.join(known)})")
        changed = self.store.set_pause(kind, name, paused, self.clock())
        (self._paused.add if paused else self._paused.discard)((kind, name))
        return changed

    def watch(self, camera_id: str) -> Watch:
        """Whether a camera is watched now: `paused` (it or its room), `off-hours` (its room's hours), else
        `watching`."""
        camera = self.cameras[camera_id]
        if ("camera", camera_id) in self._paused or ("room", camera.room) in self._paused:
            return "paused"
        return self._room_hours(camera.room)

    def room_watch(self, room: str) -> Watch:
        """A room is `paused` when it, or every one of its cameras, is paused; `off-hours` outside its hours."""
        cameras = self.config.rooms[room].cameras
        if ("room", room) in self._paused or all(("camera", c) in self._paused for c in cameras):
            return "paused"
        return self._room_hours(room)

    def _room_hours(self, room: str) -> Watch:
        hours = self.config.rooms[room].active_hours
        return "off-hours" if hours is not None and not hours.active(self.clock()) else "watching"

    def _release(self, camera: _Camera, watch: Watch) -> None:
        """A camera not watched: its frames dropped from memory and its status saying why (not offline)."""
        camera.last_clip, camera.last_attention = None, None
        if camera.watch == watch:
            return
        camera.watch, camera.online, camera.since, camera.last_error = watch, None, self.clock(), None
        self._write_status(camera)

    # -- workers ------------------------------------------------------------------------------------

    def _worker(self, camera: _Camera) -> None:
        interval = camera.config.interval_s
        try:
            while not self._stop.is_set() and not self._done(camera):
                started = time.monotonic()
                watch = self.watch(camera.camera_id)
                if watch != "watching":
                    _close(camera.feed)  # released: nothing is read, encoded or recorded
                    camera.feed = None
                    self._release(camera, watch)
                else:
                    camera.feed = self._window(camera, camera.feed)
                camera.windows += 1
                self._stop.wait(max(0.0, interval - (time.monotonic() - started)))
        except Exception as exc:  # a bug of ours: the supervisor restarts the worker and says why
            log.exception("camera %s: worker died", camera.camera_id)
            camera.crashed = f"{type(exc).__name__}: {exc}"
        finally:
            _close(camera.feed)
            camera.feed = None

    def _window(self, camera: _Camera, feed: ClipFeed | None) -> ClipFeed | None:
        """One watched window: a clip from the feed (opened if needed) analysed; returns the feed to keep."""
        camera.watch = "watching"
        try:
            feed = feed or self.feeds(camera.camera_id, camera.config)
            clip = feed.next_clip()
        except Exception as exc:  # any camera fault: this camera goes offline, the room goes on
            if camera.online is not False or camera.last_error != str(exc):  # log news, not every retry
                log.warning("camera %s offline: %s", camera.camera_id, exc)
            _close(feed)
            self._set_online(camera, False, str(exc))
            return None
        camera.last_clip = clip if camera.config.snapshot else None  # held for the dashboard only
        self._set_online(camera, True, None, last_frame_at=clip.ended_at)
        self._analyse(camera, clip)
        return feed

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
        self.writes.submit(partial(self.store.add_prediction, prediction))
        with self._room_locks[room]:
            state = self.rooms[room].observe(prediction)
            self._write_state(state, force=True)
        if analysis.energy is not None:
            if self.calibrator is None:
                self.calibrator = default_calibrator(self.config.thresholds.surprise)
            reading = self.calibrator.update(prediction.camera_id, analysis.energy, prediction.at)
            self.writes.submit(partial(self.store.add_surprise, reading))
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
        status = CameraStatus(
            camera_id=camera.camera_id,
            room=camera.room,
            online=bool(camera.online),
            since=camera.since or self.clock(),
            last_frame_at=last_frame_at,
            last_error=camera.last_error,
            watch=camera.watch,
        )
        self.writes.submit(partial(self.store.set_camera_status, status))

    def _write_state(self, state: ModeState, force: bool = False) -> None:
        """Store a room's state (on a tick only when its mode, staleness or cameras changed); hold the room's lock."""
        key = (state.mode, state.stale, tuple(state.cameras), tuple(state.offline_cameras), state.watch)
        if not force and self._written.get(state.room) == key:
            return
        self._written[state.room] = key
        self.writes.submit(partial(self._store_state, state))

    def _store_state(self, state: ModeState) -> None:
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
            try:
                self.writes.flush()
                self._paused = set(self.store.pauses())  # a pause made by another process
                self._restart_dead_workers()
                self._refresh_rooms()
                if time.monotonic() - last_retention >= RETENTION_EVERY_S:
                    last_retention = time.monotonic()
                    self.writes.submit(partial(self.store.apply_retention, self.config.retention, self.clock()))
                    self.writes.submit(self.store.outbox.compact)
            except Exception:  # the supervisor is what notices everything else: it must not die of one tick
                log.exception("live loop supervisor: a tick failed")

    def _restart_dead_workers(self) -> None:
        for camera in self.cameras.values():
            worker = self._workers.get(camera.camera_id)
            if worker is None or worker.is_alive() or self._stop.is_set() or self._done(camera):
                continue
            reason = camera.crashed or "the worker stopped"
            camera.crashed = None
            self._set_online(camera, False, f"worker restarted after: {reason}")
            self._start_worker(camera)

    def _refresh_rooms(self) -> None:
        for name, room in self.rooms.items():
            watch = self.room_watch(name)
            with self._room_locks[name]:
                # nothing to say about a watched room before its cameras have reported; a room not watched says so
                if name in self._written or watch != "watching":
                    self._write_state(room.state().model_copy(update={"watch": watch}))


def _close(feed: ClipFeed | None) -> None:
    if feed is not None:
        try:
            feed.close()
        except Exception:
            log.exception("closing a camera feed failed")
