"""The outbox: what the outputs layer delivers to the room's devices, kept in the history's own database.

A reading, a mode change, a surprise level change or a camera going on- or offline is added here (`Outbox.add`)
inside the history's write transaction for the record it reports, so nothing a sink should hear can be committed
without it (or it without the record). Each sink keeps a cursor (the last outbox id it is done with) and its
parked events; rows every sink is past are compacted away. Nothing is added while no sink is registered.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from classroom_mode.records import CameraStatus, ModeState, OutputKind, Prediction, SurpriseReading
from classroom_mode.store.database import Database, epoch, from_epoch

_OUTBOX_TYPES: dict[str, type[Prediction | ModeState | SurpriseReading | CameraStatus]] = {
    "reading": Prediction,
    "mode": ModeState,
    "surprise": SurpriseReading,
    "camera": CameraStatus,
}


@dataclass(frozen=True)
class OutboxEvent:
    """One event for the room's devices: a reading, a room's new mode (its whole state, with the ambience), a
    camera's new surprise level, or a camera going on- or offline."""

    id: int
    """Its place in the outbox: the cursor a sink resumes from."""
    uid: str
    """Stable across retries and restarts: what a consumer drops duplicates by."""
    kind: OutputKind
    subject: str
    """The room (mode) or camera (reading, surprise, camera) it is about: later events of the same kind and
    subject supersede it, which is what coalescing a long backlog relies on."""
    at: datetime
    record: Prediction | ModeState | SurpriseReading | CameraStatus


@dataclass(frozen=True)
class SinkProgress:
    """What the outbox knows of one sink: how far it got, when, and what it parked."""

    sink: str
    delivered: int
    delivered_at: datetime | None
    pending: int
    parked: int
    last_parked_error: str | None


class Outbox:
    """The sinks' events and cursors, over the history's database (its connections and write lock)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._bell = threading.Condition()
        self._rings = 0
        """How many commits added outbox rows in this process: what `wait` waits to change."""

    def add(self, conn: sqlite3.Connection, kind: OutputKind, subject: str, at: datetime, record: str) -> None:
        """Add an event inside the write transaction `conn` has open (the one storing what it reports)."""
        if conn.execute("SELECT 1 FROM outbox_sinks LIMIT 1").fetchone() is None:
            return  # no sink would ever read it
        conn.execute(
            "INSERT INTO outbox (uid, kind, subject, at, record) VALUES (?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, kind, subject, epoch(at), record),
        )
        self._db.after_commit(self._ring)

    def _ring(self) -> None:
        with self._bell:
            self._rings += 1
            self._bell.notify_all()

    def rings(self) -> int:
        """A counter that moves whenever this process commits outbox rows; pass it to `wait`."""
        with self._bell:
            return self._rings

    def wait(self, rings: int, timeout_s: float) -> None:
        """Return once this process committed outbox rows after `rings` was read, or after `timeout_s` (another
        process writing the same database rings no bell here: the timeout is how its rows are found)."""
        with self._bell:
            self._bell.wait_for(lambda: self._rings != rings, timeout_s)

    def register_sinks(self, sinks: list[str]) -> None:
        """Make `sinks` the outbox's readers: a new one starts after the newest event (it is not sent the past),
        one no longer named is forgotten with its parked events, so it cannot hold rows back from compaction."""
        with self._db.write() as conn:
            newest = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
            known = {row[0] for row in conn.execute("SELECT sink FROM outbox_sinks")}
            for sink in known - set(sinks):
                conn.execute("DELETE FROM outbox_sinks WHERE sink = ?", (sink,))
                conn.execute("DELETE FROM outbox_parked WHERE sink = ?", (sink,))
            for sink in set(sinks) - known:
                conn.execute("INSERT INTO outbox_sinks (sink, delivered) VALUES (?, ?)", (sink, newest))

    def pending(self, sink: str, kinds: tuple[OutputKind, ...], limit: int = 500) -> list[OutboxEvent]:
        """The events of `kinds` after `sink`'s cursor, oldest first."""
        marks = ",".join("?" * len(kinds))
        rows = self._db.fetch(
            f"SELECT id, uid, kind, subject, at, record FROM outbox WHERE id > "
            f"(SELECT delivered FROM outbox_sinks WHERE sink = ?) AND kind IN ({marks}) ORDER BY id LIMIT ?",
            (sink, *kinds, limit),
        )
        return [
            OutboxEvent(i, uid, kind, subject, from_epoch(at), _OUTBOX_TYPES[kind].model_validate_json(record))
            for i, uid, kind, subject, at, record in rows
        ]

    def newest_id(self) -> int:
        return self._db.fetch("SELECT coalesce(max(id), 0) FROM outbox")[0][0]

    def mark_delivered(self, sink: str, up_to: int, at: datetime) -> None:
        """Move `sink`'s cursor to `up_to` (never back): it is done with every event up to there."""
        with self._db.write() as conn:
            conn.execute(
                "UPDATE outbox_sinks SET delivered = max(delivered, ?), delivered_at = ? WHERE sink = ?",
                (up_to, epoch(at), sink),
            )

    def park(self, sink: str, event: OutboxEvent, error: str, at: datetime) -> None:
        """Keep an event `sink` refused for good (a poison event) with the reason, and move the cursor past it."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO outbox_parked (sink, outbox_id, uid, kind, record, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sink, event.id, event.uid, event.kind, event.record.model_dump_json(), error, epoch(at)),
            )
            conn.execute("UPDATE outbox_sinks SET delivered = max(delivered, ?) WHERE sink = ?", (event.id, sink))

    def sink_progress(self, sink: str, kinds: tuple[OutputKind, ...]) -> SinkProgress | None:
        """How far `sink` got, with the events of `kinds` still waiting for it; None for a sink never registered."""
        with self._db.use() as conn:
            row = conn.execute("SELECT delivered, delivered_at FROM outbox_sinks WHERE sink = ?", (sink,)).fetchone()
            if row is None:
                return None
            marks = ",".join("?" * len(kinds))
            pending = conn.execute(
                f"SELECT count(*) FROM outbox WHERE id > ? AND kind IN ({marks})", (row[0], *kinds)
            ).fetchone()[0]
            parked = conn.execute("SELECT count(*), max(at) FROM outbox_parked WHERE sink = ?", (sink,)).fetchone()
            last_error = conn.execute(
                "SELECT error FROM outbox_parked WHERE sink = ? ORDER BY at DESC LIMIT 1", (sink,)
            ).fetchone()
        return SinkProgress(
            sink=sink,
            delivered=row[0],
            delivered_at=from_epoch(row[1]) if row[1] is not None else None,
            pending=pending,
            parked=parked[0],
            last_parked_error=last_error[0] if last_error else None,
        )

    def compact(self) -> int:
        """Delete the outbox rows every sink is past; returns how many."""
        with self._db.write() as conn:
            floor = conn.execute("SELECT min(delivered) FROM outbox_sinks").fetchone()[0]
            if floor is None:
                return conn.execute("DELETE FROM outbox").rowcount
            return conn.execute("DELETE FROM outbox WHERE id <= ?", (floor,)).rowcount
