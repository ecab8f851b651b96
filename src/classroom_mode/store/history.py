"""The room's history in SQLite: every reading, mode change, surprise reading and camera transition.

WAL mode with `synchronous=FULL`: a committed row is on disk before the call returns, so a
process killed with SIGKILL mid-write (or a power cut) leaves a readable database holding every
committed row; SQLite rolls back the half-written transaction on the next open. Each thread gets
its own connection (the live loop's workers, the API's worker threads and the SSE poller read and
write concurrently), and read-modify-write updates take the write lock up front (`BEGIN IMMEDIATE`)
so two writers never deadlock upgrading a read lock.

Records are stored as their JSON payload next to the few columns the queries filter on, so the
store returns exactly the record types the API serves, and a field added to a record needs no
migration. The schema version lives in `PRAGMA user_version`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from classroom_mode.clock import as_utc, utc_now
from classroom_mode.config import RetentionConfig
from classroom_mode.errors import UserError
from classroom_mode.records import CameraStatus, ModeChange, ModeState, Prediction, SurpriseReading

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY, camera_id TEXT NOT NULL, at REAL NOT NULL, record TEXT NOT NULL);
CREATE INDEX predictions_camera_at ON predictions (camera_id, at);
CREATE INDEX predictions_at ON predictions (at);
CREATE TABLE surprise (
    id INTEGER PRIMARY KEY, camera_id TEXT NOT NULL, at REAL NOT NULL, record TEXT NOT NULL);
CREATE INDEX surprise_camera_at ON surprise (camera_id, at);
CREATE INDEX surprise_at ON surprise (at);
CREATE TABLE room_states (room TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE cameras (camera_id TEXT PRIMARY KEY, record TEXT NOT NULL);
-- mode changes, camera on/offline transitions and surprise alerts, in the order they happened:
-- the history endpoints and the server-sent event stream both read this one table
CREATE TABLE events (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, room TEXT, camera_id TEXT, at REAL NOT NULL, record TEXT NOT NULL);
CREATE INDEX events_kind_room_at ON events (kind, room, at);
CREATE INDEX events_kind_camera_at ON events (kind, camera_id, at);
CREATE INDEX events_at ON events (at);
"""

