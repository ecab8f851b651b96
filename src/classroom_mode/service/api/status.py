"""The API's GET endpoints: room states and history, cameras, readings, output sinks, the event stream.

They read the history store, which `serve --live` fills in-process or a `classroom-mode run` fills from another
process. States and camera statuses are served as judged against the clock (`modes.Freshness`), never as stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from classroom_mode import __version__
from classroom_mode.outputs import stored_statuses
from classroom_mode.records import CameraStatus, ModeChange, ModeState, Prediction, SinkStatus, SurpriseReading
from classroom_mode.service.api.deps import KnownRoom, Services, errors, known_room
from classroom_mode.service.api.sse import stored_events
from classroom_mode.service.api_models import Health

HISTORY_DEFAULT = timedelta(days=1)
Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many, newest first")]

router = APIRouter()


@router.get("/health", tags=["status"])
def health(app: Services) -> Health:
    return Health(
        version=__version__,
        rooms=sorted(app.config.rooms),
        probes=sorted(app.encoder.probes) if app.encoder else [],
        fingerprint=app.encoder.fingerprint if app.encoder else None,
        live=app.loop is not None,
    )


@router.get("/api/rooms", tags=["rooms"])
def rooms(app: Services) -> list[ModeState]:
    """Every room's current state, judged against the clock (`stale`, `age_s`, `fresh_until`); rooms whose
    cameras have not reported yet are absent."""
    now = app.clock()
    return [app.freshness.room(state, now) for state in app.store.states()]


@router.get("/api/rooms/{room}", tags=["rooms"], responses=errors(e404="unknown room, or no state yet"))
async def room_state(room: str, app: Services) -> ModeState:
    """The room's current state; `stale` is true when no reading came within `thresholds.stale_after_s`,
    whether or not a live loop is still running to say so."""
    # the hottest endpoint (every dashboard, bot and ambience controller polls it): one WAL read of one row,
    # which never waits for the writer, so it is read in the event loop rather than through the thread pool
    state = app.store.state(room)
    if state is None:
        known_room(room, app)
        raise HTTPException(404, f"room {room!r} has no state yet (is `classroom-mode run` running?)")
    return app.freshness.room(state, app.clock())


@router.get("/api/rooms/{room}/history", tags=["rooms"], responses=errors(e404="unknown room"))
def room_history(room: KnownRoom, app: Services, since: datetime | None = None) -> list[ModeChange]:
    """The room's mode changes since `since` (default: the last 24 hours), oldest first."""
    return app.store.mode_changes(room, since or app.clock() - HISTORY_DEFAULT)


@router.get("/api/cameras", tags=["cameras"])
def cameras(app: Services) -> list[CameraStatus]:
    """Every camera's status, judged against the clock: offline once no frame came within `offline_after_s`."""
    now = app.clock()
    return [app.freshness.camera(status, now) for status in app.store.cameras()]


@router.get("/api/outputs", tags=["status"])
def outputs(app: Services) -> list[SinkStatus]:
    """Each configured output sink: connected / retrying (since when, why), what it delivered, what waits for it,
    and what it parked. A server without `--live` runs no delivery workers: its sinks show `stopped`, with what
    the store knows."""
    return app.loop.outputs.statuses() if app.loop is not None else stored_statuses(app.config, app.store)


@router.get("/api/predictions", tags=["cameras"])
def predictions(app: Services, camera: str | None = None, limit: Limit = 100) -> list[Prediction]:
    """The latest probe readings, newest first."""
    return app.store.predictions(camera, limit)


@router.get("/api/surprise", tags=["cameras"])
def surprise(app: Services, camera: str | None = None, limit: Limit = 100) -> list[SurpriseReading]:
    """The latest surprise readings, newest first."""
    return app.store.surprise(camera, limit)


@router.get("/api/events", tags=["status"], response_class=EventSourceResponse)
async def events(
    app: Services, last_event_id: Annotated[int | None, Header()] = None, after: int | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `mode_change`, `surprise_alert`, `camera_status`, each with the record as JSON data.

    New events only, unless `after` (or a reconnecting browser's `Last-Event-ID`) gives the id to resume after.
    """
    cursor = after if after is not None else last_event_id
    if cursor is None:
        cursor = await run_in_threadpool(app.store.last_event_id)
    async for event in stored_events(app.store, cursor):
        yield event
