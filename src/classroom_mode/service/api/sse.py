"""Server-sent events from the history's event log: mode changes, surprise alerts, camera transitions.

The stream reads the store, not the loop, so `serve` can relay the events of a `run` in another
process as readily as those of its own `--live` loop. Each event's `id:` is its row in the log: a
browser's EventSource reconnects with `Last-Event-ID` and misses nothing. FastAPI's `EventSourceResponse`
does the wire format, the keep-alive comments and the end of the stream when the client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi.sse import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from classroom_mode.store import HistoryStore

EVENT_NAMES = {"mode": "mode_change", "surprise": "surprise_alert", "camera": "camera_status"}
"""Store event kind → the SSE `event:` name clients listen for."""
RETRY_MS = 2000
"""How long a browser waits before it reconnects a dropped stream."""


async def stored_events(store: HistoryStore, after: int, poll_s: float = 0.25) -> AsyncIterator[ServerSentEvent]:
    """Every event logged after `after`, polling the store, for as long as the client listens."""
    yield ServerSentEvent(retry=RETRY_MS)
    while True:
        events = await run_in_threadpool(store.events, after, 100)
        for event in events:
            yield ServerSentEvent(data=event.record, event=EVENT_NAMES[event.kind], id=str(event.id))
            after = event.id
        if not events:
            await asyncio.sleep(poll_s)
