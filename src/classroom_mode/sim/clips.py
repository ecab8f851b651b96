"""Labelled clips: one mode, one seed, one short video and its ground truth; and whole datasets of them.

A dataset is the class-folder layout users record into (`DIR/<mode>/<name>.mp4`) plus
`DIR/manifest.json` with every clip's truth. The manifest is written last and atomically, so a run
killed halfway leaves either the previous manifest or none, never a torn one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from classroom_mode.errors import UserError
from classroom_mode.records import Skipped
from classroom_mode.sim.manifest import DatasetClip, DatasetManifest, DatasetParams, write_manifest
from classroom_mode.sim.render import World
from classroom_mode.sim.scene import MODES, Scene, check_modes
from classroom_mode.video.writer import write_mp4

MAX_SIDE = 2048


def check_render_args(seconds: float, fps: float, size: tuple[int, int]) -> None:
    """UserError for sizes, rates and lengths no camera could produce."""
    width, height = size
    if not (32 <= width <= MAX_SIDE and 32 <= height <= MAX_SIDE):
        raise UserError(f"size {width}x{height}: each side must be between 32 and {MAX_SIDE} pixels")
    if not 0 < fps <= 120:
        raise UserError(f"fps {fps}: must be above 0 and at most 120")
    if seconds <= 0 or seconds * fps < 1:
        raise UserError(f"seconds {seconds}: must be positive and give at least one frame at {fps} fps")


def parse_size(text: str) -> tuple[int, int]:
    """'256x192' → (256, 192); UserError otherwise."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 256x256") from None
    return width, height


def clip_seed(seed: int, mode: str, index: int) -> int:
    """The seed of clip `index` of `mode` in a dataset seeded `seed`: independent streams, stable across runs."""
    return int(np.random.SeedSequence(seed, spawn_key=(MODES.index(mode), index)).generate_state(1)[0])


def record_frame(scene: Scene, people: dict[int, dict[str, Any]]) -> None:
    """Append every person's floor position (metres), facing (radians) and sit level (0 … 1) to their track."""
    for actor in scene.visible():
        track = people.setdefault(
            actor.pid,
            {"id": actor.pid, "role": actor.role.name, "group": actor.role.group,
             "height": round(actor.look.height, 3), "x": [], "z": [], "heading": [], "sit": []},
        )  # fmt: skip
        track["x"].append(round(actor.x, 3))
        track["z"].append(round(actor.z, 3))
        track["heading"].append(round(actor.heading, 3))
        track["sit"].append(round(actor.sit, 2))


def render_clip(
    mode: str, seed: int, *, seconds: float = 3.0, fps: float = 16.0, size: tuple[int, int] = (256, 256)
) -> tuple[np.ndarray, dict[str, Any]]:
    """Frames (T, H, W, 3) uint8 RGB of one clip of `mode`, and its ground truth (the clip's manifest entry).

    Everything — room, layout, camera pose, light, people and their motion — follows from `seed`, so the
    same arguments give identical frames.
    """
    check_modes([mode])
    check_render_args(seconds, fps, size)
    rng = np.random.default_rng(seed)
    world = World(rng, size)
    scene = world.scene
    scene.direct(mode, settled=True)
    dt = 1.0 / fps
    for _ in range(int(rng.integers(2, 12))):  # start mid-motion, not from a frozen rest pose
        scene.step(dt)
    num_frames = max(1, round(seconds * fps))
    changes = _room_changes(rng, seconds)
    pending = list(changes)
    people: dict[int, dict[str, Any]] = {}
    frames = np.empty((num_frames, size[1], size[0], 3), dtype=np.uint8)
    for k in range(num_frames):
        while pending and pending[0]["at"] <= k * dt:
            if pending.pop(0)["kind"] == "slide":
                world.screen = world.screen_colors[int(rng.integers(len(world.screen_colors)))]
            else:
                world.door_open = not world.door_open
        record_frame(scene, people)
        frames[k] = world.render()
        scene.step(dt)
    truth = {
        "mode": mode,
        "seed": seed,
        "seconds": seconds,
        "fps": fps,
        "frames": num_frames,
        "size": list(size),
        **world.describe(),
        "num_people": len(people),
        "people": list(people.values()),
        "changes": changes,
    }
    return frames, truth


