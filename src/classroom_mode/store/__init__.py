"""All persistence: the SQLite history of readings, mode changes, surprise and camera status, and the outbox the
outputs layer delivers from, in one database."""

from classroom_mode.store.database import SCHEMA_VERSION
from classroom_mode.store.history import EventKind, HistoryStore, PauseKind, StoredEvent
from classroom_mode.store.outbox import Outbox, OutboxEvent, SinkProgress

__all__ = [
    "SCHEMA_VERSION",
    "EventKind",
    "HistoryStore",
    "Outbox",
    "OutboxEvent",
    "PauseKind",
    "SinkProgress",
    "StoredEvent",
]
