"""The server's own status: its health, its output sinks, and the event stream of what the store records.

They read the history store, which `serve --live` fills in-process or a `classroom-mode run` fills from another
process. Their paths have no prefix in common (`/health` sits at the root, the others under `/api`), so the router
declares only its tag.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from classroom_mode import __version__
from classroom_mode.outputs import stored_statuses
from classroom_mode.records import SinkStatus
from classroom_mode.service.api.deps import Services
from classroom_mode.service.api.sse import stored_events
from classroom_mode.service.api_models import Health

router = APIRouter(tags=["status"])


@router.get("/health")
def health(app: Services) -> Health:
    return Health(
        version=__version__,
        rooms=sorted(app.config.rooms),
        probes=sorted(app.encoder.probes) if app.encoder else [],
        fingerprint=app.encoder.fingerprint if app.encoder else None,
        live=app.loop is not None,
    )


@router.get("/api/outputs")
def outputs(app: Services) -> list[SinkStatus]:
    """Each configured output sink: connected / retrying (since when, why), what it delivered, what waits for it,
    and what it parked. A server without `--live` runs no delivery workers: its sinks show `stopped`, with what
    the store knows."""
    return app.loop.outputs.statuses() if app.loop is not None else stored_statuses(app.config, app.store)


@router.get("/api/events", response_class=EventSourceResponse)
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
