"""A labelled dataset recorded in ONE simulated room, the way a user records their own room.

`generate_dataset` draws every clip in a new room (for studying what features generalise); a user
instead records 20–50 clips per mode in the room the camera will watch, and the probe is that
room's. This module does the same in the simulator: the room of `seed` (the one a `SimCamera` with
that seed shows) plays a calibration timeline that visits every mode several times in shuffled
order, and non-overlapping clips are cut from each visit only once the room has settled into the
mode (nobody still walking in or out: such a clip would carry the wrong label). Each visit is a
recording session: clips are named `CAMERA__sNN__KKK.mp4`, the convention `evaluate --group-by
session` reads, so cross-validation can keep the near-identical clips of one visit on one side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from classroom_mode.errors import UserError
from classroom_mode.sim.clips import check_render_args
from classroom_mode.sim.manifest import RecordedClip, RecordingParams, RoomRecording, write_manifest
from classroom_mode.sim.scene import MODES, check_modes
from classroom_mode.sim.stream import Stream
from classroom_mode.video.writer import write_mp4

SPARE_ROUNDS = 3
"""Rounds planned per round expected: a change into a crowded mode can take 15 s of people walking in."""


def calibration_timeline(modes: Sequence[str], visits: int, visit_s: float, seed: int) -> list[tuple[str, float]]:
    """`visits` rounds over every mode, each round in a shuffled order with no mode twice in a row."""
    rng = np.random.default_rng([seed, 7])
    segments: list[tuple[str, float]] = []
    for _ in range(visits):
        order = list(rng.permutation(list(modes)))
        if segments and order[0] == segments[-1][0]:
            order.append(order.pop(0))
        segments.extend((str(mode), visit_s) for mode in order)
    return segments


def generate_room_dataset(
    out_dir: Path | str,
    clips_per_mode: int,
    *,
    seed: int,
    seconds: float = 3.0,
    fps: float = 8.0,
    size: tuple[int, int] = (128, 128),
    visit_s: float = 30.0,
    settle_s: float = 4.0,
    modes: Sequence[str] | None = None,
    camera_id: str = "sim-cam",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Record about `clips_per_mode` clips of each mode in the room of `seed`; returns the manifest's path."""
    modes = check_modes(list(modes) if modes is not None else list(MODES))
    if clips_per_mode < 1:
        raise UserError(f"clips-per-mode {clips_per_mode}: must be at least 1")
    check_render_args(seconds, fps, size)
    per_visit = int((visit_s - settle_s) // seconds)
    if per_visit < 1:
        raise UserError(f"visit of {visit_s:g} s: too short for a {seconds:g} s clip after {settle_s:g} s settling")
    # a visit yields fewer clips while people are still walking in or out, so plan spare rounds and stop when done
    planned = calibration_timeline(modes, SPARE_ROUNDS * math.ceil(clips_per_mode / per_visit), visit_s, seed)
    stream = Stream(planned, fps=fps, size=size, seed=seed)
    out = Path(out_dir)
    frames_per_clip = max(1, round(seconds * fps))
    counts = dict.fromkeys(modes, 0)
    clips: list[dict[str, Any]] = []
    visits = 0
    for visit, (mode, _) in enumerate(planned):
        if min(counts.values()) >= clips_per_mode:
            break
        visits, start = visit + 1, stream.time
        cut_from = start + settle_s
        while stream.time < start + visit_s - 1e-9:
            fits = stream.time + seconds <= start + visit_s + 1e-9
            if counts[mode] < clips_per_mode and fits and stream.time + 1e-9 >= cut_from and stream.settled:
                at = stream.time
                frames = np.stack([stream.next_frame() for _ in range(frames_per_clip)])
                name = f"{camera_id}__s{visit:02d}__{counts[mode]:03d}.mp4"
                write_mp4(out / mode / name, frames, fps)
                clips.append({"path": f"{mode}/{name}", "mode": mode, "session": f"s{visit:02d}", "start": at})
                counts[mode] += 1
                cut_from = stream.time
            else:
                stream.next_frame()
        if progress is not None:
            progress(sum(counts.values()), clips_per_mode * len(modes))
    short = [mode for mode, n in counts.items() if n < clips_per_mode]
    if short:
        raise UserError(
            f"visits of {visit_s:g} s: the room rarely settled into {', '.join(short)} long enough for a "
            f"{seconds:g} s clip; use longer visits"
        )
    room = stream.describe()  # what was played, not the spare visits planned after it
    room["timeline"] = room["timeline"][:visits]
    room["duration"], room["frames"] = room["timeline"][-1]["end"], stream.frame_index
    manifest = RoomRecording(
        created=datetime.now(UTC).replace(microsecond=0),
        params=RecordingParams(
            clips_per_mode=clips_per_mode,
            seconds=seconds,
            fps=fps,
            size=size,
            seed=seed,
            visit_s=visit_s,
            settle_s=settle_s,
            settled_only=True,
        ),
        room=room,
        modes=list(modes),
        clips=[RecordedClip.model_validate(clip) for clip in clips],
    )
    return write_manifest(out, manifest)
