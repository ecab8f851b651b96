"""Live room mode against the simulator's ground truth, and the loop's cost outside the encoder.

1. Agreement: a room is simulated (one room, one seed) along a test timeline of mode segments; a
   window is cut every `--interval` s of scene time (a `--clip`-second clip, as the live loop does),
   embedded by `--backbone`, and classified by a probe fitted (`fit_probe`) on windows of a separate
   calibration timeline of the same room — a per-room probe, as the product trains one. The
   predictions are replayed through `RoomModel` under three settings: raw (no smoothing, no
   hysteresis), EMA only, and the defaults (EMA + K consecutive wins / enter probability). Reported:
   the fraction of windows whose room mode equals the truth, mode flips and spurious flips (to a mode
   that is not the truth) per hour, and the delay from each true change to the state showing it.
2. Overhead: the same windows go through the real `LocalEncoder` (backbone + probe + `SurpriseModel`)
   and `LiveLoop.record` (room model, calibration, SQLite writes with fsync); the time inside the
   model's forward passes is the encoder time, everything else per window is overhead.

    .venv/bin/python benchmarks/bench_live.py --backbone config:tiny
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from classroom_mode.config import CameraConfig, Config, RoomConfig, Thresholds
from classroom_mode.model.backbone import load_backbone
from classroom_mode.model.probes import FeatureSet, fit_probe
from classroom_mode.model.surprise import SurpriseModel
from classroom_mode.modes import RoomModel
from classroom_mode.records import Clip, Prediction
from classroom_mode.service.analysis import LocalEncoder
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.sim.scene import MODES
from classroom_mode.sim.stream import Stream
from classroom_mode.store import HistoryStore
from doc_page import machine

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SETTINGS = {
    "raw (no smoothing, no hysteresis)": {"smoothing_alpha": 1.0, "consecutive_windows": 1, "enter_probability": 1.0},
    "EMA only (alpha 0.5)": {"smoothing_alpha": 0.5, "consecutive_windows": 1, "enter_probability": 1.0},
    "EMA and hysteresis (alpha 0.5, K 2, enter 0.8)": {"smoothing_alpha": 0.5, "consecutive_windows": 2,
                                                       "enter_probability": 0.8},
}  # fmt: skip
UNCERTAIN_BELOW = 0.5
"""The probe's threshold for these tables: the shipped defaults, and how they were chosen, are in
docs/benchmarks/room_mode.md."""


@dataclass
class Window:
    clip: Clip
    truth: str
    end: float
    """Scene seconds at the clip's last frame."""


def windows(
    timeline: str, *, every: float, clip_s: float, fps: float, size: int, seed: int
) -> tuple[list[Window], list[float]]:
    """Clips cut every `every` scene seconds (each the last `clip_s` seconds), and the true change times."""
    stream = Stream(timeline, fps=fps, size=(size, size), seed=seed)
    keep = max(2, round(clip_s * fps))
    buffer: deque[np.ndarray] = deque(maxlen=keep)
    out, next_cut = [], clip_s
    for _ in range(stream.num_frames):
        t = stream.time
        buffer.append(stream.next_frame())
        if t + 1e-9 >= next_cut and len(buffer) == keep:
            at = T0 + timedelta(seconds=t)
            clip = Clip(np.stack(buffer), np.arange(keep) / fps, "sim", started_at=at, ended_at=at)
            out.append(Window(clip, stream.truth_at(t), t))
            next_cut += every
    boundaries = zip(stream.bounds[1:], stream.segments, stream.segments[1:], strict=False)
    changes = [float(b) for b, (before, _), (after, _) in boundaries if before != after]
    return out, changes


