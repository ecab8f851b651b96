"""The room's history in SQLite: every reading, mode change, surprise reading, camera transition and lesson phase.

Records are stored as their JSON payload next to the few columns the queries filter on, so the
store returns exactly the record types the API serves, and a field added to a record needs no
migration. The database itself (connections, transactions, schema) is `database.Database`.

Each change the room's devices should hear of is added to the outbox (`store.outbox`, the outputs layer's)
in the same transaction as the change, so the two commit or roll back together.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from classroom_mode.clock import utc_now
from classroom_mode.config import RetentionConfig
from classroom_mode.records import CameraStatus, ModeChange, ModeState, PhaseChange, Prediction, SurpriseReading
from classroom_mode.store.database import Database, epoch, from_epoch
from classroom_mode.store.outbox import Outbox

EventKind = Literal["mode", "camera", "surprise"]
PauseKind = Literal["camera", "room"]
_EVENT_TYPES: dict[str, type[ModeChange | CameraStatus | SurpriseReading]] = {
    "mode": ModeChange,
    "camera": CameraStatus,
    "surprise": SurpriseReading,
}


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event log: its id is the cursor a reader (the server-sent event stream) resumes from."""

    id: int
    kind: EventKind
    record: ModeChange | CameraStatus | SurpriseReading


_PHASE_IN_FORCE = "SELECT record FROM phases WHERE room = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1"
"""A room's phase at a time: the last one announced at or before it."""


