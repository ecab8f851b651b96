"""The one SQLite file the history and the outbox share: its connections, its write transactions, its schema.

WAL mode with `synchronous=FULL`: a committed row is on disk before the call returns, so a
process killed with SIGKILL mid-write (or a power cut) leaves a readable database holding every
committed row; SQLite rolls back the half-written transaction on the next open. Each thread gets
its own connection (the live loop's workers, the API's worker threads and the SSE poller read and
write concurrently), and read-modify-write updates take the write lock up front (`BEGIN IMMEDIATE`)
so two writers never deadlock upgrading a read lock.

The history and the outbox write through the same `write` transaction, so an outbox event and the change it
reports commit (or roll back) together. The schema version lives in `PRAGMA user_version`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classroom_mode.clock import as_utc
from classroom_mode.errors import ClassroomModeError, UserError

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


def epoch(at: datetime) -> float:
    """How a time is stored: seconds since the epoch, so rows compare and sort by time."""
    return as_utc(at).timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript would COMMIT the open transaction; one statement at a time keeps the migration atomic
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


class Database:
    """The history database, opened (and migrated to `SCHEMA_VERSION`) once per process."""

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
        """Statements running now, in any thread: `close` waits for them (see `use`)."""
        self._closed = False
        self._migrate()

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
    def use(self) -> Iterator[sqlite3.Connection]:
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
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the write lock from its start: it commits when the block ends and rolls
        back when the block raises. What `after_commit` was given in the block runs once it committed."""
        with self.use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._local.after_commit = []
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        for callback in self._local.after_commit:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` (once, however often it is given) when the transaction this thread has open in `write`
        commits; never when it rolls back."""
        if callback not in self._local.after_commit:
            self._local.after_commit.append(callback)

    def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Every row of one query, read while the connection counts as in use."""
        with self.use() as conn:
            return conn.execute(sql, params).fetchall()

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
        with self.write() as conn:
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
