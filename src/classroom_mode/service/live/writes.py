"""The live loop's writes to the history store, in order, surviving a database that is busy for a while.

Another process can hold SQLite's write lock for longer than the busy timeout (a backup, a `sqlite3` shell
left in a transaction). That is no reason for a camera to stop: each write waits here, in memory and in
order, and is retried on the next write or the supervisor's next tick (about once a second), until the
database takes it again. Anything else a write raises (a damaged file, a disk that went away) means the
loop cannot go on; `failure` then holds the reason and `on_fatal` is called once, so the process stops
with one clear line instead of recording nothing while it looks alive.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_PENDING = 100_000
"""Writes held while the database is busy (hours of readings of a few cameras); the oldest go beyond that."""


def transient(exc: BaseException) -> bool:
    """SQLite's "someone else holds the lock" errors: worth waiting out, unlike a damaged file."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class WriteQueue:
    """Store writes (callables) applied in order; held while the database is busy, fatal errors reported once."""

    def __init__(self, on_fatal: Callable[[str], None]) -> None:
        self._pending: deque[Callable[[], object]] = deque()
        self._lock = threading.Lock()
        self._on_fatal = on_fatal
        self.failure: str | None = None
        self.waiting_since_error: str | None = None
        """The busy error the held writes are waiting out (None when nothing is held)."""

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, write: Callable[[], object]) -> None:
        """Queue `write` behind any held ones and try to apply them all now."""
        with self._lock:
            if self.failure is not None:
                return
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                log.error("history database busy for too long: dropped the oldest held write")
            self._pending.append(write)
        self.flush()

    def flush(self) -> None:
        """Apply held writes in order until one has to wait or none is left."""
        fatal = False
        with self._lock:
            while self._pending and self.failure is None:
                try:
                    self._pending[0]()
                except Exception as exc:
                    if transient(exc):
                        if self.waiting_since_error is None:
                            log.warning("history database busy (%s): holding writes and retrying", exc)
                        self.waiting_since_error = str(exc)
                        return
                    self.failure = f"cannot write the history database: {type(exc).__name__}: {exc}"
                    self._pending.clear()
                    fatal = True
                    break
                self._pending.popleft()
                if self.waiting_since_error is not None and not self._pending:
                    log.warning("history database writable again: every held write is stored")
                    self.waiting_since_error = None
        if fatal:
            self._on_fatal(self.failure or "")
