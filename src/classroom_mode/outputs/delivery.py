"""One sink's delivery worker: from its outbox cursor to the sink, at least once, in order, without storms.

The worker reads the outbox after its cursor, oldest first, and hands each event to its sink:

- delivered: the cursor moves past it (written every `CURSOR_EVERY` events and at the end of each batch, so a
  crash resends at most that many, with the same ids);
- `Retry` (unreachable, a 5xx, a refused login): the same event again after an exponential backoff with jitter,
  capped at the sink's `max_backoff_s`. Nothing after it is sent first, so every room's events stay in order;
- `Rejected` (a 4xx other than auth, a command that failed or hung): parked in the store with its error, and
  the worker goes on. A poison event costs one attempt, not a retry forever.

A sink that fell far behind (down for hours) gets the room's state, not its history: an event older than
`coalesce_after_s` that a newer event of the same kind and subject in the same batch supersedes is skipped.

Each failure is logged once when it starts or changes, and once when the sink recovers.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from classroom_mode.clock import Clock, utc_now
from classroom_mode.config import OutputConfig
from classroom_mode.outputs.events import Delivery
from classroom_mode.outputs.worker_thread import WorkerThread
from classroom_mode.records import SinkStatus
from classroom_mode.store import Outbox, OutboxEvent

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
CURSOR_EVERY = 50
BATCH = 500
IDLE_POLL_S = 1.0
"""How long an idle worker waits for this process's bell before it looks again (rows another process wrote)."""


class Retry(Exception):
    """A failure that may pass (the sink is unreachable, overloaded, or refused the login): try again later."""


class Rejected(Exception):
    """The sink refused this event for good (or the command failed on it): park it, go on."""


class Sink(Protocol):
    """What a worker drives: `open` once, `deliver` per event (raising Retry or Rejected), `close` at the end."""

    def open(self) -> None: ...

    def deliver(self, delivery: Delivery) -> str | None:
        """Send one event; returns a detail line for the status (a command's exit status), or None."""
        ...

    def close(self) -> None: ...


def backoff_s(attempt: int, cap_s: float, rng: random.Random) -> float:
    """The wait before retry number `attempt` (from 0): doubling from `FIRST_BACKOFF_S` up to `cap_s`, with jitter
    so that many clients behind one restarted server do not come back in step."""
    return min(cap_s, FIRST_BACKOFF_S * 2**attempt) * rng.uniform(0.5, 1.0)


def coalesced(events: Sequence[OutboxEvent], now: datetime, after_s: float) -> tuple[list[OutboxEvent], int]:
    """The events still worth sending, and how many were skipped as superseded (see the module docstring)."""
    cutoff = now - timedelta(seconds=after_s)
    seen: set[tuple[str, str]] = set()
    kept: list[OutboxEvent] = []
    for event in reversed(events):
        key = (event.kind, event.subject)
        if key in seen and event.at < cutoff:
            continue
        seen.add(key)
        kept.append(event)
    kept.reverse()
    return kept, len(events) - len(kept)


