"""Log lines that are said once: a connection's failure when it starts or changes (and once when it passes), and
each kind of bad input the room sends, however often it sends it."""

from __future__ import annotations

import logging
import threading


class FailureLog:
    """One line when a failure starts or changes, one when it passes: a server down for an hour is two lines."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log, self.what = log, what
        self.error: str | None = None
        self._lock = threading.Lock()

    def failing(self, error: str) -> None:
        with self._lock:
            changed, self.error = error != self.error, error
        if changed:
            self.log.warning("%s: %s", self.what, error)

    def ok(self) -> None:
        with self._lock:
            recovered, self.error = self.error is not None, None
        if recovered:
            self.log.info("%s: working again", self.what)


class OncePerKind:
    """Says one line per kind (`malformed`, `unknown camera`, …) the first time that kind happens, then keeps quiet:
    a flood of bad events costs one line."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.said: set[str] = set()
        self._lock = threading.Lock()

    def say(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        with self._lock:
            if kind in self.said:
                return
            self.said.add(kind)
        self.log.log(level, "%s (said once)", message)
