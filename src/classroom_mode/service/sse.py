"""Server-sent events from the history's event log: mode changes, surprise alerts, camera transitions.

The stream reads the store, not the loop, so `serve` can relay the events of a `run` in another
process as readily as those of its own `--live` loop. Each event's `id:` is its row in the log: a
browser's EventSource reconnects with `Last-Event-ID` and misses nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.concurrency import run_in_threadpool

from classroom_mode.store import HistoryStore, StoredEvent

EVENT_NAMES = {"mode": "mode_change", "surprise": "surprise_alert", "camera": "camera_status"}
"""Store event kind → the SSE `event:` name clients listen for."""
KEEPALIVE_S = 15.0


def format_event(event: StoredEvent) -> str:
    data = json.dumps(event.record.model_dump(mode="json"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {EVENT_NAMES[event.kind]}\ndata: {data}\n\n"


async def event_stream(
    store: HistoryStore, after: int, disconnected: Callable[[], Awaitable[bool]], poll_s: float = 0.25
) -> AsyncIterator[str]:
    """Yield every event logged after `after`, polling the store, until the client goes away."""
    yield "retry: 2000\n\n"
    quiet = 0.0
    while not await disconnected():
        events = await run_in_threadpool(store.events, after, 100)
        for event in events:
            yield format_event(event)
            after = event.id
        if events:
            quiet = 0.0
            continue
        await asyncio.sleep(poll_s)
        quiet += poll_s
        if quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield ": keep-alive\n\n"
