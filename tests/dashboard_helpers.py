"""Shared parts of the dashboard tests and benchmark: a real uvicorn server in a thread, a store filled with
known history, a stand-in for the live loop's last clips, and an ASGI wrapper that drops the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI

from classroom_mode.clock import utc_now
from classroom_mode.config import Config, parse_config
from classroom_mode.model.probes import FeatureSet, cross_validate, fit_probe, save_probe
from classroom_mode.model.probes.card import BackboneRecord, CurvePoint, ProbeCard
from classroom_mode.records import CameraStatus, Clip, ModeState, Prediction, SurpriseReading
from classroom_mode.service.api.app import create_app
from classroom_mode.service.api.dashboard import mount_dashboard
from classroom_mode.service.api.dashboard_views import start_of_day
from classroom_mode.sim import render_clip
from classroom_mode.store import HistoryStore
from live_helpers import ServerThread
from probe_helpers import synthetic_embeddings

CONFIG_YAML = """
rooms:
  room-101:
    cameras:
      front: {source: {kind: sim}}
      corner: {source: {kind: sim, seed: 1}}
  room-102:
    cameras:
      door: {source: {kind: sim, seed: 2}}
"""


def two_room_config() -> Config:
    """room-101 (two cameras, full history) and room-102 (one camera, no reading yet)."""
    return parse_config(CONFIG_YAML, "test-config")


def mode_state(
    config: Config, room: str, mode: str, since: datetime, confidence: float = 0.86, offline: tuple[str, ...] = ()
) -> ModeState:
    """The state the live loop would write for `room` settling on `mode`."""
    names = list(config.modes)
    rest = (1.0 - confidence) / (len(names) - 1)
    described = config.modes[mode]
    return ModeState(
        room=room,
        mode=mode,
        display_name=described.display_name,
        emoji=described.emoji,
        ambience=described.ambience,
        confidence=confidence,
        probabilities={m: confidence if m == mode else rest for m in names},
        since=since,
        updated_at=utc_now(),
        cameras=[c for c in config.rooms[room].cameras if c not in offline],
        offline_cameras=list(offline),
    )


FILLED_CHANGES = ((40, "presentation"), (28, "group"), (19, "solo"), (12, "group"))
"""(minutes before now, mode) of room-101's mode changes in `fill_store`."""


def filled_bands_today(now: datetime) -> int:
    """How many bands today's timeline shows for `fill_store`'s room-101: one per change since midnight, plus
    one from midnight for the mode the room entered the day in (shortly after midnight, some changes were
    yesterday's)."""
    starts = [now - timedelta(minutes=minutes_ago) for minutes_ago, _ in FILLED_CHANGES]
    today = sum(start > start_of_day(now) for start in starts)
    return today + (today < len(starts))


def fill_store(store: HistoryStore, config: Config, now: datetime | None = None) -> datetime:
    """room-101: presentation → group → solo → group over the last 40 minutes, camera `front` online with a
    surprise history (one unusual reading) and predictions, `corner` offline; room-102: nothing. Returns now."""
    now = now or utc_now()
    for minutes_ago, mode in FILLED_CHANGES:
        store.set_state(mode_state(config, "room-101", mode, now - timedelta(minutes=minutes_ago), offline=("corner",)))
    store.set_camera_status(
        CameraStatus(camera_id="front", room="room-101", online=True, since=now - timedelta(hours=1), last_frame_at=now)
    )
    store.set_camera_status(
        CameraStatus(
            camera_id="corner",
            room="room-101",
            online=False,
            since=now - timedelta(minutes=5),
            last_error="no frame for 15 s",
        )
    )
    rng = np.random.default_rng(0)
    for i in range(40):
        energy = 1.0 + 0.05 * float(rng.standard_normal()) + (0.6 if i == 31 else 0.0)
        score = (energy - 1.0) / 0.05
        level = "unusual" if score >= config.thresholds.surprise.unusual else "normal"
        at = now - timedelta(seconds=10 * (40 - i))
        store.add_surprise(
            SurpriseReading(camera_id="front", at=at, energy=energy, score=score, level=level, baseline=1.0)
        )
    store.add_prediction(
        Prediction(
            camera_id="front",
            at=now,
            label="group",
            confidence=0.81,
            probabilities={"empty": 0.02, "solo": 0.07, "group": 0.81, "presentation": 0.10},
        )
    )
    return now


