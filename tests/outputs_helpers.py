"""Real parts for the outputs tests and benchmark: a mosquitto broker on a free loopback port (killable and
restartable with its retained messages), a paho subscriber that records what arrives, and an HTTP receiver for
the webhook sink (FastAPI on uvicorn, via `dashboard_helpers.serve`), and `started`, outputs running for a block."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from fastapi import FastAPI, Request, Response

from classroom_mode.clock import utc_now
from classroom_mode.outputs import Outputs
from classroom_mode.records import ModeState, Prediction
from classroom_mode.service.api.ports import free_port
from live_helpers import wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """`mosquitto` on 127.0.0.1:<port>, persisting retained messages in `folder` across `kill()` / `start()`."""

    def __init__(self, folder: Path, port: int | None = None, *, passwords: dict[str, str] | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port("127.0.0.1")
        self.process: subprocess.Popen[bytes] | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            "user root",  # as root mosquitto would switch to its own user, who cannot read a test's private folder
            "persistence true",
            f"persistence_location {folder}/",
            # save after every change: a broker SIGKILLed right after acknowledging a message keeps it
            "autosave_on_changes true",
            "autosave_interval 1",
            f"allow_anonymous {'false' if passwords else 'true'}",
        ]
        if passwords:
            password_file = folder / "passwords"
            password_file.write_text("".join(f"{user}:{pw}\n" for user, pw in passwords.items()))
            subprocess.run(["mosquitto_passwd", "-U", str(password_file)], check=True, capture_output=True)
            lines.append(f"password_file {password_file}")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> Broker:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def accepting() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        if not wait_for(accepting):
            raise RuntimeError(f"mosquitto did not listen on port {self.port} within 10 s")
        return self

    def kill(self) -> None:
        """SIGKILL: the broker vanishes mid-stream, as a crash or a pulled cable would make it."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@contextlib.contextmanager
def started(outputs: Outputs) -> Iterator[Outputs]:
    """`outputs` running for the block, stopped even when an assertion in it fails, so that no sink's thread
    outlives its test."""
    outputs.start()
    try:
        yield outputs
    finally:
        outputs.stop()


@contextlib.contextmanager
def broker(folder: Path, **kwargs: Any) -> Iterator[Broker]:
    running = Broker(folder, **kwargs).start()
    try:
        yield running
    finally:
        running.kill()


@dataclass
class Subscriber:
    """A paho client subscribed to `topics` that keeps every (topic, payload, retained) it receives."""

    port: int
    topics: list[str]
    received: list[tuple[str, str, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # a persistent session (fixed id, clean_session off, QoS 1): what the broker holds for it while it is
        # reconnecting after a broker restart reaches it, so a test counts what the sink sent, not the race
        # between two clients reconnecting
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-subscriber-{id(self)}", clean_session=False
        )
        self.client.reconnect_delay_set(1, 2)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: [c.subscribe(t, qos=1) for t in self.topics]
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        if not subscribed.wait(10):  # what is published before the broker has the subscription is not for it
            raise RuntimeError("the test subscriber was not subscribed within 10 s")

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.received.append((message.topic, message.payload.decode(), bool(message.retain)))

    def on(self, topic: str) -> list[str]:
        with self.lock:
            return [payload for t, payload, _ in self.received if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class HttpReceiver:
    """What an HTTP sink's receiver got: bodies and headers, in order; `answers` scripts its status codes."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    """Status codes to answer with, first to last, before answering 200 to everything."""
    delay_s: float = 0.0


def webhook_app(receiver: HttpReceiver) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        if receiver.delay_s:
            import asyncio

            await asyncio.sleep(receiver.delay_s)
        if receiver.answers:
            code = receiver.answers.pop(0)
            if code != 200:
                return Response(status_code=code, content=json.dumps({"detail": "scripted failure"}))
        raw = await request.body()
        receiver.raw.append(raw)
        receiver.bodies.append(json.loads(raw))
        receiver.headers.append(dict(request.headers))
        return Response(status_code=200)

    return app


def mode_state(room: str, mode: str, at_s: float = 0.0) -> ModeState:
    at = utc_now() + timedelta(seconds=at_s)
    return ModeState(
        room=room,
        mode=mode,
        display_name=mode.title(),
        emoji="",
        ambience={"solo": "party", "group": "café", "presentation": "full silence"}.get(mode, "off"),
        confidence=0.9,
        probabilities={mode: 0.9},
        since=at,
        updated_at=at,
        cameras=["cam"],
    )


def reading(camera_id: str, label: str, confidence: float = 0.8) -> Prediction:
    return Prediction(
        camera_id=camera_id, at=utc_now(), label=label, confidence=confidence, probabilities={label: confidence}
    )
