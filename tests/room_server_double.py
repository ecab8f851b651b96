"""A stand-in for the class's room server, on a real uvicorn, behaving as its code does (`fixtures/room_server.json`
holds the facts): `/push/state` merges a camera's state and computes the room's mode from it, project heartbeats and
events are refused for a project it does not list and event types are checked by its rule, and
`/subscribe/events` streams what a test publishes to the subscribers its targeting rule lets see it, as
`event: classroom_event` with the event's JSON, the way its `writeSse` writes them (the response's head with the
first of them, as Node sends it)."""

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


def room_mode(cameras: dict[str, dict[str, Any]]) -> str:
    """The server's `computeCameraRoom`: a confident `presentation` wins, else the summed person counts decide."""
    active = [c for c in cameras.values() if c.get("running") is not False]
    persons = sum(int(c.get("person_count") or 0) for c in active)
    confident = [
        c["predicted_class"]
        for c in active
        if c.get("predicted_class") and float(c.get("prediction_confidence", c.get("confidence", 0)) or 0) > 0.5
    ]
    if "presentation" in confident:
        return "presentation"
    if not active:
        return "unknown"
    return "empty" if persons == 0 else "solo" if persons == 1 else "duo" if persons == 2 else "group"


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
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    project_events: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Why each refused request was refused."""
    recent: list[Any] = field(default_factory=list)
    """Newest first, as `/api/events/recent` serves them."""
    subscribers: list[Subscriber] = field(default_factory=list)
    published: int = 0
    """Events the server made itself (one per push)."""
    opened: list[str] = field(default_factory=list)
    """The subscriber id of every stream opened, in order (reconnects included)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what a test drives ----------------------------------------------------------------------------

    def publish(self, event: dict[str, Any] | str) -> None:
        """Put an event (or raw text) on the streams of the subscribers allowed to see it, and a real event in the
        recent list (the server keeps the last 160)."""
        text = event if isinstance(event, str) else json.dumps(event)
        with self.lock:
            if isinstance(event, dict):
                self.recent = [event, *self.recent][:160]
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

    def streams(self) -> list[str]:
        with self.lock:
            return [s.name for s in self.subscribers]

    def mode(self) -> str:
        with self.lock:
            return room_mode(self.cameras)


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

    @app.post("/push/state")
    async def push(request: Request, x_api_key: str | None = Header(None)) -> Response:
        if server.api_key is not None and x_api_key != server.api_key:
            return refuse(401, "bad key")
        body = await request.json()
        unread = set(body) - set(FIXTURE["push_fields"])
        if unread or "camera_id" not in body:
            return refuse(422, f"fields the server does not read: {sorted(unread)}")
        with server.lock:
            server.pushes.append(body)
            previous = server.cameras.get(body["camera_id"], {})
            merged = {**previous, **body, "running": body.get("running") is not False}
            server.cameras[body["camera_id"]] = merged
            server.published += 1
            number = server.published
        server.publish(  # every push is an event on every stream, as the server's `ingestCameraState` makes it
            {
                "id": f"evt-push-{number}",
                "event_type": "camera.state.updated",
                "category": "sensor",
                "source": body["camera_id"],
                "target": None,
                "salience": "ambient",
                "created_at": datetime.now(UTC).isoformat(),
                "payload": {
                    "cameraId": body["camera_id"],
                    "running": merged["running"],
                    "detectorHost": merged.get("detector_host"),
                    "detectorUser": None,
                },
            }
        )
        return JSONResponse({"ok": True, "room_mode": server.mode()})

    @app.post("/api/projects/{project_id}/heartbeat")
    async def heartbeat(project_id: str, request: Request) -> Response:
        if project_id not in server.projects:
            return refuse(FIXTURE["unknown_project"]["status"], "unknown project", FIXTURE["unknown_project"]["body"])
        body = await request.json()
        if not set(body) <= set(FIXTURE["heartbeat_fields"]):
            return refuse(422, f"heartbeat fields: {sorted(body)}")
        server.heartbeats.append(body)
        return JSONResponse({"ok": True})

    @app.post("/api/projects/{project_id}/events")
    async def project_event(project_id: str, request: Request) -> Response:
        if project_id not in server.projects:
            return refuse(FIXTURE["unknown_project"]["status"], "unknown project", FIXTURE["unknown_project"]["body"])
        body = await request.json()
        if not set(body) <= set(FIXTURE["project_event_fields"]) or not EVENT_TYPE.match(body.get("event_type", "")):
            return refuse(400, f"event rejected by the contract: {body.get('event_type')!r}")
        server.project_events.append(body)
        return JSONResponse({"ok": True})

    @app.get("/api/events/recent")
    async def recent(limit: int = 80) -> Response:
        with server.lock:
            return JSONResponse({"events": server.recent[:limit], "count": len(server.recent)})

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