EventKind = Literal["mode", "camera", "surprise"]
_EVENT_TYPES: dict[str, type[ModeChange | CameraStatus | SurpriseReading]] = {
    "mode": ModeChange,
    "camera": CameraStatus,
    "surprise": SurpriseReading,
}


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event log: its id is the cursor a reader (SSE, notifier) resumes from."""

    id: int
    kind: EventKind
    record: ModeChange | CameraStatus | SurpriseReading


def _epoch(at: datetime) -> float:
    return as_utc(at).timestamp()


class HistoryStore:
    """SQLite history shared by the live loop (writer), the API, the dashboard and the bot (readers)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        """How long a write waits for another process's lock before it raises (the live loop then holds it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # -- connections ---------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as exc:
                raise UserError(f"{self.path}: not a classroom-mode history database ({exc})") from None
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        conn = self._connection()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path}: not a classroom-mode history database ({exc})") from None
        try:
            # a history with corrupted pages would fail later, at a write in the middle of the live loop
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems != ["ok"]:
            raise UserError(
                f"{self.path}: the history database is damaged ({'; '.join(' '.join(p.split()) for p in problems)}); "
                "move it aside to start a new one (sqlite3's .recover can often save its rows)"
            )
        if version > SCHEMA_VERSION:
            raise UserError(
                f"{self.path}: history schema version {version} is newer than this classroom-mode ({SCHEMA_VERSION})"
            )
        if version == 0:
            with self._write() as conn:
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                if tables:
                    raise UserError(f"{self.path}: an SQLite database, but not a classroom-mode history")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close every thread's connection (call once, when no thread uses the store any more)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writers -------------------------------------------------------------------------------------

    def add_prediction(self, prediction: Prediction) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO predictions (camera_id, at, record) VALUES (?, ?, ?)",
                (prediction.camera_id, _epoch(prediction.at), prediction.model_dump_json()),
            )

    def add_surprise(self, reading: SurpriseReading) -> None:
        """Store a surprise reading; an `unusual` or `anomaly` one is also an event (an alert)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO surprise (camera_id, at, record) VALUES (?, ?, ?)",
                (reading.camera_id, _epoch(reading.at), reading.model_dump_json()),
            )
            if reading.level != "normal":
                self._add_event(conn, "surprise", None, reading.camera_id, reading.at, reading.model_dump_json())

    def set_state(self, state: ModeState) -> ModeChange | None:
        """Store a room's current state; returns (and logs) the change when its mode differs from the stored one."""
        with self._write() as conn:
            row = conn.execute("SELECT record FROM room_states WHERE room = ?", (state.room,)).fetchone()
            previous = ModeState.model_validate_json(row[0]).mode if row else None
            conn.execute(
                "INSERT INTO room_states (room, record) VALUES (?, ?) "
                "ON CONFLICT (room) DO UPDATE SET record = excluded.record",
                (state.room, state.model_dump_json()),
            )
            if previous == state.mode:
                return None
            change = ModeChange(
                room=state.room, mode=state.mode, previous=previous, at=state.since, confidence=state.confidence
            )
            self._add_event(conn, "mode", state.room, None, change.at, change.model_dump_json())
            return change

    def set_camera_status(self, status: CameraStatus) -> bool:
        """Store a camera's status; returns True (and logs a transition) when it went on- or offline."""
        with self._write() as conn:
            row = conn.execute("SELECT record FROM cameras WHERE camera_id = ?", (status.camera_id,)).fetchone()
            flipped = row is None or CameraStatus.model_validate_json(row[0]).online != status.online
            conn.execute(
                "INSERT INTO cameras (camera_id, record) VALUES (?, ?) "
                "ON CONFLICT (camera_id) DO UPDATE SET record = excluded.record",
                (status.camera_id, status.model_dump_json()),
            )
            if flipped:
                self._add_event(conn, "camera", status.room, status.camera_id, status.since, status.model_dump_json())
            return flipped

    @staticmethod
    def _add_event(
        conn: sqlite3.Connection, kind: EventKind, room: str | None, camera_id: str | None, at: datetime, record: str
    ) -> None:
        conn.execute(
            "INSERT INTO events (kind, room, camera_id, at, record) VALUES (?, ?, ?, ?, ?)",
            (kind, room, camera_id, _epoch(at), record),
        )

    def prune(self, older_than: datetime) -> int:
        """Delete history rows stamped before `older_than` (current room and camera states stay); returns the count."""
        cutoff = _epoch(older_than)
        with self._write() as conn:
            return sum(
                conn.execute(f"DELETE FROM {table} WHERE at < ?", (cutoff,)).rowcount
                for table in ("predictions", "surprise", "events")
            )

    def apply_retention(self, retention: RetentionConfig, now: datetime | None = None) -> int:
        """Prune by `retention.history_days` (nothing when it is unset)."""
        if retention.history_days is None:
            return 0
        return self.prune((now or utc_now()) - timedelta(days=retention.history_days))

    # -- readers -------------------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[str]:
        return [row[0] for row in self._connection().execute(sql, params)]

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
            params.append(_epoch(since))
        return self._decode_events(self._connection().execute(sql + " ORDER BY at, id", params))

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Events with an id greater than `after`, in the order they were written (the SSE cursor)."""
        rows = self._connection().execute(
            "SELECT id, kind, record FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        return self._decode_events(rows)

    def last_event_id(self) -> int:
        return self._connection().execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]

    @staticmethod
    def _decode_events(rows: sqlite3.Cursor) -> list[StoredEvent]:
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