@dataclass
class _Health:
    retrying_since: datetime | None = None
    last_error: str | None = None
    last_delivery_at: datetime | None = None
    detail: str | None = None
    delivered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SinkWorker:
    """The thread that delivers one sink's events from the store's outbox."""

    def __init__(  # noqa: PLR0913 -- a sink's name, settings, transport, outbox and rooms, then keyword-only test seams
        self,
        name: str,
        settings: OutputConfig,
        sink: Sink,
        outbox: Outbox,
        room_of_camera: dict[str, str],
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.name, self.settings, self.sink, self.outbox = name, settings, sink, outbox
        self.kinds = tuple(settings.events)
        self.room_of_camera = room_of_camera
        self.clock = clock
        self.rng = rng or random.Random()
        self._health = _Health()
        self._thread = WorkerThread(self._run, f"output-{name}")

    # -- control ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._thread.stop(timeout_s)

    def status(self, target: str) -> SinkStatus:
        progress = self.outbox.sink_progress(self.name, self.kinds)
        health = self._health
        running = self._thread.running
        with health.lock:
            return SinkStatus(
                name=self.name,
                kind=self.settings.kind,
                events=list(self.kinds),
                state="stopped" if not running else "retrying" if health.retrying_since else "connected",
                target=target,
                retrying_since=health.retrying_since,
                last_delivery_at=health.last_delivery_at or (progress.delivered_at if progress else None),
                last_error=health.last_error,
                detail=health.detail,
                delivered=health.delivered,
                pending=progress.pending if progress else 0,
                parked=progress.parked if progress else 0,
                last_parked_error=progress.last_parked_error if progress else None,
            )

    # -- the loop -----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.sink.open()
            while not self._thread.stopping.is_set():
                rings = self.outbox.rings()
                batch = self.outbox.pending(self.name, self.kinds, BATCH)
                if not batch:
                    self.outbox.wait(rings, IDLE_POLL_S)
                    continue
                try:
                    self._send(batch)
                except sqlite3.OperationalError as exc:  # another process holds the database: its cursor waits
                    self._failing(f"cannot record progress in the history database ({exc})")
                    self._thread.stopping.wait(IDLE_POLL_S)
        except Exception:  # a bug here must not take the live loop with it; the status says the worker stopped
            log.exception("output %s: the delivery worker failed", self.name)
            self._failing("the delivery worker failed (see the log); it stopped")
        finally:
            self.sink.close()

    def _send(self, batch: list[OutboxEvent]) -> None:
        events, skipped = coalesced(batch, self.clock(), self.settings.coalesce_after_s)
        if skipped:
            log.info("output %s: %d superseded events skipped (the sink was behind)", self.name, skipped)
        done = 0
        unmarked = 0
        for event in events:
            if self._thread.stopping.is_set():
                break
            delivery = Delivery.of(event, self.room_of_camera)
            if delivery is not None and not self._deliver(event, delivery):
                break  # stopping while it retried: the event stays unsent
            done, unmarked = event.id, unmarked + 1
            if unmarked >= CURSOR_EVERY:
                self.outbox.mark_delivered(self.name, done, self.clock())
                unmarked = 0
        else:
            done = batch[-1].id  # the skipped tail of a batch is done too
        if done:
            self.outbox.mark_delivered(self.name, done, self.clock())

    def _deliver(self, event: OutboxEvent, delivery: Delivery) -> bool:
        """Deliver one event until it went through or was parked (True), or the worker is stopping (False)."""
        attempt = 0
        while not self._thread.stopping.is_set():
            try:
                detail = self.sink.deliver(delivery)
            except Rejected as exc:
                self.outbox.park(self.name, event, str(exc), self.clock())
                log.warning("output %s: event %s parked: %s", self.name, event.uid, exc)
                self._answered(parked=str(exc))
                return True
            except Retry as exc:
                self._failing(str(exc))
            except Exception as exc:  # a sink's own bug: retried like an outage, logged with its traceback once
                if self._failing(f"unexpected error: {exc}"):
                    log.exception("output %s: unexpected error", self.name)
            else:
                self._answered(detail=detail)
                return True
            self._thread.stopping.wait(backoff_s(attempt, self.settings.max_backoff_s, self.rng))
            attempt += 1
        return False

    def _failing(self, error: str) -> bool:
        """Record a failure; True (and one log line) when it is new or different from the last one."""
        health = self._health
        with health.lock:
            changed = health.last_error != error or health.retrying_since is None
            health.retrying_since = health.retrying_since or self.clock()
            health.last_error = error
        if changed:
            log.warning("output %s: %s; retrying", self.name, error)
        return changed

    def _answered(self, *, detail: str | None = None, parked: str | None = None) -> None:
        """The sink answered: it took the event (its `detail`), or refused it for good (`parked`, the reason)."""
        health = self._health
        with health.lock:
            if health.retrying_since is not None:
                log.info("output %s: delivering again", self.name)
            health.retrying_since = None
            if parked is None:
                health.last_delivery_at = self.clock()
                health.detail = detail
                health.delivered += 1
            else:
                health.last_error = parked
