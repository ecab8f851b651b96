"""The rooms: each room's current mode and its mode changes, read from the history store.

States are served as judged against the clock (`modes.Freshness`), never as stored, so a room whose cameras went
quiet reads `stale` whether or not a live loop is still running to say so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException

from classroom_mode.records import ModeChange, ModeState
from classroom_mode.service.api.deps import KnownRoom, Services, errors, known_room

HISTORY_DEFAULT = timedelta(days=1)

router = APIRouter(prefix="/api/rooms", tags=["rooms"])


@router.get("")
def rooms(app: Services) -> list[ModeState]:
    """Every room's current state, judged against the clock (`stale`, `age_s`, `fresh_until`); rooms whose
    cameras have not reported yet are absent."""
    now = app.clock()
    return [app.freshness.room(state, now) for state in app.store.states()]


@router.get("/{room}", responses=errors(e404="unknown room, or no state yet"))
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


@router.get("/{room}/history", responses=errors(e404="unknown room"))
def room_history(room: KnownRoom, app: Services, since: datetime | None = None) -> list[ModeChange]:
    """The room's mode changes since `since` (default: the last 24 hours), oldest first."""
    return app.store.mode_changes(room, since or app.clock() - HISTORY_DEFAULT)
