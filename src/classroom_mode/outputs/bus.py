"""The class's room server: each camera's whole state pushed, and the room's own events published as a project's.

Pushes, `POST {url}/push/state`: every event of a camera carries `camera_id`, `running` and `detector_host`
(this machine's name), and
- a reading: `predicted_class`, `prediction_confidence`, `class_probs`. An `uncertain` reading sends no class:
  the server merges each push into the camera's state, so it keeps the last confident class it was sent;
- a surprise level change: `anomaly_level`, `anomaly_score` (the server's `safety.anomaly.changed`);
- a camera going offline: `running: false`, which takes it out of the server's room mode; back online, `true`.

Under a `project_id`, `POST {url}/api/projects/{project_id}/events` with `{event_type, payload}`: a room's mode
change as `classifier.room-mode.changed` (with its ambience) and a camera's surprise level change as
`classifier.surprise.changed`. The server's validator takes dotted lower-case names of letters, digits and
`-`; an `_` it rewrites, so the names are sent as it keeps them.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx

from classroom_mode.config import BusOutput
from classroom_mode.outputs.delivery import Rejected
from classroom_mode.outputs.events import Delivery
from classroom_mode.outputs.http import post
from classroom_mode.records import UNCERTAIN, CameraStatus, ModeState, Prediction, SurpriseReading

ROOM_MODE_EVENT = "classifier.room-mode.changed"
SURPRISE_EVENT = "classifier.surprise.changed"
EMITS = [ROOM_MODE_EVENT, SURPRISE_EVENT]
"""The project events this product publishes (its heartbeat's `emits`)."""


def push_body(delivery: Delivery, detector_host: str) -> dict[str, Any] | None:
    """The camera-state push of an event, or None for an event that is not a camera's (a room's mode)."""
    record = delivery.record
    if isinstance(record, ModeState):
        return None
    body: dict[str, Any] = {
        "camera_id": record.camera_id,
        "running": record.online if isinstance(record, CameraStatus) else True,
        "detector_host": detector_host,
    }
    if isinstance(record, Prediction) and record.label != UNCERTAIN:
        body |= {
            "predicted_class": record.label,
            "prediction_confidence": record.confidence,
            "class_probs": record.probabilities,
        }
    elif isinstance(record, SurpriseReading):
        body |= {"anomaly_level": record.level, "anomaly_score": record.score}
    return body


def project_event(delivery: Delivery) -> dict[str, Any] | None:
    """The project event of a room's mode change or a surprise level change; None for other events."""
    record = delivery.record
    if isinstance(record, ModeState):
        payload: dict[str, Any] = {
            "room": record.room,
            "mode": record.mode,
            "displayName": record.display_name,
            "ambience": record.ambience,
            "confidence": record.confidence,
            "probabilities": record.probabilities,
            "cameras": record.cameras,
            "since": record.since.isoformat(),
        }
        event_type = ROOM_MODE_EVENT
    elif isinstance(record, SurpriseReading):
        payload = {
            "room": delivery.room,
            "cameraId": record.camera_id,
            "level": record.level,
            "score": record.score,
            "energy": record.energy,
            "at": record.at.isoformat(),
        }
        event_type = SURPRISE_EVENT
    else:
        return None
    payload["eventId"] = delivery.uid  # the server gives each event its own id: this one is for dropping repeats
    if delivery.test:
        payload["test"] = True
    return {"event_type": event_type, "payload": payload}


UNKNOWN_PROJECT = "unknown project"
"""What the server answers (HTTP 400) to a heartbeat or an event under a project id it does not list."""


def unknown_project(settings: BusOutput) -> str:
    """The one line that says a project id is unknown to the server, and how to fix it."""
    return (
        f"the room server at {settings.url} does not know project {settings.project_id!r}: add "
        f'{{"id": "{settings.project_id}", "title": "classroom-mode"}} to the projects of its '
        "public/project-packets.json and restart it, or set project_id to an id it lists at GET /api/projects"
    )


def post_json(
    client: httpx.Client, url: str, body: dict[str, Any], key: str | None, timeout_s: float, extra: dict[str, str]
) -> None:
    """POST `body` as JSON with the key when one is configured (`http.post`'s answers: Retry, Rejected)."""
    headers = {"Content-Type": "application/json", **extra}
    if key:
        headers["X-API-Key"] = key
    post(client, url, json.dumps(body).encode(), headers, timeout_s, [key or ""])


class BusSink:
    def __init__(self, settings: BusOutput, api_key: str | None) -> None:
        self.settings = settings
        base = settings.url.rstrip("/")
        self.push_url = f"{base}/push/state"
        self.events_url = f"{base}/api/projects/{settings.project_id}/events" if settings.project_id else None
        self.detector_host = socket.gethostname()
        self._key = api_key
        self._client: httpx.Client | None = None

    def open(self) -> None:
        self._client = httpx.Client()

    def deliver(self, delivery: Delivery) -> str | None:
        push = push_body(delivery, self.detector_host)
        if push is not None:
            self._post(self.push_url, push, delivery.uid)
        if self.events_url is not None and (event := project_event(delivery)) is not None:
            try:
                self._post(self.events_url, event, delivery.uid)
            except Rejected as exc:
                raise Rejected(unknown_project(self.settings) if UNKNOWN_PROJECT in str(exc) else str(exc)) from None
        return None

    def _post(self, url: str, body: dict[str, Any], uid: str) -> None:
        assert self._client is not None, "open() first"
        post_json(self._client, url, body, self._key, self.settings.timeout_s, {"X-Event-Id": uid})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
