"""This product's presence in the class's room: a project heartbeat while it runs, and its cameras taken out of
the room's computation when it stops.

Under a `project_id`, `POST {url}/api/projects/{project_id}/heartbeat` on start and every `heartbeat_s`, with
`{status, capabilities, consumes, emits, message, meta}`: the message says each room's mode and ambience and the
model that tells them, so the server's project page shows what this product sees. The server keeps a project
live for two minutes after a heartbeat. An id the server does not list is answered `unknown project`: said once,
with the fix.

On stop, every camera is pushed `running: false` (the server would otherwise go on counting a camera whose
loop has stopped) and the heartbeat says `offline`. A process killed outright cannot say either: its cameras
stay `running` on the server until it pushes again.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from classroom_mode.config import BusOutput, Config
from classroom_mode.outputs.bus import EMITS, UNKNOWN_PROJECT, post_json, unknown_project
from classroom_mode.outputs.delivery import Rejected, Retry
from classroom_mode.outputs.once import FailureLog
from classroom_mode.outputs.room_requests import CONSUMES
from classroom_mode.outputs.worker_thread import WorkerThread
from classroom_mode.store import HistoryStore

log = logging.getLogger(__name__)

CAPABILITIES = ["room-mode", "surprise", "camera-state"]
MESSAGE_CHARS = 240
"""The server keeps this much of a heartbeat's message."""
FAREWELL_TIMEOUT_S = 2.0
"""How long each `running: false` push may take when the loop stops (a server that is gone must not hold it)."""


class Presence:
    """The heartbeat thread of one bus output, and its farewell."""

    def __init__(
        self, name: str, settings: BusOutput, config: Config, store: HistoryStore, api_key: str | None
    ) -> None:
        self.settings, self.config, self.store = settings, config, store
        base = settings.url.rstrip("/")
        self.push_url = f"{base}/push/state"
        self.heartbeat_url = f"{base}/api/projects/{settings.project_id}/heartbeat" if settings.project_id else None
        self.name = name
        self._key = api_key
        self.trouble = FailureLog(log, f"output {name}: heartbeat")
        self._heartbeats = WorkerThread(self._run, "bus-heartbeat")
        self._started = False

    def start(self) -> None:
        self._started = True
        if self.heartbeat_url is None:
            return
        self._heartbeats.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the heartbeats and say farewell, once per start (a loop stopped twice says it once)."""
        self._heartbeats.stop(timeout_s)
        if self._started:
            self._started = False
            self._farewell()

    def _run(self) -> None:
        with httpx.Client() as client:
            while True:
                self.beat(client, "online")
                if self._heartbeats.stopping.wait(self.settings.heartbeat_s):
                    return

    def beat(self, client: httpx.Client, status: str, timeout_s: float | None = None) -> None:
        """One heartbeat; a failure is said once (the next beat is the retry)."""
        assert self.heartbeat_url is not None
        try:
            post_json(
                client, self.heartbeat_url, self.heartbeat(status), self._key, timeout_s or self.settings.timeout_s, {}
            )
        except (Retry, Rejected) as exc:
            self.trouble.failing(unknown_project(self.settings) if UNKNOWN_PROJECT in str(exc) else str(exc))
        else:
            self.trouble.ok()

    def heartbeat(self, status: str) -> dict[str, Any]:
        rooms = [self.settings.room] if self.settings.room else list(self.config.rooms)
        states = {room: self.store.state(room) for room in rooms}
        said = [
            f"{room}: {s.display_name} ({s.ambience})" if s else f"{room}: no mode yet" for room, s in states.items()
        ]
        probes = {room: rc.probe.name for room, rc in self.config.rooms.items() if rc.probe and room in rooms}
        model = self.config.backbone.model + (f" + probe {', '.join(probes.values())}" if probes else "")
        return {
            "status": status,
            "capabilities": CAPABILITIES + (["clip-capture"] if self.settings.listen else []),
            "consumes": CONSUMES if self.settings.listen else [],
            "emits": EMITS,
            "message": f"{'; '.join(said)} · model {model}"[:MESSAGE_CHARS],
            "meta": {
                "modes": {room: s.mode if s else None for room, s in states.items()},
                "cameras": [c for room in rooms for c in self.config.rooms[room].cameras],
                "backbone": self.config.backbone.model,
                "probes": probes,
            },
        }

    def _farewell(self) -> None:
        """Every camera `running: false`, and an `offline` heartbeat: once each, briefly, failures said once."""
        cameras = [c for room in self.config.rooms.values() for c in room.cameras]
        with httpx.Client() as client:
            for camera_id in cameras:
                try:
                    post_json(
                        client,
                        self.push_url,
                        {"camera_id": camera_id, "running": False},
                        self._key,
                        FAREWELL_TIMEOUT_S,
                        {},
                    )
                except (Retry, Rejected) as exc:
                    log.warning(
                        "output %s: camera %s stopped; the server did not take it: %s", self.name, camera_id, exc
                    )
                    break  # the server is not answering: the other cameras would wait as long
            if self.heartbeat_url is not None:
                self.beat(client, "offline", FAREWELL_TIMEOUT_S)
