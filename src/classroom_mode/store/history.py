"""The room's history in SQLite: every reading, mode change, surprise reading, camera transition and lesson phase.

WAL mode with `synchronous=FULL`: a committed row is on disk before the call returns, so a
process killed with SIGKILL mid-write (or a power cut) leaves a readable database holding every
committed row; SQLite rolls back the half-written transaction on the next open. Each thread gets
its own connection (the live loop's workers, the API's worker threads and the SSE poller read and
write concurrently), and read-modify-write updates take the write lock up front (`BEGIN IMMEDIATE`)
so two writers never deadlock upgrading a read lock.

Records are stored as their JSON payload next to the few columns the queries filter on, so the
store returns exactly the record types the API serves, and a field added to a record needs no
migration. The schema version lives in `PRAGMA user_version`.

The outbox is what the outputs layer delivers to the room's devices: a reading, a mode change, a
surprise level change or a camera going on- or offline is written there in the same transaction as
the record it reports, so nothing a sink should hear can be committed without it (or it without the
record). Each sink keeps a cursor (the last outbox id it is done with) and its parked events; rows
every sink is past are compacted away. Nothing is written to the outbox while no sink is registered.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from classroom_mode.clock import as_utc, utc_now
from classroom_mode.config import RetentionConfig
from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.records import (
    CameraStatus,
    ModeChange,
    ModeState,
    OutputKind,
    PhaseChange,
    Prediction,
    SurpriseReading,
)

SCHEMA_VERSION = 4

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

_OUTBOX_SCHEMA = """
-- what the outputs layer delivers: `uid` is the event id consumers drop duplicates by (delivery is at least once)
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, subject TEXT NOT NULL, at REAL NOT NULL,
    record TEXT NOT NULL);
CREATE TABLE outbox_sinks (sink TEXT PRIMARY KEY, delivered INTEGER NOT NULL, delivered_at REAL);
CREATE TABLE outbox_parked (
    sink TEXT NOT NULL, outbox_id INTEGER NOT NULL, uid TEXT NOT NULL, kind TEXT NOT NULL, record TEXT NOT NULL,
    error TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (sink, outbox_id));
"""
_PHASES_SCHEMA = """
-- the lesson phases the class's room server announced, beside the modes: `event_id` is the server's, so an event
-- seen again (after a reconnect, or a restart) is not a second change (no semicolons here: the script is split on them)
CREATE TABLE phases (
    id INTEGER PRIMARY KEY, room TEXT NOT NULL, at REAL NOT NULL, event_id TEXT UNIQUE, record TEXT NOT NULL);
CREATE INDEX phases_room_at ON phases (room, at);
"""
_PAUSES_SCHEMA = """
-- cameras and rooms a person paused (API, MQTT switch, dashboard): kept here so a pause survives a restart
CREATE TABLE pauses (kind TEXT NOT NULL, name TEXT NOT NULL, since REAL NOT NULL, PRIMARY KEY (kind, name));
"""
_MIGRATIONS = {1: _OUTBOX_SCHEMA, 2: _PHASES_SCHEMA, 3: _PAUSES_SCHEMA}
"""The statements that take a database from the version named to the next one."""

EventKind = Literal["mode", "camera", "surprise"]
PauseKind = Literal["camera", "room"]
_EVENT_TYPES: dict[str, type[ModeChange | CameraStatus | SurpriseReading]] = {
    "mode": ModeChange,
    "camera": CameraStatus,
    "surprise": SurpriseReading,
}


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
    """What the store knows of one sink: how far it got, when, and what it parked."""

    sink: str
    delivered: int
    delivered_at: datetime | None
    pending: int
    parked: int
    last_parked_error: str | None


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event log: its id is the cursor a reader (the server-sent event stream) resumes from."""

    id: int
    kind: EventKind
    record: ModeChange | CameraStatus | SurpriseReading


def _epoch(at: datetime) -> float:
    return as_utc(at).timestamp()