def test_timeline(minutes: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    parts, total, last = [], 0.0, None
    while total < minutes * 60:
        mode = str(rng.choice([m for m in MODES if m != last]))
        seconds = float(rng.integers(60, 181))
        parts.append(f"{mode}:{seconds:g}")
        total, last = total + seconds, mode
    return ",".join(parts)


def replay(
    predictions: list[Prediction], windows_: list[Window], changes: list[float], settings: dict, window_s: float
) -> dict:
    clock = [T0]
    thresholds = Thresholds(estimator="ema", **settings)
    room = RoomModel("room", {"sim": window_s}, {}, thresholds, clock=lambda: clock[0])
    modes, flips, spurious = [], 0, 0
    for p, w in zip(predictions, windows_, strict=True):
        clock[0] = p.at
        before = room.mode
        state = room.observe(p)
        if state.mode != before:
            flips += 1
            spurious += state.mode != w.truth
        modes.append(state.mode)
    delays = []
    for change in changes:
        after = [(i, w) for i, w in enumerate(windows_) if w.end >= change]
        first = next(((i, w) for i, w in after if modes[i] == w.truth), None)
        if first is not None and first[1].truth == windows_[after[0][0]].truth:
            delays.append((first[0] - after[0][0] + 1, first[1].end - change))
    hours = (windows_[-1].end - windows_[0].end) / 3600
    return {
        "agreement": float(np.mean([m == w.truth for m, w in zip(modes, windows_, strict=True)])),
        "flips_per_hour": flips / hours,
        "spurious_per_hour": spurious / hours,
        "delay_windows": float(np.median([d[0] for d in delays])) if delays else float("nan"),
        "delay_s": float(np.median([d[1] for d in delays])) if delays else float("nan"),
        "changes_seen": f"{len(delays)}/{len(changes)}",
    }


class Timed:
    """Adds up the seconds spent in wrapped callables."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def overhead(backbone, probe, test: list[Window], limit: int) -> dict:
    surprise = SurpriseModel(backbone)
    encoder_time = Timed()
    backbone.encode = encoder_time.wrap(backbone.encode)
    surprise.token_errors = encoder_time.wrap(surprise.token_errors)
    encoder = LocalEncoder(backbone, {"room": probe}, surprise)
    store_time = Timed()
    config = Config(rooms={"room": RoomConfig(cameras={"sim": CameraConfig()})})
    with tempfile.TemporaryDirectory() as tmp, HistoryStore(Path(tmp) / "h.db") as store:
        for name in ("add_prediction", "set_state", "add_surprise"):
            setattr(store, name, store_time.wrap(getattr(store, name)))
        loop = LiveLoop(config, store, encoder)
        loop.record("room", encoder.analyse(test[0].clip, "room"))  # warm-up (first-call allocations)
        encoder_time.seconds = store_time.seconds = 0.0
        start = time.perf_counter()
        for w in test[1 : limit + 1]:
            loop.record("room", encoder.analyse(w.clip, "room"))
        total = time.perf_counter() - start
    n = min(limit, len(test) - 1)
    return {
        "windows": n,
        "window_ms": 1000 * total / n,
        "encoder_ms": 1000 * encoder_time.seconds / n,
        "overhead_ms": 1000 * (total - encoder_time.seconds) / n,
        "store_ms": 1000 * store_time.seconds / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="config:tiny", help="backbone spec (hub id, directory, config:NAME)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the test timeline")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between windows (interval_s)")
    parser.add_argument("--clip", type=float, default=3.0, help="clip length in seconds")
    parser.add_argument("--fps", type=float, default=4.0)
    parser.add_argument("--size", type=int, default=64, help="rendered frame size (px)")
    parser.add_argument("--seed", type=int, default=0, help="the room")
    parser.add_argument("--overhead-windows", type=int, default=40)
    args = parser.parse_args()

    host = machine()
    backbone = load_backbone(args.backbone, device=args.device)
    started = time.perf_counter()
    calibration = ",".join(f"{m}:60" for m in MODES)
    train, _ = windows(calibration, every=2.0, clip_s=args.clip, fps=args.fps, size=args.size, seed=args.seed)
    test, changes = windows(test_timeline(args.minutes, args.seed + 1), every=args.interval, clip_s=args.clip,
                            fps=args.fps, size=args.size, seed=args.seed)  # fmt: skip
    render_s = time.perf_counter() - started

    def embed(ws: list[Window]) -> FeatureSet:
        return FeatureSet.from_embeddings(
            [e for i in range(0, len(ws), 16) for e in backbone.embed([w.clip for w in ws[i : i + 16]])]
        )

    probe = fit_probe(
        embed(train), [w.truth for w in train], classes=list(MODES), kind="linear", uncertain_below=UNCERTAIN_BELOW
    )
    test_features = [backbone.embed([w.clip])[0] for w in test]
    predictions = [
        probe.classify(e, camera_id="sim", at=w.clip.ended_at) for e, w in zip(test_features, test, strict=True)
    ]
    window_acc = np.mean([p.label == w.truth for p, w in zip(predictions, test, strict=True)])

    print(f"### Live room mode vs the simulator's truth ({args.backbone}, linear probe)\n")
    print(f"Test timeline: {len(test)} windows over {test[-1].end / 60:.0f} min, {len(changes)} true mode changes; "
          f"probe fitted on {len(train)} windows of a separate calibration timeline of the same room; "
          f"per-window probe accuracy {window_acc:.3f}.\n")  # fmt: skip
    print("| setting | agreement | flips / h | spurious flips / h | delay to show a change: windows (median) "
          "| delay: s (median) | changes shown |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, settings in SETTINGS.items():
        r = replay(predictions, test, changes, settings, args.interval)
        print(f"| {name} | {r['agreement']:.3f} | {r['flips_per_hour']:.1f} | {r['spurious_per_hour']:.1f} | "
              f"{r['delay_windows']:.0f} | {r['delay_s']:.1f} | {r['changes_seen']} |")  # fmt: skip

    o = overhead(backbone, probe, test, args.overhead_windows)
    print(f"\n### Per-window cost outside the encoder ({backbone.describe()})\n")
    print("| windows | window ms | encoder ms (backbone + surprise forward passes) | overhead ms "
          "| of which SQLite writes ms | overhead / encoder |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {o['windows']} | {o['window_ms']:.1f} | {o['encoder_ms']:.1f} | {o['overhead_ms']:.1f} | "
          f"{o['store_ms']:.1f} | {o['overhead_ms'] / o['encoder_ms']:.1%} |")  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"\nMachine: {host}; rendering took {render_s:.0f} s; code at commit {commit or '?'}.")


if __name__ == "__main__":
    main()
