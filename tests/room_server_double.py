"""A stand-in for the class's room server, on a real uvicorn, behaving as its code does (`fixtures/room_server.json`
holds the facts, checked by running tests/test_bus.py against the real one). It serves the routes the bus uses and
those a test drives and reads it through, with the real server's status codes, events and the fields of its answers
a client reads (its readiness and routing summaries are left out):

- `POST /push/state` merges a camera's state (any field, as the server does), computes the room's mode and makes
  the events the server makes of a push (`camera.state.updated`, and `class.presence.changed`,
  `classifier.probe.changed`, `session.mode.changed`, `safety.anomaly.changed` when those change);
- project heartbeats and events are refused (400) for a project it does not list; a heartbeat becomes a
  `project.heartbeat` event, a project's event is published under its canonical type with the project's fields;
- a console's camera command (`POST /api/cameras/{id}/command`) and `POST /phase` publish their requests;
- `GET /api/events/recent` (newest first, the last 160 kept), `GET /api/cameras`, `GET /api/projects/status`;
- `/subscribe/events` streams every event to the subscribers its targeting rule lets see it, as
  `event: classroom_event` with the event's JSON, the way its `writeSse` writes them (the response's head with
  the first of them, as Node sends it).

What only a double can do is here too: a key checked on pushes (as the Python reference server does), raw text
put on the streams, streams dropped, a restart that forgets what the server held in memory."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Send

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "room_server.json").read_text())
EVENT_TYPE = re.compile(FIXTURE["event_type_pattern"])
RECENT_KEPT = FIXTURE["recent_kept"]


def running(cameras: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The cameras the room's mode is computed over: all but those pushed `running: false`."""
    return [c for c in cameras.values() if c.get("running") is not False]


def total_persons(cameras: dict[str, dict[str, Any]]) -> int:
    return sum(int(c.get("person_count") or 0) for c in running(cameras))


def room_mode(cameras: dict[str, dict[str, Any]]) -> str:
    """The server's `computeCameraRoom`: a confident `presentation` wins, then a whiteboard in use (`focus`), else
    the summed person counts decide."""
    active = running(cameras)
    persons = total_persons(cameras)
    confident = [
        c["predicted_class"]
        for c in active
        if c.get("predicted_class") and float(c.get("prediction_confidence", c.get("confidence", 0)) or 0) > 0.5
    ]
    if "presentation" in confident:
        return "presentation"
    if any(c.get("whiteboard_text_detected") for c in active):
        return "focus"
    if not active:
        return "unknown"
    return "empty" if persons == 0 else "solo" if persons == 1 else "duo" if persons == 2 else "group"


def canonical_event_type(name: str) -> str:
    """The server's `canonicalEventType`: a legacy name's dotted one, `_` as `-`, anything else that breaks its
    rule kept as `legacy.<slug>` (accepted, not refused)."""
    raw = name.strip()
    if not raw:
        return "legacy.event"
    if raw in FIXTURE["legacy_event_types"]:
        return str(FIXTURE["legacy_event_types"][raw])
    hyphenated = raw.lower().replace("_", "-")
    if EVENT_TYPE.match(hyphenated):
        return hyphenated
    slug = re.sub(r"[^a-z0-9.]+", "-", hyphenated).strip("-")
    slug = re.sub(r"\.+", ".", slug).strip(".")
    return slug if EVENT_TYPE.match(slug) else f"legacy.{slug or 'event'}"


def unique_strings(values: object) -> list[str]:
    """The server's `uniqueStrings`: a heartbeat's lists, deduplicated and sorted."""
    items = values if isinstance(values, list) else values.split(",") if isinstance(values, str) else []
    return sorted({str(v).strip() for v in items} - {""})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Subscriber:
    name: str
    queue: asyncio.Queue[str | None]
    loop: asyncio.AbstractEventLoop


