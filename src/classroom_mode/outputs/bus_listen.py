"""Listening to the class's room server: its event stream, kept open across restarts and dropped connections.

The server sends an event aimed at a target (a camera id, `all-cameras`) only to a subscriber of that name, so
there is one subscription per camera of the config and one for `all-cameras`:
`GET {url}/subscribe/events?subscriber_id=NAME`, server-sent events named `classroom_event` whose data is the
event's JSON. Each subscription also gets every event without a target (a phase change): the same event seen on
two of them is acted on once (`RoomRequests` remembers ids).

A dropped or refused connection is retried with the outbox's backoff (doubling, jittered, capped at the
output's `max_backoff_s`), said once when it starts failing and once when it works again. After each reconnect
the server's recent events (`GET {url}/api/events/recent`) are read, so a request sent while the stream was
down is still acted on. Before the first stream opens they are read once and only remembered: they were sent
before this product listened (and the server sends a stream's headers only with its first event, so that event
is in the recent ones a catch-up reads as soon as the stream opens).
The server sends no keep-alive on this stream (and its headers only with the first event): after `IDLE_S`
without a byte the subscription reconnects.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse

from classroom_mode.config import BusOutput
from classroom_mode.outputs.delivery import backoff_s
from classroom_mode.outputs.once import FailureLog
from classroom_mode.outputs.room_requests import ALL_CAMERAS, RoomRequests

log = logging.getLogger(__name__)

EVENT_NAME = "classroom_event"
IDLE_S = 120.0
"""A stream silent this long is opened again (a connection that died without closing says nothing)."""
RECENT_LIMIT = 160
"""How many recent events a reconnect reads: all the server keeps."""


class RoomListener:
    """One thread per subscription of one bus output, feeding `RoomRequests`."""

    def __init__(
        self,
        name: str,
        settings: BusOutput,
        requests: RoomRequests,
        subscribers: list[str],
        api_key: str | None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.name, self.settings, self.requests = name, settings, requests
        self.subscribers = [*subscribers, ALL_CAMERAS]
        base = settings.url.rstrip("/")
        self.stream_url = f"{base}/subscribe/events"
        self.recent_url = f"{base}/api/events/recent"
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.rng = rng or random.Random()
        self.trouble = FailureLog(log, f"output {name}: listening to the room")
        self._has_baseline = False
        self._baseline_lock = threading.Lock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: dict[str, socket.socket] = {}

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(name,), name=f"bus-listen-{name}", daemon=True)
            for name in self.subscribers
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop listening. A thread reading a stream is woken by shutting its socket; one still waiting for a
        stream's first bytes (the Node server sends its headers with the first event) is left to end on its own
        (a daemon, it acts on nothing once stopped) rather than hold the loop's stop."""
        self._stop.set()
        with self._lock:
            for sock in self._sockets.values():
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads = []

    def _run(self, subscriber: str) -> None:
        attempt = 0
        timeout = httpx.Timeout(self.settings.timeout_s, read=IDLE_S)
        while not self._stop.is_set():
            try:
                with httpx.Client(timeout=timeout, headers=self.headers) as client:
                    self._baseline(client)
                    if self._listen(client, subscriber):
                        attempt = 0  # it carried events before the server ended it: not a failing server
            except httpx.ReadTimeout:
                continue  # quiet for IDLE_S: open it again at once
            except (httpx.HTTPError, SSEError) as exc:
                if self._stop.is_set():
                    return
                self.trouble.failing(f"{type(exc).__name__}: {exc}")
            except Exception:  # a bug here must not take the live loop with it: said, then retried
                log.exception("output %s: listening to the room failed", self.name)
            # a stream that ended or failed is opened again after the backoff: one ended at once is no hot loop
            self._stop.wait(backoff_s(attempt, self.settings.max_backoff_s, self.rng))
            attempt += 1

    def _listen(self, client: httpx.Client, subscriber: str) -> bool:
        """Read one subscription's stream until it ends; whether it carried any event."""
        carried = False
        with connect_sse(client, "GET", self.stream_url, params={"subscriber_id": subscriber}) as source:
            source.response.raise_for_status()
            self._hold(subscriber, source.response)
            try:
                if self._stop.is_set():
                    return False
                try:
                    self._catch_up(client)
                except httpx.HTTPError as exc:  # the stream itself works: it goes on without the catch-up
                    self.requests.said.say("catch-up failed", f"the room server's recent events: {exc}")
                self.trouble.ok()
                for event in source.iter_sse():
                    if self._stop.is_set():
                        break
                    carried = True
                    if event.event == EVENT_NAME:
                        self.requests.handle_text(event.data)
            finally:
                with self._lock:
                    self._sockets.pop(subscriber, None)
        return carried

    def _hold(self, subscriber: str, response: httpx.Response) -> None:
        """Keep the stream's socket, so that `stop` can wake the thread reading it."""
        stream: Any = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets[subscriber] = sock
                if self._stop.is_set():
                    sock.shutdown(socket.SHUT_RDWR)

    def _baseline(self, client: httpx.Client) -> None:
        """Before the first stream opens, remember the server's recent events without acting: they were sent
        before this product listened. Every later read of them acts on what it has not seen."""
        with self._baseline_lock:
            if not self._has_baseline:
                self._catch_up(client, act=False)
                self._has_baseline = True

    def _catch_up(self, client: httpx.Client, act: bool = True) -> None:
        """Hand the server's recent events to `requests`, oldest first (a reconnect's way to what it missed)."""
        try:
            response = client.get(self.recent_url, params={"limit": RECENT_LIMIT})
            if response.status_code == 404:
                self.requests.said.say(
                    "no recent events",
                    f"the room server has no {self.recent_url}: requests sent while a stream was down are missed",
                )
                return
            response.raise_for_status()
            body = response.json()
        except ValueError:
            body = None
        events = body.get("events") if isinstance(body, dict) else None
        for event in reversed(events if isinstance(events, list) else []):
            self.requests.handle(event, act=act)
