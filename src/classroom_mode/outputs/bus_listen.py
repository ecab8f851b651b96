"""Listening to the class's room server: its event stream, kept open across restarts and dropped connections.

The server sends an event aimed at a target (a camera id, `all-cameras`) only to a subscriber of that name, so
there is one subscription per camera of the config and one for `all-cameras`:
`GET {url}/subscribe/events?subscriber_id=NAME`, server-sent events named `classroom_event` whose data is the
event's JSON. Each subscription also gets every event without a target (a phase change): the same event seen on
two of them is acted on once (`RoomRequests` remembers ids).

A dropped or refused connection is retried with the outbox's backoff (doubling, jittered, capped at the
output's `max_backoff_s`), said once when it starts failing and once when it works again. After each reconnect
the server's recent events (`GET {url}/api/events/recent`) are read, so a request sent while the stream was
down is still acted on; the first time, they are only remembered (they were sent before this product listened).
The server sends no keep-alive on this stream: after `IDLE_S` without a byte the subscription reconnects.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
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
        self.connections = 0
        """Streams opened so far (every reconnect counts)."""
        self._caught_up = False
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

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._sockets.values():  # wakes a thread blocked reading a quiet stream
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self._threads = []

    def _run(self, subscriber: str) -> None:
        attempt = 0
        timeout = httpx.Timeout(self.settings.timeout_s, read=IDLE_S)
        while not self._stop.is_set():
            try:
                with httpx.Client(timeout=timeout, headers=self.headers) as client:
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
                with self._lock:
                    self.connections += 1
                self._catch_up(client)
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

    def _catch_up(self, client: httpx.Client) -> None:
        """Read the server's recent events, oldest first: acted on after a reconnect, only remembered the first time."""
        with self._lock:
            act, self._caught_up = self._caught_up, True
        try:
            response = client.get(self.recent_url, params={"limit": RECENT_LIMIT})
            response.raise_for_status()
            events = response.json().get("events", [])
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            self.requests.said.say(
                "no recent events",
                f"the room server's recent events ({self.recent_url}) could not be read ({exc}): requests sent while "
                "the stream was down are missed",
            )
            return
        for event in reversed(events if isinstance(events, list) else []):
            self.requests.handle(event, act=act)
