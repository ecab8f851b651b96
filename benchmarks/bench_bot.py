"""How long the bot takes to compose each answer, over the SQLite store and over a running `serve` API.

A history database is filled with a school day (`--hours` of 10 s windows: a probe result and a
surprise reading per camera per window, a mode change every ~15 minutes per room), then every
command's answer is composed `--repeats` times through each `RoomStateClient`, and the notifier's
poll is timed too. Discord wants a slash command acknowledged within 3 s (the bot defers first,
so that is not a limit on the answer), and a prefix reply should feel instant. References in the
same run: one bare `HistoryStore.states()` call (store) and one bare `GET /api/rooms` (API), so each
answer reads as "costs this many plain reads". Prints a markdown table and the machine.

    .venv/bin/python benchmarks/bench_bot.py --hours 8 --repeats 20
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from classroom_mode.bot.answers import Answers
from classroom_mode.bot.client import HttpRoomStateClient, RoomStateClient, StoreRoomStateClient
from classroom_mode.bot.notify import NotificationPolicy, Notifier
from classroom_mode.config import Config, parse_config
from classroom_mode.records import CameraStatus, ModeState, Prediction, SurpriseReading
from classroom_mode.store import HistoryStore
from doc_page import machine
from serve_process import serve_subprocess

ROOMS = {"room-101": ["front", "corner"], "lab": ["bench"], "studio": ["easel"]}
WINDOW_S = 10


def config_text(database: Path) -> str:
    rooms = ", ".join(f"{r}: {{cameras: {{{', '.join(f'{c}: {{}}' for c in cams)}}}}}" for r, cams in ROOMS.items())
    return f"rooms: {{{rooms}}}\npaths: {{database: {database}}}\n"


def seed(store: HistoryStore, config: Config, now: datetime, hours: float) -> int:
    """A day of history; returns the number of rows written."""
    rng = random.Random(0)
    modes = list(config.modes)
    start = now - timedelta(hours=hours)
    rows = 0
    for room, cameras in ROOMS.items():
        mode, since = rng.choice(modes), start
        for step in range(int(hours * 3600 / WINDOW_S)):
            at = start + timedelta(seconds=step * WINDOW_S)
            if rng.random() < WINDOW_S / 900:
                mode, since = rng.choice([m for m in modes if m != mode]), at
            probabilities = {m: (0.7 if m == mode else 0.3 / (len(modes) - 1)) for m in modes}
            for camera in cameras:
                store.add_prediction(
                    Prediction(camera_id=camera, at=at, label=mode, confidence=0.7, probabilities=probabilities)
                )
                score = rng.gauss(0, 1) + (8 if rng.random() < 0.002 else 0)
                level = "anomaly" if score >= 6 else "unusual" if score >= 3 else "normal"
                store.add_surprise(
                    SurpriseReading(camera_id=camera, at=at, energy=0.4, score=score, level=level, baseline=0.4)
                )
                rows += 2
            described = config.modes[mode]
            store.set_state(
                ModeState(room=room, mode=mode, display_name=described.display_name, emoji=described.emoji,
                          ambience=described.ambience, confidence=0.7, probabilities=probabilities, since=since,
                          updated_at=at, cameras=cameras)
            )  # fmt: skip
            rows += 1
        for camera in cameras:
            store.set_camera_status(
                CameraStatus(camera_id=camera, room=room, online=True, since=start, last_frame_at=now)
            )
    return rows


async def timed(call: Callable[[], Awaitable[object]], repeats: int) -> np.ndarray:
    await call()  # warm-up (imports, connections, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000


async def measure(client: RoomStateClient, config: Config, now: datetime, repeats: int) -> dict[str, np.ndarray]:
    answers = Answers(client, config, clock=lambda: now, zone=UTC)
    notifier = Notifier(client, NotificationPolicy(cooldown_s=300, min_dwell_s=60), _Discard(), config.modes)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "classroom-mode (all rooms)": answers.classroom_mode,
        "classroom-mode room-101": lambda: answers.classroom_mode("room-101"),
        "classify (all cameras)": answers.classify,
        "worldmodel front": lambda: answers.worldmodel("front"),
        "surprise-history 100": lambda: answers.surprise_history(100),
        "mode-history 8 (PNG chart)": lambda: answers.mode_history(8),
        "cameras": answers.cameras,
        "notifier poll": notifier.poll_once,
    }
    return {name: await timed(call, repeats) for name, call in calls.items()}


async def bare_get(url: str, repeats: int) -> np.ndarray:
    async with httpx.AsyncClient(base_url=url) as http:
        return await timed(lambda: http.get("/api/rooms"), repeats)


class _Discard:
    async def send(self, embed: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0, help="hours of history in the database")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        database, config_file = Path(tmp) / "history.db", Path(tmp) / "c.yaml"
        config_file.write_text(config_text(database))
        config = parse_config(config_file.read_text())
        store = HistoryStore(database)
        rows = seed(store, config, now, args.hours)
        host = machine(f"Python {platform.python_version()}")
        reference = asyncio.run(timed(lambda: asyncio.to_thread(store.states), args.repeats))
        results = {"store": asyncio.run(measure(StoreRoomStateClient(store), config, now, args.repeats))}
        with serve_subprocess(config_file) as url:
            results["api"] = asyncio.run(measure(HttpRoomStateClient(url), config, now, args.repeats))
            api_reference = asyncio.run(bare_get(url, args.repeats))
    ref, api_ref = float(np.median(reference)), float(np.median(api_reference))
    print(f"### Bot answers: {args.hours:g} h of history ({rows} rows, {len(ROOMS)} rooms, "
          f"{sum(map(len, ROOMS.values()))} cameras), {args.repeats} repeats\n")  # fmt: skip
    print("| answer | store p50 ms | store max ms | × `states()` | API p50 ms | API max ms | × `GET /api/rooms` |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in results["store"]:
        s, a = results["store"][name], results["api"][name]
        print(f"| {name} | {np.median(s):.1f} | {s.max():.1f} | {np.median(s) / ref:.0f} | "
              f"{np.median(a):.1f} | {a.max():.1f} | {np.median(a) / api_ref:.1f} |")  # fmt: skip
    print(f"\nReferences (p50): `HistoryStore.states()` in a worker thread {ref:.2f} ms; "
          f"`GET /api/rooms` on loopback {api_ref:.1f} ms.")  # fmt: skip
    print(f"Machine: {host}; the `serve` process and the bot share these cores; the database is on tmpfs.")


if __name__ == "__main__":
    main()
