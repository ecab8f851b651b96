"""Shared helpers for the live-mode tests: a settable clock, readings, scripted cameras, small real analyzers,
and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import uvicorn

from classroom_mode.config import ModeConfig
from classroom_mode.records import UNCERTAIN, Clip, Embedding, Prediction, SurpriseReading
from classroom_mode.service.analysis import Analysis
from classroom_mode.service.live.feeds import CameraOffline

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def reading(camera_id: str, at: datetime, probabilities: dict[str, float], uncertain_below: float = 0.5) -> Prediction:
    """A probe reading: the top class, or `uncertain` when its probability is under `uncertain_below`."""
    label = max(probabilities, key=probabilities.__getitem__)
    confidence = probabilities[label]
    return Prediction(
        camera_id=camera_id,
        at=at,
        label=label if confidence >= uncertain_below else UNCERTAIN,
        confidence=confidence,
        probabilities=probabilities,
        uncertain_reason=None if confidence >= uncertain_below else "low top probability",
    )


def one_hot(mode: str, modes: list[str], p: float = 0.9) -> dict[str, float]:
    rest = (1.0 - p) / (len(modes) - 1)
    return {m: (p if m == mode else rest) for m in modes}


# -- the live loop and the API --------------------------------------------------------------------------

BRIGHT, DARK = 220, 30


def flat_clip(camera_id: str, value: int, at: datetime, frames: int = 16, size: int = 64, seed: int = 0) -> Clip:
    """A clip of one grey level (plus a little noise): the test scenes' stand-in for a room."""
    rng = np.random.default_rng(seed)
    images = np.clip(value + rng.normal(0, 4, (frames, size, size, 3)), 0, 255).astype(np.uint8)
    return Clip(images, np.arange(frames) / 8.0, camera_id, started_at=at, ended_at=at)


class ScriptedFeed:
    """A camera that plays a list of grey levels, one per clip, then goes offline (`None` = offline now)."""

    def __init__(self, camera_id: str, levels: list[int | None], clock=None) -> None:
        self.camera_id = camera_id
        self.levels = list(levels)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.closed = False
        self.last: Clip | None = None

    def next_clip(self) -> Clip:
        level = self.levels.pop(0) if self.levels else None
        if level is None:
            raise CameraOffline(f"camera {self.camera_id}: no frame")
        self.last = flat_clip(self.camera_id, level, self.clock(), seed=len(self.levels))
        return self.last

    def recent_clip(self) -> Clip | None:
        return self.last

    def close(self) -> None:
        self.closed = True


BRIGHTNESS_MODES = {
    "lab": ModeConfig(display_name="Lab", emoji="🧪", ambience="lo-fi"),
    "exam": ModeConfig(display_name="Exam", emoji="📝", ambience="silence"),
}
"""The modes a `BrightnessAnalyzer` reads by default, for a config the live tests run it under."""


class BrightnessAnalyzer:
    """A real (if simple) analyzer: bright clips are one mode, dark ones another, grey ones `uncertain`."""

    def __init__(self, bright: str = "lab", dark: str = "exam", energy: bool = True) -> None:
        self.bright, self.dark, self.energy = bright, dark, energy
        self.calls = 0

    def analyse(self, clip: Clip, room: str) -> Analysis:
        self.calls += 1
        p_bright = float(np.clip(clip.frames.mean() / 255.0, 0.0, 1.0))
        probabilities = {self.bright: p_bright, self.dark: 1.0 - p_bright}
        return Analysis(
            reading(clip.camera_id, clip.ended_at or datetime.now(UTC), probabilities),
            float(np.abs(np.diff(clip.frames.astype(np.float32), axis=0)).mean()) if self.energy else None,
        )


class ZScoreCalibrator:
    """Test stand-in for the surprise calibrator: z-score against the camera's readings so far."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}

    def update(self, camera_id: str, energy: float, at: datetime) -> SurpriseReading:
        past = self.history.setdefault(camera_id, [])
        score = (energy - float(np.mean(past))) / (float(np.std(past)) + 1e-6) if len(past) >= 3 else 0.0
        past.append(energy)
        level = "anomaly" if score > 6 else "unusual" if score > 3 else "normal"
        return SurpriseReading(camera_id=camera_id, at=at, energy=energy, score=score, level=level)


class CentroidProbe:
    """A real nearest-centroid probe over pooled backbone embeddings (what the tests' server classifies with)."""

    reference = None
    """It reads plain clips: no room is erased from them."""

    def __init__(self, centroids: dict[str, np.ndarray], temperature: float = 0.05) -> None:
        self.names = list(centroids)
        self.centroids = np.stack([centroids[n] for n in self.names])
        self.temperature = temperature

    def classify(self, embedding: Embedding, *, camera_id: str, at: datetime) -> Prediction:
        a = embedding.pooled / np.linalg.norm(embedding.pooled)
        b = self.centroids / np.linalg.norm(self.centroids, axis=1, keepdims=True)
        logits = (b @ a) / self.temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return reading(camera_id, at, {n: float(x) for n, x in zip(self.names, p, strict=True)})

    def attention_map(self, embedding: Embedding) -> None:
        """A centroid probe looks at the pooled vector only: there is no attention to show."""
        return None


class ServerThread:
    """A real uvicorn server for `app` on a free 127.0.0.1 port, in a thread."""

    def __init__(self, app, port: int = 0) -> None:
        """`port` 0: a free one; another: that one again (a server restarted where its clients know it)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        # a held-open event stream must not hold the test's shutdown for long
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1, ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