def _from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript would COMMIT the open transaction; one statement at a time keeps the migration atomic
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


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
        self._idle = threading.Condition(self._lock)
        self._in_use = 0
        """Statements running now, in any thread: `close` waits for them (see `_use`)."""
        self._closed = False
        self._outbox_bell = threading.Condition()
        self._outbox_rings = 0
        """How many commits added outbox rows in this process: what `wait_for_outbox` waits to change."""
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
    def _use(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, counted as in use until the block ends, so that `close` waits for it.

        Each thread has its own connection, and `close` closes them all: one closed under a statement another
        thread is still running crashes the process (the bot's readers run in worker threads, and a reader can
        outlive the task that started it). After `close`, every use is a clear error instead.
        """
        with self._idle:
            if self._closed:
                raise ClassroomModeError(f"{self.path}: the history store is closed")
            self._in_use += 1
        try:
            yield self._connection()
        finally:
            with self._idle:
                self._in_use -= 1
                self._idle.notify_all()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._local.outbox_written = False
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        if self._local.outbox_written:
            with self._outbox_bell:
                self._outbox_rings += 1
                self._outbox_bell.notify_all()

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
        if version == SCHEMA_VERSION:
            return
        with self._write() as conn:
            if version == 0:
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                if tables:
                    raise UserError(f"{self.path}: an SQLite database, but not a classroom-mode history")
                _execute_script(conn, _SCHEMA)
                version = 1
            while version < SCHEMA_VERSION:
                _execute_script(conn, _MIGRATIONS[version])
                version += 1
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close every thread's connection, once the statements running in other threads have finished."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._in_use == 0)
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
            record = prediction.model_dump_json()
            conn.execute(
                "INSERT INTO predictions (camera_id, at, record) VALUES (?, ?, ?)",
                (prediction.camera_id, _epoch(prediction.at), record),
            )
            self._add_outbox(conn, "reading", prediction.camera_id, prediction.at, record)

    def add_surprise(self, reading: SurpriseReading) -> None:
        """Store a surprise reading; an `unusual` or `anomaly` one is also an event (an alert), and a change of the
        camera's level goes to the outbox."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT record FROM surprise WHERE camera_id = ? ORDER BY id DESC LIMIT 1", (reading.camera_id,)
            ).fetchone()
            previous = SurpriseReading.model_validate_json(row[0]).level if row else "normal"
            record = reading.model_dump_json()
            conn.execute(
                "INSERT INTO surprise (camera_id, at, record) VALUES (?, ?, ?)",
                (reading.camera_id, _epoch(reading.at), record),
            )
            if reading.level != "normal":
                self._add_event(conn, "surprise", None, reading.camera_id, reading.at, record)
            if reading.level != previous:
                self._add_outbox(conn, "surprise", reading.camera_id, reading.at, record)

    def set_state(self, state: ModeState) -> ModeChange | None:
        """Store a room's current state; returns (and logs) the change when its mode differs from the stored one.

        A room going off-hours or paused (or back) is no mode change, but the outputs hear of it: its state goes
        to the outbox, so a device shows `off-hours` rather than a mode nobody is watching.
        """
        with self._write() as conn:
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
                    self._add_outbox(conn, "mode", state.room, state.updated_at, state.model_dump_json())
                return None
            change = ModeChange(
                room=state.room, mode=state.mode, previous=previous, at=state.since, confidence=state.confidence
            )
            self._add_event(conn, "mode", state.room, None, change.at, change.model_dump_json())
            self._add_outbox(conn, "mode", state.room, state.since, state.model_dump_json())
            return change

    def set_camera_status(self, status: CameraStatus) -> bool:
        """Store a camera's status; returns True (and logs a transition) when it went on- or offline, or was paused,
        released for the night, or resumed."""
        with self._write() as conn:
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
                self._add_outbox(conn, "camera", status.camera_id, status.since, record)
            return flipped

    def add_phase(self, change: PhaseChange) -> bool:
        """Store a room's new phase; False (nothing stored) for an event stored already, or a phase that is the one
        in force at its time."""
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM phases WHERE event_id = ?", (change.event_id,)).fetchone():
                return False
            row = conn.execute(
                "SELECT record FROM phases WHERE room = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1",
                (change.room, _epoch(change.at)),
            ).fetchone()
            if row is not None and PhaseChange.model_validate_json(row[0]).phase == change.phase:
                return False
            conn.execute(
                "INSERT INTO phases (room, at, event_id, record) VALUES (?, ?, ?, ?)",
                (change.room, _epoch(change.at), change.event_id, change.model_dump_json()),
            )
            return True

    def _add_outbox(self, conn: sqlite3.Connection, kind: OutputKind, subject: str, at: datetime, record: str) -> None:
        if conn.execute("SELECT 1 FROM outbox_sinks LIMIT 1").fetchone() is None:
            return  # no sink would ever read it
        conn.execute(
            "INSERT INTO outbox (uid, kind, subject, at, record) VALUES (?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, kind, subject, _epoch(at), record),
        )
        self._local.outbox_written = True

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
        with self._write() as conn:
            if paused:
                return (
                    conn.execute(
                        "INSERT INTO pauses (kind, name, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        (kind, name, _epoch(at)),
                    ).rowcount
                    > 0
                )
            return conn.execute("DELETE FROM pauses WHERE kind = ? AND name = ?", (kind, name)).rowcount > 0

    def pauses(self) -> dict[tuple[PauseKind, str], datetime]:
        """Every paused camera and room, as (kind, name) → since when."""
        rows = self._fetch("SELECT kind, name, since FROM pauses ORDER BY kind, name")
        return {(kind, name): _from_epoch(since) for kind, name, since in rows}

    # -- the outbox ----------------------------------------------------------------------------------

    def register_sinks(self, sinks: list[str]) -> None:
        """Make `sinks` the outbox's readers: a new one starts after the newest event (it is not sent the past),
        one no longer named is forgotten with its parked events, so it cannot hold rows back from compaction."""
        with self._write() as conn:
            newest = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
            known = {row[0] for row in conn.execute("SELECT sink FROM outbox_sinks")}
            for sink in known - set(sinks):
                conn.execute("DELETE FROM outbox_sinks WHERE sink = ?", (sink,))
                conn.execute("DELETE FROM outbox_parked WHERE sink = ?", (sink,))
            for sink in set(sinks) - known:
                conn.execute("INSERT INTO outbox_sinks (sink, delivered) VALUES (?, ?)", (sink, newest))

    def outbox_after(self, sink: str, kinds: tuple[OutputKind, ...], limit: int = 500) -> list[OutboxEvent]:
        """The events of `kinds` after `sink`'s cursor, oldest first."""
        marks = ",".join("?" * len(kinds))
        rows = self._fetch(
            f"SELECT id, uid, kind, subject, at, record FROM outbox WHERE id > "
            f"(SELECT delivered FROM outbox_sinks WHERE sink = ?) AND kind IN ({marks}) ORDER BY id LIMIT ?",
            (sink, *kinds, limit),
        )
        return [
            OutboxEvent(i, uid, kind, subject, _from_epoch(at), _OUTBOX_TYPES[kind].model_validate_json(record))
            for i, uid, kind, subject, at, record in rows
        ]

    def outbox_rings(self) -> int:
        """A counter that moves whenever this process commits outbox rows; pass it to `wait_for_outbox`."""
        with self._outbox_bell:
            return self._outbox_rings

    def wait_for_outbox(self, rings: int, timeout_s: float) -> None:
        """Return once this process committed outbox rows after `rings` was read, or after `timeout_s` (another
        process writing the same database rings no bell here: the timeout is how its rows are found)."""
        with self._outbox_bell:
            self._outbox_bell.wait_for(lambda: self._outbox_rings != rings, timeout_s)

    def newest_outbox_id(self) -> int:
        return self._fetch("SELECT coalesce(max(id), 0) FROM outbox")[0][0]

    def mark_delivered(self, sink: str, up_to: int, at: datetime) -> None:
        """Move `sink`'s cursor to `up_to` (never back): it is done with every event up to there."""
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox_sinks SET delivered = max(delivered, ?), delivered_at = ? WHERE sink = ?",
                (up_to, _epoch(at), sink),
            )

    def park(self, sink: str, event: OutboxEvent, error: str, at: datetime) -> None:
        """Keep an event `sink` refused for good (a poison event) with the reason, and move the cursor past it."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO outbox_parked (sink, outbox_id, uid, kind, record, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sink, event.id, event.uid, event.kind, event.record.model_dump_json(), error, _epoch(at)),
            )
            conn.execute("UPDATE outbox_sinks SET delivered = max(delivered, ?) WHERE sink = ?", (event.id, sink))

    def sink_progress(self, sink: str, kinds: tuple[OutputKind, ...]) -> SinkProgress | None:
        """How far `sink` got, with the events of `kinds` still waiting for it; None for a sink never registered."""
        with self._use() as conn:
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
            delivered_at=_from_epoch(row[1]) if row[1] is not None else None,
            pending=pending,
            parked=parked[0],
            last_parked_error=last_error[0] if last_error else None,
        )

    def compact_outbox(self) -> int:
        """Delete the outbox rows every sink is past; returns how many."""
        with self._write() as conn:
            floor = conn.execute("SELECT min(delivered) FROM outbox_sinks").fetchone()[0]
            if floor is None:
                return conn.execute("DELETE FROM outbox").rowcount
            return conn.execute("DELETE FROM outbox WHERE id <= ?", (floor,)).rowcount

    # -- readers -------------------------------------------------------------------------------------

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Every row of one query, read while the connection counts as in use."""
        with self._use() as conn:
            return conn.execute(sql, params).fetchall()

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[str]:
        return [row[0] for row in self._fetch(sql, params)]

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

    def phases(self, room: str, since: datetime | None = None) -> list[PhaseChange]:
        """A room's phases, oldest first: from `since` on, led by the one in force at `since` (a day's first phase
        may have begun the day before)."""
        cutoff = _epoch(since) if since is not None else float("-inf")
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
            params.append(_epoch(since))
        return self._decode_events(self._fetch(sql + " ORDER BY at, id", params))

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Events with an id greater than `after`, in the order they were written (the SSE cursor)."""
        rows = self._fetch("SELECT id, kind, record FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return self._decode_events(rows)

    def last_event_id(self) -> int:
        return self._fetch("SELECT coalesce(max(id), 0) FROM events")[0][0]

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