def _room_changes(rng: np.random.Generator, seconds: float) -> list[dict[str, Any]]:
    """Things that change in any mode, so change alone says nothing: a new slide, the door opening and closing."""
    changes = []
    if rng.random() < 0.25:
        changes.append({"kind": "slide", "at": round(float(rng.uniform(0, seconds)), 3)})
    if rng.random() < 0.2:
        opened = float(rng.uniform(0, seconds))
        changes.append({"kind": "door", "at": round(opened, 3)})
        changes.append({"kind": "door", "at": round(opened + float(rng.uniform(1.0, 3.0)), 3)})
    return sorted(changes, key=lambda c: c["at"])


def _render_job(  # noqa: PLR0913 -- one pool job's fields, flat so they pickle cheaply to a worker
    out_dir: str, mode: str, index: int, seed: int, seconds: float, fps: float, size: tuple[int, int]
):
    frames, truth = render_clip(mode, seed, seconds=seconds, fps=fps, size=size)
    write_mp4(Path(out_dir) / _clip_path(mode, index), frames, fps)
    return {"path": _clip_path(mode, index), "index": index, **truth}


def _clip_path(mode: str, index: int) -> str:
    return f"{mode}/{mode}-{index:04d}.mp4"


_Job = tuple[str, int, int]
"""(mode, index, seed) of one clip of a dataset."""


@dataclass
class _Rendered:
    """The clips rendered so far and those that failed, each reported to `progress` as it finishes, in whatever
    order the workers finish them."""

    total: int
    progress: Callable[[int, int], None] | None
    clips: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def done(self, job: _Job, result: dict[str, Any] | None, error: BaseException | None) -> None:
        if error is not None:
            self.skipped.append(Skipped(path=_clip_path(job[0], job[1]), reason=f"{type(error).__name__}: {error}"))
        else:
            self.clips.append(result)  # type: ignore[arg-type]
        if self.progress is not None:
            self.progress(len(self.clips) + len(self.skipped), self.total)


def generate_dataset(  # noqa: PLR0913 -- keyword-only options, each named at the call
    out_dir: Path | str,
    clips_per_mode: int,
    *,
    seconds: float = 3.0,
    fps: float = 16.0,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    modes: Sequence[str] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render `clips_per_mode` clips of each mode into `out_dir` in parallel; returns the manifest's path.

    A clip that fails is listed under `skipped` in the manifest (with the reason) and the rest go on.
    """
    modes = check_modes(list(modes) if modes is not None else list(MODES))
    if clips_per_mode < 1:
        raise UserError(f"clips-per-mode {clips_per_mode}: must be at least 1")
    check_render_args(seconds, fps, size)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(m, i, clip_seed(seed, m, i)) for m in modes for i in range(clips_per_mode)]
    rendered = _Rendered(len(jobs), progress)
    render = partial(_render_job, str(out), seconds=seconds, fps=fps, size=size)
    _render_all(jobs, render, max(1, min(workers or os.cpu_count() or 1, len(jobs))), rendered)
    rendered.clips.sort(key=lambda c: (modes.index(c["mode"]), c["index"]))
    manifest = DatasetManifest(
        created=datetime.now(UTC).replace(microsecond=0),
        params=DatasetParams(clips_per_mode=clips_per_mode, seconds=seconds, fps=fps, size=size, seed=seed),
        modes=modes,
        clips=[DatasetClip.model_validate(clip) for clip in rendered.clips],
        skipped=rendered.skipped,
    )
    return write_manifest(out, manifest)


def _render_all(jobs: list[_Job], render: Callable[..., dict[str, Any]], workers: int, rendered: _Rendered) -> None:
    """Each job rendered (in this process when there is one worker, else in a process pool), a batch going on
    past a clip that fails."""
    if workers == 1:
        for job in jobs:
            try:
                rendered.done(job, render(*job), None)
            except Exception as exc:  # a batch goes on past one bad clip
                rendered.done(job, None, exc)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(render, *job): job for job in jobs}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                error = future.exception()
                rendered.done(job, None if error else future.result(), error)
