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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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


@dataclass(frozen=True)
class SettledClip:
    """One clip cut from a visit once the room had settled into its mode."""

    mode: str
    index: int
    """Its number among the clips of its mode."""
    visit: int
    """The visit (recording session) it was cut from."""
    start: float
    """Scene time of its first frame."""
    frames: np.ndarray
    """(T, H, W, 3) uint8."""
    people: np.ndarray | None
    """(T, H, W) bool where a person is visible, when the recording was asked for it (else None)."""
    num_people: int
    """People in the room: what a perfect person counter reads."""

    @property
    def session(self) -> str:
        """The recording session's id, as clip names and the manifest spell it (`s03`)."""
        return f"s{self.visit:02d}"


class SettledClips:
    """The clips a user records in the room of `seed`: the calibration timeline played, clips cut per visit.

    Iterating plays the room once; afterwards `visits` and `short` say what it took and what it lacked. The
    dataset writer and the per-room benchmark's ground-truth ceiling both read the same loop, so the person
    masks of the ceiling belong to exactly the clips the probes see.
    """

    def __init__(  # noqa: PLR0913 -- keyword-only options, each named at the call
        self,
        clips_per_mode: int,
        *,
        seed: int,
        seconds: float = 3.0,
        fps: float = 8.0,
        size: tuple[int, int] = (128, 128),
        visit_s: float = 30.0,
        settle_s: float = 4.0,
        modes: Sequence[str] | None = None,
        with_people: bool = False,
    ) -> None:
        self.modes = check_modes(list(modes) if modes is not None else list(MODES))
        if clips_per_mode < 1:
            raise UserError(f"clips-per-mode {clips_per_mode}: must be at least 1")
        check_render_args(seconds, fps, size)
        per_visit = int((visit_s - settle_s) // seconds)
        if per_visit < 1:
            raise UserError(f"visit of {visit_s:g} s: too short for a {seconds:g} s clip after {settle_s:g} s settling")
        self.params = RecordingParams(
            clips_per_mode=clips_per_mode, seconds=seconds, fps=fps, size=size, seed=seed, visit_s=visit_s,
            settle_s=settle_s, settled_only=True,
        )  # fmt: skip
        """What the manifest records of how the room was visited."""
        self.with_people = with_people
        # a visit yields fewer clips while people are still walking in or out, so plan spare rounds and stop when done
        self.planned = calibration_timeline(
            self.modes, SPARE_ROUNDS * math.ceil(clips_per_mode / per_visit), visit_s, seed
        )
        self.stream = Stream(self.planned, fps=fps, size=size, seed=seed)
        self.frames_per_clip = max(1, round(seconds * fps))
        self.counts = dict.fromkeys(self.modes, 0)
        self.visits = 0

    def __iter__(self) -> Iterator[SettledClip]:
        stream, params = self.stream, self.params
        for visit, (mode, _) in enumerate(self.planned):
            if min(self.counts.values()) >= params.clips_per_mode:
                return
            self.visits, start = visit + 1, stream.time
            cut_from = start + params.settle_s
            while stream.time < start + params.visit_s - 1e-9:
                fits = stream.time + params.seconds <= start + params.visit_s + 1e-9
                wanted = self.counts[mode] < params.clips_per_mode
                if wanted and fits and stream.time + 1e-9 >= cut_from and stream.settled:
                    yield self._cut(mode, visit)
                    self.counts[mode] += 1
                    cut_from = stream.time
                else:
                    stream.next_frame()

    def _cut(self, mode: str, visit: int) -> SettledClip:
        stream, at = self.stream, self.stream.time
        people = len(stream.world.scene.visible())
        if self.with_people:
            drawn = [stream.next_frame_and_mask() for _ in range(self.frames_per_clip)]
            frames, masks = np.stack([f for f, _ in drawn]), np.stack([m for _, m in drawn])
        else:
            frames, masks = np.stack([stream.next_frame() for _ in range(self.frames_per_clip)]), None
        return SettledClip(mode, self.counts[mode], visit, at, frames, masks, people)

    @property
    def short(self) -> list[str]:
        """The modes that got fewer clips than asked for."""
        return [mode for mode, n in self.counts.items() if n < self.params.clips_per_mode]


def generate_room_dataset(
    out_dir: Path | str,
    recording: SettledClips,
    *,
    camera_id: str = "sim-cam",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the clips of `recording` (a room not yet played) as MP4s under their modes; returns the manifest's path."""
    params, out = recording.params, Path(out_dir)
    clips: list[RecordedClip] = []
    for clip in recording:
        name = f"{camera_id}__{clip.session}__{clip.index:03d}.mp4"
        write_mp4(out / clip.mode / name, clip.frames, params.fps)
        clips.append(
            RecordedClip(
                path=f"{clip.mode}/{name}",
                mode=clip.mode,
                session=clip.session,
                start=clip.start,
                num_people=clip.num_people,
            )
        )
        if progress is not None:
            progress(len(clips), params.clips_per_mode * len(recording.modes))
    if recording.short:
        raise UserError(
            f"visits of {params.visit_s:g} s: the room rarely settled into {', '.join(recording.short)} long enough "
            f"for a {params.seconds:g} s clip; use longer visits"
        )
    room = recording.stream.describe()  # what was played, not the spare visits planned after it
    room["timeline"] = room["timeline"][: recording.visits]
    room["duration"], room["frames"] = room["timeline"][-1]["end"], recording.stream.frame_index
    manifest = RoomRecording(
        created=datetime.now(UTC).replace(microsecond=0),
        params=params,
        room=room,
        modes=list(recording.modes),
        clips=clips,
    )
    return write_manifest(out, manifest)
