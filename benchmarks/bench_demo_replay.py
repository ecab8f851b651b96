"""The demo's own probe readings replayed through the room-mode estimators: what each one keeps of the probe.

`classroom-mode demo --small --json --seed K --out demo-output/small-K` stores every window's reading in its
history database. This reads them back in order, pairs them with the simulator's truth for the same windows
(`bench_room_mode.room_truth`, the demo's timeline and room) and plays them through `RoomModel` under the settings
`bench_room_mode.shipped` names, each labelling the readings with its own `uncertain_below`. It runs on the demo's
rooms themselves, so it checks the tuning; it chooses nothing.

    .venv/bin/python benchmarks/bench_demo_replay.py demo-output/small-{0..9}
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from bench_room_mode import RoomTruth, follow, pooled, print_table, room_truth, shipped
from classroom_mode.modes.scoring import FollowScore
from classroom_mode.records import Prediction
from classroom_mode.sim.demo_room import SMALL, room_seed


def readings(out: Path) -> list[Prediction]:
    """A demo run's readings, oldest first, as from the one camera `bench_room_mode` plays."""
    with sqlite3.connect(out / "history.db") as db:
        rows = db.execute("SELECT record FROM predictions ORDER BY rowid").fetchall()
    return [Prediction.model_validate_json(r[0]).model_copy(update={"camera_id": "sim"}) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="demo --small output folders, named small-K (K: --seed)")
    args = parser.parse_args()
    estimators = shipped()
    every_s = SMALL.scene_interval_s
    runs: dict[str, list[FollowScore]] = {name: [] for name in estimators}
    for out in args.runs:
        room = room_truth(SMALL.timeline, room_seed(int(out.name.rsplit("-", 1)[1])), every_s)
        played = readings(out)
        n = min(len(room.windows), len(played))
        for name, thresholds in estimators.items():
            runs[name].append(follow(RoomTruth(room.windows[:n], room.changes), played[:n], thresholds, every_s))
    print_table({name: pooled(scores) for name, scores in runs.items()}, reader="the probe")


if __name__ == "__main__":
    main()
