"""All persistence: the SQLite history of readings, mode changes, surprise and camera status."""

from classroom_mode.store.history import (
    SCHEMA_VERSION,
    EventKind,
    HistoryStore,
    OutboxEvent,
    PauseKind,
    SinkProgress,
    StoredEvent,
)

__all__ = [
    "SCHEMA_VERSION",
    "EventKind",
    "HistoryStore",
    "OutboxEvent",
    "PauseKind",
    "SinkProgress",
    "StoredEvent",
]
