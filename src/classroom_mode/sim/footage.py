"""Unlabeled footage the way fixed cameras see the world: many windows of each of many simulated rooms.

A world model pretrained on clips that each show a new random room learns the room: it is the one thing
constant within a clip and different between clips (the "slow feature" a JEPA locks onto). A classroom
camera never moves, so its footage is many windows of one room in which only the people change. This module
renders that: for each room seed, one stream whose timeline visits every mode once in a shuffled order (the
labels are never written), cut into back-to-back windows `roomSEED/vNN-wKKK.mp4`: one folder per camera, so
that pretraining groups a batch's windows by room as it does a user's own `auto-record` footage.

`occupancy_windows` renders held-out windows together with where people are in each frame: the ground truth
of the pretraining run's early indicator ("do the tokens encode people?"), never of its loss.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classroom_mode.errors import UserError
from classroom_mode.sim.clips import check_render_args
from classroom_mode.sim.room_dataset import calibration_timeline
from classroom_mode.sim.scene import MODES
from classroom_mode.sim.stream import Stream
from classroom_mode.video.writer import write_mp4


def parse_seeds(text: str, option: str) -> list[int]:
    """'30000-30003' or '5,7,9-11' → the room seeds, in order; UserError naming `option` for anything else."""
    seeds: list[int] = []
    for chunk in text.split(","):
        low, dash, high = chunk.strip().partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise UserError(f"{option} {text!r}: {chunk.strip()!r} is not a seed or a range like 30000-30003") from None
        if last < first:
            raise UserError(f"{option} {text!r}: the range {chunk.strip()} runs backwards")
        seeds.extend(range(first, last + 1))
    return seeds


def render_room_footage(
    out_dir: Path | str,
    room: int,
    *,
    seconds: float = 120.0,
    window_s: float = 3.0,
    fps: float = 8.0,
    size: tuple[int, int] = (128, 128),
) -> list[Path]:
    """Render one room's stream (every mode once, shuffled) as back-to-back `window_s` clips; their paths."""
    check_render_args(window_s, fps, size)
    timeline = calibration_timeline(MODES, 1, seconds / len(MODES), room)
    stream = Stream(timeline, fps=fps, size=size, seed=room)
    frames_per_window = max(1, round(window_s * fps))
    folder = Path(out_dir) / f"room{room}"
    paths = []
    for index in range(int(stream.num_frames // frames_per_window)):
        visit = stream.segment_at(stream.time)
        frames = np.stack([stream.next_frame() for _ in range(frames_per_window)])
        paths.append(write_mp4(folder / f"v{visit:02d}-w{index:03d}.mp4", frames, fps))
    return paths


def generate_footage(  # noqa: PLR0913 -- keyword-only options, each named at the call
    out_dir: Path | str,
    rooms: Sequence[int],
    *,
    seconds: float = 120.0,
    window_s: float = 3.0,
    fps: float = 8.0,
    size: tuple[int, int] = (128, 128),
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """`render_room_footage` for every room seed, in parallel; a room already rendered is kept as it is."""
    if len(set(rooms)) < 2:
        raise UserError("pretraining footage needs at least two rooms (one room is all a batch would ever see)")
    out = Path(out_dir)
    todo = [room for room in rooms if not (out / f"room{room}").is_dir()]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    settings = {"seconds": seconds, "window_s": window_s, "fps": fps, "size": size}
    done = len(rooms) - len(todo)
    if todo:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(_render_into, [(str(out), room, settings) for room in todo]):
                done += 1
                if progress is not None:
                    progress(done, len(rooms))
    return sorted(p for room in rooms for p in (out / f"room{room}").glob("*.mp4"))


def _render_into(job: tuple[str, int, dict]) -> None:
    out, room, settings = job
    # a room is written into a temporary folder and renamed, so a folder that exists is a complete room
    partial = Path(out) / f".partial-room{room}"
    render_room_footage(partial, room, **settings)
    os.replace(partial / f"room{room}", Path(out) / f"room{room}")
    partial.rmdir()


@dataclass(frozen=True)
class OccupancyWindows:
    """Held-out windows of one room with the truth the early indicator reads (never the training loss)."""

    frames: np.ndarray
    """(W, T, H, W, 3) uint8, exactly the frames the model is fed (no resampling, so masks line up)."""
    people: np.ndarray
    """(W, T, H, W) bool: where a person is visible."""
    modes: list[str]
    visits: list[int]
    """The timeline segment each window was cut from: windows of one visit are near-duplicates."""


def occupancy_windows(
    room: int, *, num_frames: int, window_s: float, visits: int = 2, visit_s: float = 20.0, side: int = 128
) -> OccupancyWindows:
    """Windows of `num_frames` frames evenly spread over `window_s`, from a stream visiting each mode `visits` times."""
    fps = num_frames / window_s
    stream = Stream(calibration_timeline(MODES, visits, visit_s, room), fps=fps, size=(side, side), seed=room)
    frames, people, modes, segments = [], [], [], []
    while stream.frame_index + num_frames <= stream.num_frames:
        segment = stream.segment_at(stream.time)
        mode = stream.truth_at(stream.time)
        drawn = [stream.next_frame_and_mask() for _ in range(num_frames)]
        if stream.truth_at(stream.time - 1e-6) != mode:
            continue  # a window across a change of mode has no single truth
        frames.append(np.stack([f for f, _ in drawn]))
        people.append(np.stack([m for _, m in drawn]))
        modes.append(mode)
        segments.append(segment)
    return OccupancyWindows(np.stack(frames), np.stack(people), modes, segments)
