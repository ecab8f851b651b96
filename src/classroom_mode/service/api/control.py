"""Control: pause and resume a camera or a whole room, behind the bearer token.

A pause is kept in the history store, so it survives a restart and a `classroom-mode run` in another process
picks it up on its next tick; a `serve --live` applies it at once through its loop's `set_paused`. A paused
camera is released (nothing read, encoded or recorded) and shows as `paused`, never as offline.

Pausing is a router of its own rather than a part of the rooms' and the cameras' routers: it is one area for a
client (its own OpenAPI tag, `control`), it acts on cameras and rooms alike through the one `set_paused`, and its
changes share what the reads beside them must not: the bearer token and its refusals. So `router` holds the open
read (`GET /api/pauses`) and includes `changes`, the router that declares the token and those refusals once for
every pause and resume.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from classroom_mode.service.api.deps import Services, authorised, errors
from classroom_mode.store import PauseKind

CONTROL_ERRORS = errors(
    e401="missing or wrong bearer token",
    e404="no such camera or room in the config (the detail lists those that exist)",
    e503="the token variable is no longer set on the server",
)

router = APIRouter(prefix="/api", tags=["control"])
changes = APIRouter(dependencies=[Depends(authorised)], responses=CONTROL_ERRORS)


class Pause(BaseModel):
    """A camera or room and whether it is paused."""

    kind: PauseKind
    name: str
    paused: bool
    since: datetime | None = None
    """When it was paused (None when it is not)."""


def _configured(app: Services, kind: PauseKind, name: str) -> None:
    names = (
        [c for room in app.config.rooms.values() for c in room.cameras] if kind == "camera" else list(app.config.rooms)
    )
    if name not in names:
        raise HTTPException(404, f"unknown {kind} {name!r} (configured: {', '.join(names)})")


def _set(app: Services, kind: PauseKind, name: str, paused: bool) -> Pause:
    _configured(app, kind, name)
    if app.loop is not None:
        app.loop.set_paused(kind, name, paused)
    else:
        app.store.set_pause(kind, name, paused, app.clock())
    since = app.store.pauses().get((kind, name))
    return Pause(kind=kind, name=name, paused=since is not None, since=since)


@router.get("/pauses")
def pauses(app: Services) -> list[Pause]:
    """Every paused camera and room."""
    return [Pause(kind=kind, name=name, paused=True, since=since) for (kind, name), since in app.store.pauses().items()]


@changes.post("/cameras/{camera}/pause")
def pause_camera(camera: str, app: Services) -> Pause:
    """Pause a camera: it is released and shows as `paused` until resumed (across restarts)."""
    return _set(app, "camera", camera, True)


@changes.post("/cameras/{camera}/resume")
def resume_camera(camera: str, app: Services) -> Pause:
    """Resume a paused camera (nothing happens to one that is not paused)."""
    return _set(app, "camera", camera, False)


@changes.post("/rooms/{room}/pause")
def pause_room(room: str, app: Services) -> Pause:
    """Pause every camera of a room: the room shows as `paused` and keeps its mode until resumed."""
    return _set(app, "room", room, True)


@changes.post("/rooms/{room}/resume")
def resume_room(room: str, app: Services) -> Pause:
    """Resume a paused room."""
    return _set(app, "room", room, False)


router.include_router(changes)
