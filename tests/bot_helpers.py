"""Shared pieces of the bot tests: a fixed clock, a real history store filled with a known morning,
and a local stand-in for Discord's HTTP endpoints (webhooks, login)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from classroom_mode.config import Config, parse_config
from classroom_mode.records import CameraStatus, ModeState, Prediction, SurpriseReading
from classroom_mode.service.api.ports import free_port
from classroom_mode.store import HistoryStore

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WEBHOOK_PATH = "/api/webhooks/123456789012345678/" + "T" * 68
"""A webhook path of the shape Discord issues: an 18-digit id and a long token."""

CONFIG_YAML = """
rooms:
  room-101:
    cameras:
      front: {source: {kind: sim}, offline_after_s: 30}
      corner: {source: {kind: sim}}
  lab:
    cameras:
      bench: {source: {kind: sim}}
  studio:
    cameras:
      easel: {source: {kind: sim}}
discord:
  cooldown_s: 300
  min_dwell_s: 60
thresholds:
  stale_after_s: 60
"""


def config(**discord: object) -> Config:
    cfg = parse_config(CONFIG_YAML)
    return cfg.model_copy(update={"discord": cfg.discord.model_copy(update=discord)})


def at(minutes: float) -> datetime:
    """A moment `minutes` before NOW."""
    return NOW - timedelta(minutes=minutes)


def state(room: str, mode: str, *, since: datetime, updated: datetime, **extra: object) -> ModeState:
    cfg = config().modes[mode]
    probabilities = {m: (0.85 if m == mode else 0.05) for m in config().modes}
    fields = dict(
        room=room,
        mode=mode,
        display_name=cfg.display_name,
        emoji=cfg.emoji,
        ambience=cfg.ambience,
        confidence=0.85,
        probabilities=probabilities,
        since=since,
        updated_at=updated,
        cameras=["front"] if room == "room-101" else ["bench"],
    )
    return ModeState(**(fields | extra))


def fill_store(path: Path) -> HistoryStore:
    """A morning in two rooms.

    room-101: empty from 07:00, group from 08:30, presentation from 09:40, updated 5 s ago; its
    `corner` camera went offline at 09:50 and `front` is live. lab: group since 08:00, last updated
    at 08:10 (stale). `front` has 20 surprise readings with one anomaly; `bench` has a probe result.
    """
    store = HistoryStore(path)
    for mode, since in (("empty", at(180)), ("group", at(90)), ("presentation", at(20))):
        store.set_state(state("room-101", mode, since=since, updated=since + timedelta(seconds=5)))
    store.set_state(state("room-101", "presentation", since=at(20), updated=NOW - timedelta(seconds=5)))
    store.set_state(state("lab", "group", since=at(120), updated=at(110)))
    store.set_camera_status(
        CameraStatus(camera_id="front", room="room-101", online=True, since=at(180), last_frame_at=NOW)
    )
    store.set_camera_status(
        CameraStatus(camera_id="corner", room="room-101", online=False, since=at(10), last_error="read timeout")
    )
    store.set_camera_status(
        CameraStatus(camera_id="bench", room="lab", online=True, since=at(200), last_frame_at=at(110))
    )
    for i in range(20):
        score = 7.5 if i == 15 else 0.5 + 0.1 * (i % 5)
        level = "anomaly" if score >= 6 else "normal"
        store.add_surprise(
            SurpriseReading(
                camera_id="front", at=at(20 - i), energy=0.4 + score / 100, score=score, level=level, baseline=0.4
            )
        )
    probs = {"empty": 0.02, "solo": 0.03, "group": 0.15, "presentation": 0.80}
    store.add_prediction(
        Prediction(camera_id="front", at=at(0.5), label="presentation", confidence=0.8, probabilities=probs)
    )
    store.add_prediction(
        Prediction(
            camera_id="bench",
            at=at(110),
            label="uncertain",
            confidence=0.4,
            probabilities=probs,
            uncertain_reason="low top probability",
        )
    )
    return store


@dataclass
class FakeDiscord:
    """A local aiohttp server standing in for Discord: records webhook posts, answers logins with 401."""

    posts: list[dict] = field(default_factory=list)
    status: int = 204
    runner: web.AppRunner | None = None
    url: str = ""

    async def _webhook(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        return web.Response(status=self.status)

    async def _login(self, request: web.Request) -> web.Response:
        self.posts.append({"login": request.headers.get("Authorization", "")})
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, self._webhook)
        app.router.add_get("/api/v10/users/@me", self._login)
        self.runner = web.AppRunner(app, access_log=None)  # its access log would name the token; ours must not
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: the room service is down."""
    return f"http://127.0.0.1:{free_port()}"


def embed_text(embed_dict: dict) -> str:
    """Everything a reader sees in an embed, as one string to search."""
    return json.dumps(embed_dict, ensure_ascii=False)


@contextmanager
def fake_discord_in_thread() -> Iterator[FakeDiscord]:
    """The stand-in served from its own thread and loop, for code that runs `asyncio.run` itself (the CLI)."""
    fake = FakeDiscord()
    ready, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        await fake.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.02)
        await fake.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield fake
    finally:
        stop.set()
        thread.join(10)
