"""What a backbone's features are worth task by task, against its random twin: the measurements
beyond the per-room accuracy of `bench_room_probe.py`, on clips recorded the same way (one room, in sessions).

- Label efficiency: the per-room cross-validation with each fold's training side cut to 5 / 10 / 20 / 30
  clips per mode, scored on the same test folds (`probes.evaluate.learning_curve`).
- The two questions inside the four modes, each a two-mode probe cross-validated by session: is anybody
  there (solo vs empty, accuracy), and how are they arranged (group vs presentation, macro-F1). Beside them,
  on the same folds, the perfect person counter (what a detector gives at best) and the downsampled mean frame.
- Other rooms: a probe trained on the clips of every other room and tested on this room's (leave one room
  out). Random features describe pixels, so there they should fall towards chance; a world model that
  encodes people and how they are arranged should not.

    .venv/bin/python benchmarks/bench_room_tasks.py --rooms 10000 10001 10002 10003 10004 10005 10006 10007

Each room is recorded with 50 clips per mode (ten 20 s sessions of five): a 5-fold split grouped by session
trains on 35-45 of them per mode, so 30 is the largest size every fold holds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import cross_val_score

from bench_room_probe import exported, room_clips
from classroom_mode.model.backbone import Backbone, load_backbone, random_twin
from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.probes import cross_validate, fit_probe
from classroom_mode.model.probes.dataset import LabelledFeatures, group_of, load_labelled_features
from classroom_mode.model.probes.evaluate import learning_curve, make_splits
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.records import ProbeKind
from classroom_mode.sim.baselines import count_classifier, mean_frame_classifier, mean_frame_features
from classroom_mode.sim.manifest import previous_recording
from classroom_mode.video.decode import sample_clip
from doc_page import benchmark_page, machine, write_section

PAIRS = (("empty", "solo", "accuracy"), ("group", "presentation", "macro_f1"))
"""The two questions inside the four modes, and the score each is judged by."""
PROBES: tuple[ProbeKind, ...] = ("attentive", "linear")
TASKS = ("curve", "pairs", "rooms")


@dataclass
class Room:
    """One recorded room: its clips' labels, sessions, head counts and mean frames, and each backbone's features."""

    seed: int
    labels: list[str]
    sessions: list[str]
    counts: np.ndarray
    mean_frames: np.ndarray
    features: dict[str, FeatureSet]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="classroom-mode/vjepa2-tiny-sim", help="a backbone or a checkpoint folder")
    parser.add_argument("--rooms", type=int, nargs="+", default=[10000, 10001, 10002, 10003])
    parser.add_argument("--clips-per-mode", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 30], help="training clips per mode")
    parser.add_argument("--visit", type=float, default=20.0, help="seconds per recording session")
    parser.add_argument("--size", type=int, default=128, help="pixels a side of the recorded clips")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="which measurements to run")
    parser.add_argument(
        "--probes", nargs="+", choices=PROBES, default=list(PROBES), help="the attentive probe costs ~20 s a fit"
    )
    parser.add_argument("--work", type=Path, default=Path(".classroom-mode/bench/room-probe"))
    parser.add_argument("--out", type=Path, default=benchmark_page("room_tasks"))
    args = parser.parse_args()
    args.crop_size = None  # what `room_clips` and `exported` read of bench_room_probe's options

    host = machine()
    started = time.perf_counter()
    backbone = load_backbone(exported(args.model, args.work), device="cpu")
    encoders = {"pretrained": backbone, "random twin": random_twin(backbone)}
    with EmbeddingCache(args.work / "cache") as cache:
        rooms = [_room(args, seed, encoders, cache) for seed in args.rooms]
    rows: list[tuple[str, list[float]]] = []
    if "curve" in args.tasks:
        for name in encoders:
            for kind in args.probes:
                rows += _curve_rows(args, rooms, name, kind)
    if "pairs" in args.tasks:
        for first, second, score in PAIRS:
            for name in encoders:
                for kind in args.probes:
                    values = _pair(args, rooms, name, kind, first, second, score)
                    rows.append((f"{first} vs {second}, {score}: {name}, {kind}", values))
            rows += _pair_baselines(args, rooms, first, second, score)
    if "rooms" in args.tasks:
        for name in encoders:
            for kind in args.probes:
                rows.append((f"other rooms (leave one room out): {name}, {kind}", _other_rooms(rooms, name, kind)))
    for label, values in rows:
        print(f"{label}: {np.mean(values):.3f}", flush=True)
    rooms = f"{min(args.rooms)}-{max(args.rooms)}" if len(args.rooms) > 1 else str(args.rooms[0])
    section = f"bench_room_tasks: {' '.join(args.tasks)}, {' '.join(args.probes)}, rooms {rooms}"
    write_section(args.out, section, _markdown(args, backbone, rows, time.perf_counter() - started), host=host)


def _room(args: argparse.Namespace, seed: int, encoders: dict[str, Backbone], cache: EmbeddingCache) -> Room:
    data_dir = room_clips(args, seed)
    manifest = previous_recording(data_dir)
    assert manifest is not None, f"{data_dir}: recorded without a manifest"
    people = {clip.path: clip.num_people for clip in manifest.clips}
    if None in people.values():
        raise SystemExit(f"{data_dir}: recorded before head counts were kept; delete it to record it again")
    features: dict[str, FeatureSet] = {}
    data: LabelledFeatures | None = None
    for name, encoder in encoders.items():
        data = load_labelled_features(data_dir, encoder, cache)
        features[name] = data.features
    assert data is not None
    relative = [path.relative_to(data_dir).as_posix() for path in data.paths]
    return Room(
        seed=seed,
        labels=data.labels,
        sessions=[group_of(path, "session") for path in data.paths],
        counts=np.array([[people[path]] for path in relative], dtype=np.float64),
        mean_frames=np.stack([mean_frame_features(sample_clip(path, 16).frames) for path in data.paths]),
        features=features,
    )


def _curve_rows(
    args: argparse.Namespace, rooms: Sequence[Room], name: str, kind: ProbeKind
) -> list[tuple[str, list[float]]]:
    """One row per training size: the four-mode accuracy in each room."""
    by_size: dict[int, list[float]] = {size: [] for size in args.sizes}
    for room in rooms:
        points, left_out = learning_curve(
            room.features[name], room.labels, args.sizes, kind=kind, folds=args.folds, groups=room.sessions
        )
        if left_out or len(points) != len(args.sizes):
            reason = "; ".join(left_out) or "a fold trains on fewer clips of a mode than the largest size"
            raise SystemExit(f"room {room.seed}: no point for every size in {args.sizes} ({reason})")
        for point in points:
            by_size[point.clips_per_mode].append(point.accuracy[0])
    return [(f"4 modes, {size} training clips per mode: {name}, {kind}", values) for size, values in by_size.items()]


def _pair_index(room: Room, first: str, second: str) -> np.ndarray:
    return np.flatnonzero(np.isin(room.labels, [first, second]))


def _pair(args, rooms: Sequence[Room], name: str, kind: ProbeKind, first: str, second: str, score: str) -> list[float]:
    values = []
    for room in rooms:
        index = _pair_index(room, first, second)
        report = cross_validate(
            room.features[name].subset(index),
            [room.labels[i] for i in index],
            kind=kind,
            folds=args.folds,
            groups=[room.sessions[i] for i in index],
        )
        values.append(getattr(report, score)[0])
    return values


def _pair_baselines(args, rooms: Sequence[Room], first: str, second: str, score: str) -> list[tuple[str, list[float]]]:
    """The perfect person counter and the mean frame on the pair, on the folds `cross_validate` draws (seed 0)."""
    scorer = "accuracy" if score == "accuracy" else "f1_macro"
    counter, frames = [], []
    for room in rooms:
        index = _pair_index(room, first, second)
        y = np.array(room.labels)[index]
        splits, _ = make_splits(np.unique(y, return_inverse=True)[1], [room.sessions[i] for i in index], args.folds, 0)
        counter.append(
            float(cross_val_score(count_classifier(), room.counts[index], y, cv=splits, scoring=scorer).mean())
        )
        frames.append(
            float(
                cross_val_score(mean_frame_classifier(), room.mean_frames[index], y, cv=splits, scoring=scorer).mean()
            )
        )
    return [
        (f"{first} vs {second}, {score}: perfect person counter (baseline)", counter),
        (f"{first} vs {second}, {score}: downsampled mean frame (baseline)", frames),
    ]


def _other_rooms(rooms: Sequence[Room], name: str, kind: ProbeKind) -> list[float]:
    """Four-mode accuracy in each room of a probe fitted on the clips of all the other rooms."""
    scores = []
    for held_out in rooms:
        others = [room for room in rooms if room is not held_out]
        probe = fit_probe(
            _stacked([room.features[name] for room in others]),
            [label for room in others for label in room.labels],
            kind=kind,
            seed=0,
        )
        probabilities = probe.predict_proba(held_out.features[name])
        predicted = np.array(probe.classes)[probabilities.argmax(axis=1)]
        scores.append(float((predicted == np.array(held_out.labels)).mean()))
    return scores


def _stacked(features: Sequence[FeatureSet]) -> FeatureSet:
    tokens = [f.tokens for f in features]
    return FeatureSet(
        np.concatenate([f.pooled for f in features]),
        None if any(t is None for t in tokens) else np.concatenate(tokens),  # type: ignore[arg-type]
        features[0].grid,
    )


def _markdown(args, backbone: Backbone, rows: list[tuple[str, list[float]]], seconds: float) -> str:
    rooms = " | ".join(str(r) for r in args.rooms)
    lines = [
        f"{seconds:.0f} s in all. Backbone: {backbone.describe()}, and the same "
        "architecture with random weights on the same clips.",
        "",
        f"{args.clips_per_mode} clips per mode of {args.size} px recorded in each room in {args.visit:g} s sessions "
        f"(clips cut once the room has settled into its mode); stratified {args.folds}-fold CV grouped by session, "
        "one probe seed. Rows with n training clips cut each fold's training side to n per mode and keep its test "
        "side whole. The pairs are two-mode probes on the same folds as their baselines. Other rooms: a probe "
        "fitted on every other room's clips, scored on this room's (four modes, chance 25 %).",
        "",
        f"| task and features | {rooms} | mean |",
        "|---|" + "---|" * (len(args.rooms) + 1),
    ]
    for label, values in rows:
        lines.append(f"| {label} | {' | '.join(f'{v:.1%}' for v in values)} | {np.mean(values):.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