@dataclass
class RoomServer:
    projects: set[str] = field(default_factory=lambda: {"classroom-mode"})
    api_key: str | None = None
    """Checked as `X-API-Key` on pushes when set (the Python reference server does; the Node one does not)."""
    pushes: list[dict[str, Any]] = field(default_factory=list)
    """Every push's body as sent."""
    refused: list[str] = field(default_factory=list)
    """Why each refused request was refused."""
    opened: list[str] = field(default_factory=list)
    """The subscriber id of every stream opened, in order (reconnects included)."""
    # what the server holds in memory, lost when it restarts
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    heartbeats: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent: list[Any] = field(default_factory=list)
    """Newest first, as `/api/events/recent` serves them."""
    phase: str = "activity"
    subscribers: list[Subscriber] = field(default_factory=list)
    made: int = 0
    """Ids the server has given (events and commands)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what a test drives ----------------------------------------------------------------------------

    def publish(self, event: dict[str, Any] | str) -> None:
        """Put an event (or raw text) on the streams of the subscribers allowed to see it, and a real event in the
        recent list (the server keeps the last 160)."""
        text = event if isinstance(event, str) else json.dumps(event)
        with self.lock:
            if isinstance(event, dict):
                self.recent = [event, *self.recent][:RECENT_KEPT]
            subscribers = list(self.subscribers)
        for sub in subscribers:
            if isinstance(event, str) or visible(event, sub.name):
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, text)

    def drop_streams(self) -> None:
        """End every open stream, as a server restart or a network blip does."""
        with self.lock:
            subscribers, self.subscribers = list(self.subscribers), []
        for sub in subscribers:
            sub.loop.call_soon_threadsafe(sub.queue.put_nowait, None)

    def restart(self) -> None:
        """Forget what the server holds in memory, as its process does when it restarts (its snapshot on disk is
        written, never read back)."""
        self.drop_streams()
        with self.lock:
            self.cameras, self.heartbeats, self.recent, self.phase = {}, {}, [], "activity"

    def streams(self) -> list[str]:
        with self.lock:
            return [s.name for s in self.subscribers]

    # -- what the server does ----------------------------------------------------------------------------

    def make_id(self, prefix: str) -> str:
        with self.lock:
            self.made += 1
            return f"{prefix}-double-{self.made:x}"

    def make_event(
        self, event_type: str, payload: dict[str, Any], source: str, *, target: str | None = None, salience: str = ""
    ) -> dict[str, Any]:
        """The server's `pushEvent`: an event in its canonical shape, published."""
        event = {
            "id": self.make_id("evt"),
            "event_type": event_type,
            "category": category(event_type),
            "source": source,
            "target": target,
            "salience": salience or "broadcast",
            "created_at": now(),
            "payload": payload,
        }
        self.publish(event)
        return event

    def ingest(self, body: dict[str, Any]) -> dict[str, Any]:
        """The server's `ingestCameraState`."""
        source = str(body.get("camera_id") or body.get("cameraId") or "camera-worker")
        camera_id = str(body.get("camera_id") or body.get("cameraId") or body.get("id") or source)[:80]
        with self.lock:
            previous = self.cameras.get(camera_id, {})
            old_mode = room_mode(self.cameras)
            merged = {**previous, **body, "camera_id": camera_id, "running": body.get("running") is not False}
            merged["updatedAt"] = now()
            self.cameras[camera_id] = merged
            new_mode, persons = room_mode(self.cameras), total_persons(self.cameras)
        emitted = [
            self.make_event(
                "camera.state.updated",
                {
                    "cameraId": camera_id,
                    "running": merged["running"],
                    "detectorHost": merged.get("detector_host"),
                    "detectorUser": merged.get("detector_user"),
                },
                source,
                salience="ambient",
            )
        ]

        def changed(key: str) -> bool:
            return previous.get(key) != merged.get(key)

        def change(key: str, name: str) -> dict[str, Any]:
            """How the server reports a field that changed: the camera, `old<Name>` and `new<Name>`."""
            return {"cameraId": camera_id, f"old{name}": previous.get(key), f"new{name}": merged.get(key)}

        if changed("person_count") or changed("person_detected"):
            detected, count = merged.get("person_detected"), int(merged.get("person_count") or 0)
            presence = {
                "cameraId": camera_id,
                "oldCount": int(previous.get("person_count") or 0),
                "newCount": count,
                "detected": bool(detected if detected is not None else count > 0),
            }
            emitted.append(self.make_event("class.presence.changed", presence, source))
        if changed("predicted_class"):
            probe = {
                **change("predicted_class", "Class"),
                "confidence": float(merged.get("prediction_confidence", merged.get("confidence", 0)) or 0),
                "class_probs": merged.get("class_probs") or {},
            }
            emitted.append(self.make_event("classifier.probe.changed", probe, source))
        if old_mode != new_mode:
            mode = {"oldMode": old_mode, "newMode": new_mode, "totalPersons": persons, "trigger": "camera.state.push"}
            emitted.append(self.make_event("session.mode.changed", mode, source))
        if changed("anomaly_level"):
            anomaly = {**change("anomaly_level", "Level"), "score": float(merged.get("anomaly_score") or 0)}
            emitted.append(self.make_event("safety.anomaly.changed", anomaly, source))
        return {
            "ok": True,
            "cameraId": camera_id,
            "room_mode": new_mode,
            "phase": self.phase,
            "camera": merged,
            "events": [e["event_type"] for e in emitted],
        }

    def command(self, camera_id: str, body: dict[str, Any], source: str) -> dict[str, Any]:
        """The server's `sendCameraCommand`: the request as an event aimed at the camera."""
        command = str(body.get("command") or body.get("type") or ("set-mode" if body.get("mode") else "request"))
        payload = {
            "requestId": self.make_id("cmd"),
            "cameraId": camera_id[:80],
            "command": command[:80],
            "mode": str(body["mode"])[:80] if body.get("mode") else None,
            "projectId": body.get("projectId") or body.get("project_id"),
            "reason": str(body.get("reason") or "")[:240],
            "params": body["params"] if isinstance(body.get("params"), dict) else {},
        }
        event_type = FIXTURE["camera_commands"].get(command, "camera.command.requested")
        return {"ok": True, "event": self.make_event(event_type, payload, source, target=payload["cameraId"])}


