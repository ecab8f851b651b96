"""The room server the bus tests talk to: the double (`room_server_double`) on uvicorn, or the running classroom-api
that `CLASSROOM_ROOM_SERVER_URL` names. Either is driven and read only through routes the real server serves (a
console's camera command, `POST /phase`, `GET /api/events/recent`, `GET /api/cameras`, `GET /api/projects/status`),
so a test asserts the same of both; what only the double can show or do is its `double`, None for the real one.

Against a real server each test first resets its room (`POST /mock/reset`: events, cameras and heartbeats
forgotten): point the variable at a server started for the check, with `classroom-mode` in its projects."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from live_helpers import ServerThread
from room_server_double import RoomServer, room_server_app

REAL_URL = os.environ.get("CLASSROOM_ROOM_SERVER_URL", "").rstrip("/") or None


def needs_double(why: str) -> pytest.MarkDecorator:
    """Skip a test against the real server, saying what in it only the double can do."""
    return pytest.mark.skipif(REAL_URL is not None, reason=f"needs the double: {why}")


@dataclass
class Room:
    url: str
    double: RoomServer | None
    client: httpx.Client

    def _get(self, path: str, **params: object) -> Any:
        response = self.client.get(f"{self.url}{path}", params=params)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(f"{self.url}{path}", json=body)
        response.raise_for_status()
        return response.json()

    def events(self, event_type: str, source: str | None = None) -> list[dict[str, Any]]:
        """The server's recent events of one type (and source), oldest first."""
        params = {"type": event_type, "limit": 500} | ({"source": source} if source else {})
        return list(reversed(self._get("/api/events/recent", **params)["events"]))

    def mode(self) -> str:
        """The room mode the server computes from its cameras' pushed states."""
        return str(self._get("/api/cameras")["room"]["room_mode"])

    def camera(self, camera_id: str) -> dict[str, Any]:
        """A camera's state as the server merged it from the pushes."""
        cameras = self._get("/api/cameras")["cameras"]
        return next(c["state"] for c in cameras if c["cameraId"] == camera_id)

    def heartbeat(self, project_id: str) -> dict[str, Any]:
        """A project's last heartbeat as the server keeps it."""
        return dict(self._get("/api/projects/status")["heartbeats"][project_id])

    def push(self, **state: object) -> dict[str, Any]:
        """A camera state pushed as another detector would; the server's answer."""
        return dict(self._post("/push/state", state))

    def command(self, camera_id: str, **body: object) -> dict[str, Any]:
        """A console's camera command (`capture`, `set-mode`, `pause`, …); the event it made."""
        return dict(self._post(f"/api/cameras/{camera_id}/command", body)["event"])

    def set_phase(self, phase: str) -> dict[str, Any]:
        """The room's phase set as a console sets it; the event it made."""
        self._post("/phase", {"phase": phase})
        return self.events("room.phase.changed")[-1]


@contextlib.contextmanager
def room_server(double: RoomServer | None = None, port: int = 0) -> Iterator[Room]:
    """The real server when the variable names one (its room reset first), else `double` (a new one when None)
    on a uvicorn at `port` (0: a free one)."""
    with httpx.Client(timeout=5.0) as client:
        if REAL_URL is not None:
            room = Room(REAL_URL, None, client)
            room._post("/mock/reset", {})
            yield room
            return
        server = double or RoomServer()
        with ServerThread(room_server_app(server), port=port) as running:
            try:
                yield Room(running.url, server, client)
            finally:
                server.drop_streams()  # held-open streams would hold the shutdown
