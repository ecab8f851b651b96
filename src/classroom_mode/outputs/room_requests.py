"""What the class's room server asks of this product, from its event stream, acted on at most once per event.

Events have the server's canonical shape (`{id, event_type, source, target, created_at, payload}`). Those aimed
at this product's cameras (the `target` is a camera id of this config, or `all-cameras`):

- `camera.capture.requested`: the camera's last clip span, every frame, is written into `DATA/unlabeled/` for
  the labelling page, or into `DATA/<mode>/` when the payload names a mode (`params.label`, else `mode`) that the
  config or the data folder knows; a name it does not know files the clip under `unlabeled/`;
- `camera.mode.requested`, `camera.command.requested` whose command is `pause` or `resume`: the camera is paused
  or resumed as from the API or the dashboard (the live loop's `set_paused`, kept in the store); any other
  command is not acted on, with the reason: this product has no camera mode to switch.

And `room.phase.changed` (`{phase}`) is stored beside the room's modes.

Each event is acted on once: its id is remembered (the last `REMEMBERED` of them), so the same event seen on
two subscriptions, or again after a reconnect, does nothing the second time. A capture less than one clip span
after the camera's last one is dropped (its clip would hold the same frames): a flood of requests writes one
clip per span. Bad input (not JSON, not an event, an unknown camera, a phase that is not text) is ignored and
said once per kind; the stream goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classroom_mode.config import BusOutput, Config
from classroom_mode.errors import UserError
from classroom_mode.outputs.once import OncePerKind
from classroom_mode.records import Clip, PhaseChange
from classroom_mode.store import HistoryStore
from classroom_mode.video.dataset import UNLABELED_DIR
from classroom_mode.video.recorder import check_label, known_labels, save_clip
from classroom_mode.video.sessions import new_session

log = logging.getLogger(__name__)

CAPTURE = "camera.capture.requested"
MODE_REQUEST = "camera.mode.requested"
COMMAND = "camera.command.requested"
PHASE = "room.phase.changed"
CONSUMES = [CAPTURE, MODE_REQUEST, COMMAND, PHASE]
"""The room events this product acts on (its heartbeat's `consumes`)."""
ALL_CAMERAS = "all-cameras"
"""The target the server's console gives a command for every camera."""
REMEMBERED = 4096
"""Event ids kept to drop repeats: far more than the server's recent-events buffer (160) a reconnect replays."""
EVENT_TYPE = r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$"
"""The server's own rule for an event type."""


class RoomEvent(BaseModel):
    """One event as the room server sends it (fields it adds that this product does not read are ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    event_type: str = Field(pattern=EVENT_TYPE, max_length=200)
    source: str = ""
    target: str | list[str] | None = None
    created_at: datetime
    payload: dict[str, Any]

    def targets(self) -> list[str]:
        """The camera ids (or `all-cameras`) it is aimed at: its target, else the payload's `cameraId`."""
        target = self.target or self.payload.get("cameraId")
        if isinstance(target, str):
            return [target]
        return [str(t) for t in target] if isinstance(target, list) else []


class Cameras(Protocol):
    """The live loop as the room's requests see it: its open feeds (a capture's frames) and its pause."""

    def recent_clip(self, camera_id: str) -> Clip | None: ...

    def set_paused(self, kind: Literal["camera", "room"], name: str, paused: bool) -> bool: ...


class RoomRequests:
    """Turns the room's events into actions, each event at most once; safe to call from several threads."""

    def __init__(
        self,
        config: Config,
        settings: BusOutput,
        store: HistoryStore,
        cameras: Cameras,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.store, self.cameras = config, store, cameras
        self.room = settings.room or next(iter(config.rooms))
        self.clip_s = {cid: cam.clip.seconds for room in config.rooms.values() for cid, cam in room.cameras.items()}
        self.monotonic = monotonic
        self.said = OncePerKind(log)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last_capture: dict[str, float] = {}
        self._lock = threading.Lock()

    def handle_text(self, data: str, *, act: bool = True) -> None:
        """One event as the stream's JSON text."""
        try:
            raw = json.loads(data)
        except ValueError:
            self.said.say("not json", f"the room server sent an event that is not JSON ({data[:80]!r}): ignored")
            return
        self.handle(raw, act=act)

    def handle(self, raw: object, *, act: bool = True) -> None:
        """One event as parsed JSON; with `act` False it is only remembered (events from before this product
        listened, which are not its to act on)."""
        try:
            event = RoomEvent.model_validate(raw)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors()[:3])
            self.said.say("malformed", f"the room server sent an event this product cannot read ({reason}): ignored")
            return
        with self._lock:
            if not self._first_sight(event.id) or not act:
                return
            try:
                self._act(event)
            except Exception as exc:  # an action that failed (a disk full, a database held) costs this event only
                self.said.say(
                    f"failed {event.event_type}", f"acting on {event.event_type} {event.id} failed: {exc}: skipped"
                )

    def _first_sight(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return True

    def _act(self, event: RoomEvent) -> None:
        if event.event_type == PHASE:
            self._phase(event)
        elif event.event_type in (CAPTURE, MODE_REQUEST, COMMAND):
            for camera_id in self._our_cameras(event):
                if event.event_type == CAPTURE:
                    self._capture(camera_id, event)
                else:
                    self._command(camera_id, event)
        else:
            self.said.say(f"type {event.event_type}", f"room events {event.event_type}: not for it", logging.DEBUG)

    def _command(self, camera_id: str, event: RoomEvent) -> None:
        command = str(event.payload.get("command") or event.event_type)
        if command in ("pause", "resume"):
            self.cameras.set_paused("camera", camera_id, command == "pause")
            log.info("camera %s: %sd on the room's request (%s)", camera_id, command, event.id)
            return
        self.said.say(
            f"no-op {command}",
            f"the room asked camera {camera_id} to {command!r} ({event.event_type}): not acted on, "
            "this product has no camera mode to switch",
            logging.INFO,
        )

    def _our_cameras(self, event: RoomEvent) -> list[str]:
        targets = event.targets()
        if ALL_CAMERAS in targets:
            return list(self.clip_s)
        unknown = [t for t in targets if t not in self.clip_s]
        if unknown or not targets:
            self.said.say(
                f"unknown camera {event.event_type}",
                f"{event.event_type} for {', '.join(map(repr, unknown)) or 'no camera'}: not a camera of this config "
                f"({', '.join(self.clip_s)}): ignored",
            )
        return [t for t in targets if t in self.clip_s]

    def _capture(self, camera_id: str, event: RoomEvent) -> None:
        now = self.monotonic()
        last = self._last_capture.get(camera_id)
        if last is not None and now - last < self.clip_s[camera_id]:
            self.said.say(
                f"flood {camera_id}",
                f"capture requests for camera {camera_id} within one clip span of the last: the clip written holds "
                "those frames, the repeats are dropped",
            )
            return
        clip = self.cameras.recent_clip(camera_id)
        if clip is None:
            self.said.say(f"no frames {camera_id}", f"capture request for camera {camera_id}: it has no frames now")
            return
        self._last_capture[camera_id] = now
        # each requested clip is a recording session of its own: nothing else was recorded with it
        path = save_clip(clip, self.config.paths.data / self._folder(event), new_session(clip.started_at))
        log.info("camera %s: clip recorded on the room's request (%s): %s", camera_id, event.id, path)

    def _folder(self, event: RoomEvent) -> str:
        params = event.payload.get("params")
        named = (params.get("label") if isinstance(params, dict) else None) or event.payload.get("mode")
        if not named:
            return UNLABELED_DIR
        data = self.config.paths.data
        try:
            label = check_label(str(named))
        except UserError:
            label = None
        if label is None or label not in known_labels(data, list(self.config.modes)):
            self.said.say(
                f"label {named}",
                f"a capture request names {str(named)[:80]!r}, not a mode of the config or a folder of {data}: "
                f"its clips go to {UNLABELED_DIR}/",
            )
            return UNLABELED_DIR
        return label

    def _phase(self, event: RoomEvent) -> None:
        phase = event.payload.get("phase")
        if not isinstance(phase, str) or not 0 < len(phase.strip()) <= 80:
            self.said.say("bad phase", f"{PHASE} {event.id} carries no phase name (1 to 80 characters): ignored")
            return
        change = PhaseChange(
            room=self.room, phase=phase.strip(), at=event.created_at, source=event.source or None, event_id=event.id
        )
        if self.store.add_phase(change):
            log.info("room %s: phase %s (from the room server)", self.room, change.phase)