def category(event_type: str) -> str:
    """The server's `classifyEventType`, for the prefixes this product meets."""
    prefixes: dict[str, str] = FIXTURE["categories"]
    return next((cat for prefix, cat in prefixes.items() if event_type.startswith(prefix)), "event")


class HeadWithFirstEvent(StreamingResponse):
    """A stream whose status and headers go out with its first event, as Node sends a response whose head was
    written (`writeHead`) but no body yet: a subscriber's request is answered only when something happens."""

    async def stream_response(self, send: Send) -> None:
        head = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        async for chunk in self.body_iterator:
            if head:
                await send(head)
                head = {}
            await send({"type": "http.response.body", "body": str(chunk).encode(), "more_body": True})
        if head:
            await send(head)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def visible(event: dict[str, Any], subscriber: str) -> bool:
    """The server's `legacyEventVisible`: an event with a target reaches only a subscriber of that name."""
    target = event.get("target") or (event.get("payload") or {}).get("target")
    targets = [str(t) for t in target] if isinstance(target, list) else [str(target)] if target else []
    return not targets or subscriber in targets


def room_server_app(server: RoomServer) -> FastAPI:
    app = FastAPI()

    def refuse(status: int, reason: str, body: dict[str, Any] | None = None) -> JSONResponse:
        server.refused.append(reason)
        return JSONResponse(body or {"ok": False, "error": reason}, status_code=status)

    def unknown(project_id: str) -> JSONResponse | None:
        if project_id in server.projects:
            return None
        return refuse(FIXTURE["unknown_project"]["status"], "unknown project", FIXTURE["unknown_project"]["body"])

    @app.post("/push/state")
    async def push(request: Request, x_api_key: str | None = Header(None)) -> Response:
        if server.api_key is not None and x_api_key != server.api_key:
            return refuse(401, "bad key")
        body = await request.json()
        server.pushes.append(body)
        return JSONResponse(server.ingest(body))

    @app.post("/api/projects/{project_id}/heartbeat")
    async def heartbeat(project_id: str, request: Request) -> Response:
        if refused := unknown(project_id):
            return refused
        body = await request.json()
        kept = {
            "projectId": project_id,
            "status": body.get("status") or "online",
            **{key: unique_strings(body.get(key)) for key in ("capabilities", "consumes", "emits")},
            "message": str(body.get("message") or "")[: FIXTURE["heartbeat_message_chars"]],
            "meta": body["meta"] if isinstance(body.get("meta"), dict) else {},
            "lastSeen": now(),
        }
        with server.lock:
            server.heartbeats[project_id] = kept
        said = {k: v for k, v in kept.items() if k not in ("meta", "lastSeen")} | {"title": project_id}
        server.make_event("project.heartbeat", said, project_id, salience="ambient")
        return JSONResponse({"ok": True, "heartbeat": kept})

    @app.post("/api/projects/{project_id}/events")
    async def project_event(project_id: str, request: Request) -> Response:
        if refused := unknown(project_id):
            return refused
        body = await request.json()
        asked = str(body.get("event_type") or body.get("eventType") or "project.event")
        event_type = canonical_event_type(asked)
        payload = body["payload"] if isinstance(body.get("payload"), dict) else {}
        payload = payload | {
            "legacyEventType": None if event_type == asked else asked,
            "projectId": project_id,
            "sourceProject": project_id,
            "title": project_id,
        }
        event = server.make_event(event_type, payload, project_id, target=body.get("target"))
        return JSONResponse({"ok": True, "event": event})

    @app.get("/api/projects/status")
    async def projects_status() -> Response:
        with server.lock:
            return JSONResponse({"generatedAt": now(), "heartbeats": dict(server.heartbeats)})

    @app.post("/api/cameras/{camera_id}/command")
    async def camera_command(camera_id: str, request: Request) -> Response:
        return JSONResponse(server.command(camera_id, await request.json(), "camera-command-api"))

    @app.get("/api/cameras")
    async def cameras() -> Response:
        with server.lock:
            states = dict(server.cameras)
        listed = [
            {"cameraId": cid, "state": s, "online": True, "lastSeen": s["updatedAt"]} for cid, s in states.items()
        ]
        return JSONResponse({"generatedAt": now(), "room": {"room_mode": room_mode(states)}, "cameras": listed})

    @app.post("/phase")
    async def set_phase(request: Request) -> Response:
        body = await request.json()
        server.phase = str(body.get("phase") or body.get("session_phase") or "unknown")
        server.make_event("room.phase.changed", {"phase": server.phase}, "legacy-phase-api")
        with server.lock:
            mode = room_mode(server.cameras)
        return JSONResponse({"ok": True, "phase": server.phase, "room_mode": mode, "event_type": "room.phase.changed"})

    @app.get("/api/events/recent")
    async def recent(limit: int = 80, type: str = "", source: str = "") -> Response:
        wanted = canonical_event_type(type) if type else ""
        with server.lock:
            events = [
                e
                for e in server.recent
                if (not wanted or e.get("event_type") == wanted) and (not source or e.get("source") == source)
            ]
            return JSONResponse({"events": events[: max(1, min(500, limit))], "count": len(server.recent)})

    @app.get("/subscribe/events")
    async def subscribe(subscriber_id: str = "anonymous") -> Response:
        sub = Subscriber(subscriber_id, asyncio.Queue(), asyncio.get_running_loop())
        with server.lock:
            server.subscribers.append(sub)
            server.opened.append(subscriber_id)

        async def stream() -> AsyncIterator[str]:
            try:
                while (text := await sub.queue.get()) is not None:
                    yield f"event: classroom_event\ndata: {text}\n\n"
            finally:
                with server.lock:
                    if sub in server.subscribers:
                        server.subscribers.remove(sub)

        return HeadWithFirstEvent(stream(), media_type="text/event-stream")

    return app