@dataclass
class HeldClips:
    """What the live loop holds for the dashboard (`LiveFrames`): each camera's last clip and probe attention."""

    clips: dict[str, Clip] = field(default_factory=dict)
    attention: dict[str, np.ndarray] = field(default_factory=dict)

    def last_clip(self, camera_id: str) -> Clip | None:
        return self.clips.get(camera_id)

    def last_attention(self, camera_id: str) -> np.ndarray | None:
        return self.attention.get(camera_id)


def simulator_clips(cameras: dict[str, str]) -> HeldClips:
    """One short simulator clip per camera (camera → mode) with a smooth attention bump on the front camera."""
    held = HeldClips()
    for seed, (camera_id, mode) in enumerate(cameras.items()):
        frames, _ = render_clip(mode, seed, seconds=1.0, fps=8.0, size=(224, 168))
        held.clips[camera_id] = Clip(
            frames=frames, timestamps=np.arange(len(frames)) / 8.0, camera_id=camera_id, started_at=utc_now()
        )
    rows, cols = np.mgrid[0:12, 0:16]
    held.attention[next(iter(cameras))] = np.exp(-((rows - 7) ** 2 + (cols - 6) ** 2) / 8.0)
    return held


def dashboard_app(config: Config, store: HistoryStore, live: HeldClips | None = None) -> FastAPI:
    """The API app as `serve` builds it, with the dashboard mounted on it."""
    app = create_app(config, store)
    mount_dashboard(app, live=live)
    return app


def trained_probe(path: Path) -> Path:
    """A real probe saved by the probe package, with its cross-validation report and a learning curve."""
    embeddings, labels = synthetic_embeddings(6, seed=3)
    features = FeatureSet.from_embeddings(embeddings)
    probe = fit_probe(features, labels, kind="prototype")
    report = cross_validate(features, labels, kind="prototype", folds=3)
    curve = [
        CurvePoint(clips_per_mode=n, scheme="stratified 2-fold", accuracy=score, macro_f1=score)
        for n, score in ((5, (0.55, 0.08)), (2, (0.4, 0.1)), (6, (0.7, 0.05)))
    ]
    probe.card = ProbeCard(
        backbone=BackboneRecord(model_id="synthetic", fingerprint="test", random_weights=True),
        created=datetime(2026, 3, 2, 9, tzinfo=UTC),
        cv=report,
        learning_curve=curve,
    )
    save_probe(probe, path)
    return path


class StreamDropper:
    """ASGI wrapper that can end every open `/api/events` response at once, as a restarting proxy would.

    The browser sees its stream close cleanly; the app below never learns why (its generator is cancelled).
    """

    def __init__(self, app: Any, path: str = "/api/events") -> None:
        self.app = app
        self.path = path
        self.opened = 0
        self._drops: set[asyncio.Event] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        self._loop = asyncio.get_running_loop()
        self.opened += 1
        drop = asyncio.Event()
        self._drops.add(drop)

        async def guarded_send(message: dict[str, Any]) -> None:
            if not drop.is_set():
                await send(message)

        inner = asyncio.create_task(self.app(scope, receive, guarded_send))
        dropped = asyncio.create_task(drop.wait())
        await asyncio.wait({inner, dropped}, return_when=asyncio.FIRST_COMPLETED)
        self._drops.discard(drop)
        if drop.is_set():
            inner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inner
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            dropped.cancel()
            inner.result()

    def drop_all(self) -> int:
        """End every open stream; returns how many there were."""
        drops = list(self._drops)
        for drop in drops:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(drop.set)
        return len(drops)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` on a real uvicorn server on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    with ServerThread(app) as running:
        yield running.url


def card_mode_latencies(page: Any, store: HistoryStore, config: Config, room: str, modes: list[str]) -> list[float]:
    """Seconds from each `set_state` (a mode change in the store) to the room's card showing the new mode.

    The clock runs in this process around the store write and Playwright's wait for the card's
    `data-mode`, which is checked on every animation frame; so each figure includes one frame (~16 ms)
    and one Playwright round trip of slack, and errs on the slow side.
    """
    card = f'section[data-room="{room}"] .card'
    latencies = []
    for mode in modes:
        started = time.perf_counter()
        store.set_state(mode_state(config, room, mode, utc_now()))
        page.wait_for_selector(f'{card}[data-mode="{mode}"]', timeout=5000)
        latencies.append(time.perf_counter() - started)
    return latencies


def summarise(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "median_s": statistics.median(ordered),
        "p90_s": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))],
        "max_s": ordered[-1],
    }
