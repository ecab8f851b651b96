"""The score a never-wrong probe would get in the demo's live part: the ceiling its agreement sits under.

The demo scores the room mode after each window against the simulator's truth. Even a perfect reading
of every clip loses windows: people take seconds to walk in or out, so a clip cut just after a change
still shows the old mode, and the room model's hysteresis holds the old mode until the new one has won
enough windows in a row. This plays the demo's rooms and timelines (the simulator alone, no model), cuts a
window every `scene_interval_s` of scene time — where the demo's lockstep camera ends its windows, so these
are the demo's own — and replays two oracles through `RoomModel` with the demo's thresholds (the defaults):

- *truth*: every window reads as the mode the timeline is in when its clip ends;
- *what the clip shows*: the mode, when the room was settled into it through the whole clip; otherwise
  the previous reading (a clip of people still walking in could honestly read either way).

    .venv/bin/python benchmarks/bench_demo_ceiling.py --seeds 0 1 2 --small
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import numpy as np

from classroom_mode.config import Thresholds
from classroom_mode.modes import RoomModel
from classroom_mode.records import Prediction
from classroom_mode.sim.demo_room import CLIP_FPS, CLIP_SECONDS, FULL, SMALL, room_seed
from classroom_mode.sim.scene import MODES
from classroom_mode.sim.stream import Stream

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def clip_readings(timeline: str, seed: int, every_s: float) -> list[tuple[float, str, bool]]:
    """(clip end, true mode then, whether the room was settled through the whole clip) for each window."""
    stream = Stream(timeline, fps=CLIP_FPS, size=(32, 32), seed=seed)  # nothing is drawn: the truth alone
    readings, settled_since = [], 0.0
    for end in np.arange(every_s, stream.duration + 1e-9, every_s):
        while stream.time < end - 1e-9:
            stream.skip_frame()
            if not stream.settled:
                settled_since = stream.time
        readings.append((float(end), stream.truth_at(end - 1e-6), end - settled_since >= CLIP_SECONDS - 1e-9))
    return readings


def oracle_agreement(readings: list[tuple[float, str, bool]], every_s: float, *, shows_only_settled: bool) -> float:
    clock = [T0]
    room = RoomModel("room", {"sim": every_s}, {}, Thresholds(), clock=lambda: clock[0])
    hits, reading = [], None
    for end, truth, settled in readings:
        if settled or not shows_only_settled:
            reading = truth
        clock[0] = T0 + timedelta(seconds=end)
        if reading is not None:
            room.observe(
                Prediction(camera_id="sim", at=clock[0], label=reading, confidence=1.0,
                           probabilities={m: float(m == reading) for m in MODES})
            )  # fmt: skip
        hits.append(room.mode == truth)
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)), help="demo seeds (--seed K)")
    parser.add_argument("--small", action="store_true", help="the timeline of `demo --small`")
    args = parser.parse_args()
    preset = SMALL if args.small else FULL
    print(f"timeline {preset.timeline}, a window every {preset.scene_interval_s:g} s of scene time\n")
    print("| seed | windows | settled windows | oracle: truth | oracle: what the clip shows |")
    print("|---:|---:|---:|---:|---:|")
    rows = []
    for seed in args.seeds:
        readings = clip_readings(preset.timeline, room_seed(seed), preset.scene_interval_s)
        row = tuple(
            oracle_agreement(readings, preset.scene_interval_s, shows_only_settled=only) for only in (False, True)
        )
        rows.append(row)
        settled = sum(r[2] for r in readings)
        print(f"| {seed} | {len(readings)} | {settled} | {row[0]:.2f} | {row[1]:.2f} |")
    truth, shows = np.mean(rows, axis=0)
    print(f"| mean | | | {truth:.2f} | {shows:.2f} |")


if __name__ == "__main__":
    main()