class HistoryStore:
    """SQLite history shared by the live loop (writer), the API, the dashboard and the bot (readers)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self._db = Database(path, busy_timeout_s=busy_timeout_s)
        self.path = self._db.path
        self.outbox = Outbox(self._db)
        """The events for the room's devices, written here with the changes they report."""

    def close(self) -> None:
        """Close every thread's connection, once the statements running in other threads have finished."""
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writers -------------------------------------------------------------------------------------

    def add_prediction(self, prediction: Prediction) -> None:
        with self._db.write() as conn:
            record = prediction.model_dump_json()
            conn.execute(
                "INSERT INTO predictions (camera_id, at, record) VALUES (?, ?, ?)",
                (prediction.camera_id, epoch(prediction.at), record),
            )
            self.outbox.add(conn, "reading", prediction.camera_id, prediction.at, record)

    def add_surprise(self, reading: SurpriseReading) -> None:
        """Store a surprise reading; an `unusual` or `anomaly` one is also an event (an alert), and a change of the
        camera's level goes to the outbox."""
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT record FROM surprise WHERE camera_id = ? ORDER BY id DESC LIMIT 1", (reading.camera_id,)
            ).fetchone()
            previous = SurpriseReading.model_validate_json(row[0]).level if row else "normal"
            record = reading.model_dump_json()
            conn.execute(
                "INSERT INTO surprise (camera_id, at, record) VALUES (?, ?, ?)",
                (reading.camera_id, epoch(reading.at), record),
            )
            if reading.level != "normal":
                self._add_event(conn, "surprise", None, reading.camera_id, reading.at, record)
            if reading.level != previous:
                self.outbox.add(conn, "surprise", reading.camera_id, reading.at, record)

    def set_state(self, state: ModeState) -> ModeChange | None:
        """Store a room's current state; returns (and logs) the change when its mode differs from the stored one.

        A room going off-hours or paused (or back) is no mode change, but the outputs hear of it: its state goes
        to the outbox, so a device shows `off-hours` rather than a mode nobody is watching.
        """
        with self._db.write() as conn:
            row = conn.execute("SELECT record FROM room_states WHERE room = ?", (state.room,)).fetchone()
            stored = ModeState.model_validate_json(row[0]) if row else None
            previous = stored.mode if stored else None
            conn.execute(
                "INSERT INTO room_states (room, record) VALUES (?, ?) "
                "ON CONFLICT (room) DO UPDATE SET record = excluded.record",
                (state.room, state.model_dump_json()),
            )
            if previous == state.mode:
                if stored is not None and stored.watch != state.watch:
                    self.outbox.add(conn, "mode", state.room, state.updated_at, state.model_dump_json())
                return None
            change = ModeChange(
                room=state.room, mode=state.mode, previous=previous, at=state.since, confidence=state.confidence
            )
            self._add_event(conn, "mode", state.room, None, change.at, change.model_dump_json())
            self.outbox.add(conn, "mode", state.room, state.since, state.model_dump_json())
            return change

    def set_camera_status(self, status: CameraStatus) -> bool:
        """Store a camera's status; returns True (and logs a transition) when it went on- or offline, or was paused,
        released for the night, or resumed."""
        with self._db.write() as conn:
            row = conn.execute("SELECT record FROM cameras WHERE camera_id = ?", (status.camera_id,)).fetchone()
            stored = CameraStatus.model_validate_json(row[0]) if row else None
            flipped = stored is None or (stored.online, stored.watch) != (status.online, status.watch)
            conn.execute(
                "INSERT INTO cameras (camera_id, record) VALUES (?, ?) "
                "ON CONFLICT (camera_id) DO UPDATE SET record = excluded.record",
                (status.camera_id, status.model_dump_json()),
            )
            if flipped:
                record = status.model_dump_json()
                self._add_event(conn, "camera", status.room, status.camera_id, status.since, record)
                self.outbox.add(conn, "camera", status.camera_id, status.since, record)
            return flipped

    def add_phase(self, change: PhaseChange) -> bool:
        """Store a room's new phase; False (nothing stored) for an event stored already, or a phase that is the one
        in force at its time."""
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM phases WHERE event_id = ?", (change.event_id,)).fetchone():
                return False
            row = conn.execute(_PHASE_IN_FORCE, (change.room, epoch(change.at))).fetchone()
            if row is not None and PhaseChange.model_validate_json(row[0]).phase == change.phase:
                return False
            conn.execute(
                "INSERT INTO phases (room, at, event_id, record) VALUES (?, ?, ?, ?)",
                (change.room, epoch(change.at), change.event_id, change.model_dump_json()),
            )
            return True

    @staticmethod
    def _add_event(
        conn: sqlite3.Connection, kind: EventKind, room: str | None, camera_id: str | None, at: datetime, record: str
    ) -> None:
        conn.execute(
            "INSERT INTO events (kind, room, camera_id, at, record) VALUES (?, ?, ?, ?, ?)",
            (kind, room, camera_id, epoch(at), record),
        )

    def prune(self, older_than: datetime) -> int:
        """Delete history rows stamped before `older_than` (current room and camera states stay); returns the count."""
        cutoff = epoch(older_than)
        with self._db.write() as conn:
            return sum(
                conn.execute(f"DELETE FROM {table} WHERE at < ?", (cutoff,)).rowcount
                for table in ("predictions", "surprise", "events", "phases")
            )

    def apply_retention(self, retention: RetentionConfig, now: datetime | None = None) -> int:
        """Prune by `retention.history_days` (nothing when it is unset)."""
        if retention.history_days is None:
            return 0
        return self.prune((now or utc_now()) - timedelta(days=retention.history_days))

    # -- pauses -------------------------------------------------------------------------------------

    def set_pause(self, kind: PauseKind, name: str, paused: bool, at: datetime) -> bool:
        """Pause or resume a camera or a room; returns whether that changed anything."""
        with self._db.write() as conn:
            if paused:
                return (
                    conn.execute(
                        "INSERT INTO pauses (kind, name, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        (kind, name, epoch(at)),
                    ).rowcount
                    > 0
                )
            return conn.execute("DELETE FROM pauses WHERE kind = ? AND name = ?", (kind, name)).rowcount > 0

    def pauses(self) -> dict[tuple[PauseKind, str], datetime]:
        """Every paused camera and room, as (kind, name) → since when."""
        rows = self._db.fetch("SELECT kind, name, since FROM pauses ORDER BY kind, name")
        return {(kind, name): from_epoch(since) for kind, name, since in rows}

    # -- readers -------------------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[str]:
        return [row[0] for row in self._db.fetch(sql, params)]

    def states(self) -> list[ModeState]:
        return [
            ModeState.model_validate_json(r) for r in self._rows("SELECT record FROM room_states ORDER BY room", ())
        ]

    def state(self, room: str) -> ModeState | None:
        rows = self._rows("SELECT record FROM room_states WHERE room = ?", (room,))
        return ModeState.model_validate_json(rows[0]) if rows else None

    def cameras(self) -> list[CameraStatus]:
        return [
            CameraStatus.model_validate_json(r) for r in self._rows("SELECT record FROM cameras ORDER BY camera_id", ())
        ]

    def mode_changes(self, room: str | None = None, since: datetime | None = None) -> list[ModeChange]:
        """A room's (or every room's) mode changes, oldest first."""
        return [e.record for e in self._events("mode", "room", room, since) if isinstance(e.record, ModeChange)]

    def phase_at(self, room: str, at: datetime) -> PhaseChange | None:
        """The room's phase in force at `at`: the last one announced at or before it; None before the first."""
        rows = self._rows(_PHASE_IN_FORCE, (room, epoch(at)))
        return PhaseChange.model_validate_json(rows[0]) if rows else None

    def phases(self, room: str, since: datetime | None = None) -> list[PhaseChange]:
        """A room's phases, oldest first: from `since` on, led by the one in force at `since` (a day's first phase
        may have begun the day before)."""
        cutoff = epoch(since) if since is not None else float("-inf")
        before = self._rows(
            "SELECT record FROM phases WHERE room = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1", (room, cutoff)
        )
        after = self._rows("SELECT record FROM phases WHERE room = ? AND at >= ? ORDER BY at, id", (room, cutoff))
        return [PhaseChange.model_validate_json(r) for r in before + after]

    def camera_transitions(self, camera_id: str | None = None, since: datetime | None = None) -> list[CameraStatus]:
        """When cameras went on- and offline, oldest first."""
        events = self._events("camera", "camera_id", camera_id, since)
        return [e.record for e in events if isinstance(e.record, CameraStatus)]

    def _events(self, kind: EventKind, column: str, value: str | None, since: datetime | None) -> list[StoredEvent]:
        sql = "SELECT id, kind, record FROM events WHERE kind = ?"
        params: list[object] = [kind]
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
        if since is not None:
            sql += " AND at >= ?"
            params.append(epoch(since))
        return self._decode_events(self._db.fetch(sql + " ORDER BY at, id", params))

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Events with an id greater than `after`, in the order they were written (the SSE cursor)."""
        rows = self._db.fetch("SELECT id, kind, record FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return self._decode_events(rows)

    def last_event_id(self) -> int:
        return self._db.fetch("SELECT coalesce(max(id), 0) FROM events")[0][0]

    @staticmethod
    def _decode_events(rows: list[Any]) -> list[StoredEvent]:
        return [StoredEvent(i, kind, _EVENT_TYPES[kind].model_validate_json(record)) for i, kind, record in rows]

    def predictions(self, camera_id: str | None = None, limit: int = 100) -> list[Prediction]:
        """The latest readings, newest first."""
        return [Prediction.model_validate_json(r) for r in self._latest("predictions", camera_id, limit)]

    def surprise(self, camera_id: str | None = None, limit: int = 100) -> list[SurpriseReading]:
        """The latest surprise readings, newest first."""
        return [SurpriseReading.model_validate_json(r) for r in self._latest("surprise", camera_id, limit)]

    def _latest(self, table: str, camera_id: str | None, limit: int) -> list[str]:
        if camera_id is None:
            return self._rows(f"SELECT record FROM {table} ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        return self._rows(
            f"SELECT record FROM {table} WHERE camera_id = ? ORDER BY at DESC, id DESC LIMIT ?", (camera_id, limit)
        )
