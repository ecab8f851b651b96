"""Long videos whose room mode changes over time, with injected unusual events, and their ground truth.

A timeline is `mode:seconds,...`. One room, camera and cast persist for the whole stream; at each
boundary the ground truth switches and the new mode's director takes over, so people visibly get up,
walk in or out and rearrange over the next few seconds. Events (someone falls, someone runs through,
a chair topples, the lights go out) are scheduled from the seed and listed with their time spans, so a
surprise score can be evaluated against them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from classroom_mode.errors import UserError
from classroom_mode.files import write_json
from classroom_mode.sim.clips import check_render_args
from classroom_mode.sim.render import World
from classroom_mode.sim.scene import Role, check_modes
from classroom_mode.video.writer import Mp4Writer

EVENT_KINDS = ("fall", "run", "chair", "lights")
_Drawn = TypeVar("_Drawn")
Timeline = str | Sequence[tuple[str, float]]
EventRequest = str | tuple[str, float]
"""An event kind to schedule from the seed, or (kind, start second) to place it exactly."""


def parse_timeline(timeline: Timeline) -> list[tuple[str, float]]:
    """'presentation:120,group:300' (or the same as pairs) → [('presentation', 120.0), ('group', 300.0)].

    UserError for anything else: empty, a missing colon, an unknown mode, a non-positive duration.
    """
    if isinstance(timeline, str):
        pairs: list[tuple[str, Any]] = []
        for chunk in timeline.split(","):
            mode, sep, seconds = chunk.strip().partition(":")
            if not sep:
                raise UserError(f"timeline {timeline!r}: {chunk.strip()!r} is not mode:seconds")
            pairs.append((mode.strip(), seconds.strip()))
    else:
        pairs = list(timeline)
    if not pairs:
        raise UserError("timeline: needs at least one mode:seconds")
    out = []
    for mode, seconds in pairs:
        try:
            value = float(seconds)
        except (TypeError, ValueError):
            raise UserError(f"timeline: {mode}:{seconds} has no number of seconds") from None
        if not (value > 0 and math.isfinite(value)):
            raise UserError(f"timeline: {mode}:{seconds} must last a positive number of seconds")
        check_modes([mode])
        out.append((mode, value))
    return out


def parse_events(text: str) -> list[str]:
    """'fall,lights' → ['fall', 'lights']; UserError naming an unknown kind."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    for kind in kinds:
        if kind not in EVENT_KINDS:
            raise UserError(f"event {kind!r}: known events are {', '.join(EVENT_KINDS)}")
    return kinds


@dataclass
class Event:
    kind: str
    start: float
    end: float
    fired: bool = False
    target: int = -1
    """The chair item (chair) or person id (fall, run) it happened to."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": round(self.start, 3), "end": round(self.end, 3), "target": self.target}


class Stream:
    """A timeline rendered frame by frame, in order; the shared engine of `render_stream` and `SimCamera`."""

    def __init__(
        self,
        timeline: Timeline,
        *,
        fps: float = 16.0,
        size: tuple[int, int] = (256, 256),
        seed: int = 0,
        events: Sequence[EventRequest] = (),
        loop: bool = False,
    ) -> None:
        self.segments = parse_timeline(timeline)
        check_render_args(sum(s for _, s in self.segments), fps, size)
        self.fps, self.size, self.seed, self.loop = fps, size, seed, loop
        self.bounds = np.cumsum([0.0] + [s for _, s in self.segments])
        self.duration = float(self.bounds[-1])
        self.num_frames = max(1, round(self.duration * fps))
        self.world = World(np.random.default_rng(seed), size)
        self.events = self._schedule(events, np.random.default_rng([seed, 1]))
        self.world.scene.direct(self.segments[0][0], settled=True)
        self.frame_index = 0
        self._event_rng = np.random.default_rng([seed, 2])

    def segment_at(self, t: float) -> int:
        """Which timeline segment (visit) scene time `t` falls in."""
        if self.loop:
            t = t % self.duration
        return min(int(np.searchsorted(self.bounds, t, side="right")) - 1, len(self.segments) - 1)

    def truth_at(self, t: float) -> str:
        """The ground-truth mode at scene time `t` (seconds); it switches exactly at the timeline's boundaries."""
        return self.segments[self.segment_at(t)][0]

    def events_at(self, t: float) -> list[str]:
        """The kinds of injected events in progress at scene time `t`."""
        t = t % self.duration if self.loop else t
        return [e.kind for e in self.events if e.start <= t < e.end]

    def _schedule(self, requests: Sequence[EventRequest], rng: np.random.Generator) -> list[Event]:
        events = []
        for request in requests:
            kind, start = (request, None) if isinstance(request, str) else (request[0], float(request[1]))
            if kind not in EVENT_KINDS:
                raise UserError(f"event {kind!r}: known events are {', '.join(EVENT_KINDS)}")
            if start is None:
                eligible = [i for i, (m, s) in enumerate(self.segments) if s > 8 and (kind != "fall" or m != "empty")]
                if not eligible:
                    raise UserError(f"event {kind!r}: no segment longer than 8 s{' with people' * (kind == 'fall')}")
                i = int(rng.choice(eligible))
                start = float(rng.uniform(self.bounds[i] + 3, self.bounds[i + 1] - 5))
            if not 0 <= start < self.duration:
                raise UserError(f"event {kind}@{start}: outside the timeline (0 … {self.duration:g} s)")
            length = {"fall": rng.uniform(4, 7), "run": 3.5, "chair": 1.5, "lights": rng.uniform(3, 6)}[kind]
            events.append(Event(kind, start, min(self.duration, start + float(length))))
        return sorted(events, key=lambda e: e.start)

    @property
    def time(self) -> float:
        """Scene time of the next frame."""
        return self.frame_index / self.fps

    @property
    def settled(self) -> bool:
        """Whether the room has finished changing into the current mode (see `Scene.settled`)."""
        return self.world.scene.settled

    def next_frame(self) -> np.ndarray:
        """Render the next frame (scene time `self.time`) and advance; (H, W, 3) uint8 RGB."""
        return self._advance(self.world.render)

    def skip_frame(self) -> None:
        """Advance a frame without drawing it: the scene, `settled` and the events move on exactly as if it had
        been drawn (drawing takes nothing from the scene's random numbers), at a hundredth of the cost, for
        whoever needs only the truth."""
        self._advance(lambda: None)

    def next_frame_and_mask(self) -> tuple[np.ndarray, np.ndarray]:
        """As `next_frame`, with the (H, W) bool mask of where a person is visible in it."""
        return self._advance(self.world.render_with_mask)

    def _advance(self, render: Callable[[], _Drawn]) -> _Drawn:
        t = self.time
        scene = self.world.scene
        if self.loop and self.frame_index and self.segment_at(t) < self.segment_at(t - 1.0 / self.fps):
            for event in self.events:  # a new pass of a looping timeline replays its events
                event.fired = False
        mode = self.truth_at(t)
        if mode != scene.mode:
            scene.direct(mode, settled=False)
            for item in self.world.room.items:  # a toppled chair is picked up during the change
                item.tilt = 0.0
        self._apply_events(t % self.duration if self.loop else t)
        drawn = render()
        scene.step(1.0 / self.fps)
        self.frame_index += 1
        return drawn

    def _apply_events(self, t: float) -> None:
        world, scene, rng = self.world, self.world.scene, self._event_rng
        world.lights_out = 0.0
        for event in self.events:
            if event.kind == "lights" and event.start <= t < event.end:
                world.lights_out = min(1.0, (t - event.start) / 0.3, (event.end - t) / 0.3)
            if event.kind == "chair" and event.fired and self.segment_at(t) == self.segment_at(event.start):
                world.room.items[event.target].tilt = min(1.0, (t - event.start) / 0.6) * math.pi / 2
            if event.fired or not event.start <= t < event.end:
                continue
            event.fired = True
            if event.kind == "chair":
                chairs = [i for i, it in enumerate(world.room.items) if it.kind == "chair"]
                event.target = int(rng.choice(chairs))
                a = float(rng.uniform(0, 2 * math.pi))
                world.room.items[event.target].tilt_axis = np.array([math.cos(a), 0.0, math.sin(a)])
            elif event.kind == "fall":
                people = [a for a in scene.visible() if not a.leaving]
                people = [a for a in people if a.sit < 0.5] or people  # someone standing, if anyone is
                if people:
                    actor = people[int(rng.integers(len(people)))]
                    actor.sit, actor.falling_until, event.target = 0.0, event.end - 1.5, actor.pid
            elif event.kind == "run":
                door_x, door_z = world.room.door
                far_x = world.room.width - 0.4 if door_x < world.room.width / 2 else 0.4
                far_z = float(rng.uniform(1.0, world.room.depth - 1.0))
                speed = math.hypot(far_x - door_x, far_z - door_z) / (event.end - event.start - 0.4)
                runner = scene.new_actor(Role("runner", far_x, far_z, 0.0, speed=speed, gesture=0.0), at_door=True,
                                         enter_at=scene.t)  # fmt: skip
                runner.leaving, event.target = True, runner.pid

    def describe(self) -> dict[str, Any]:
        """The sidecar: timeline, events (with spans), rendering parameters and the scene's set-up."""
        spans = [
            {"mode": m, "start": round(float(self.bounds[i]), 3), "end": round(float(self.bounds[i + 1]), 3)}
            for i, (m, _) in enumerate(self.segments)
        ]
        return {
            "version": 1,
            "generator": "classroom_mode.sim",
            "fps": self.fps,
            "size": list(self.size),
            "seed": self.seed,
            "duration": self.duration,
            "frames": self.num_frames,
            "timeline": spans,
            "events": [e.describe() for e in self.events],
            **self.world.describe(),
        }


def sidecar_path(video: Path) -> Path:
    """Where a stream's ground truth lives: `FILE.mp4` → `FILE.json`."""
    return video.with_suffix(".json")


def render_stream(  # noqa: PLR0913 -- keyword-only options, each named at the call
    timeline: Timeline,
    out: Path | str,
    *,
    fps: float = 16.0,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    events: Sequence[EventRequest] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render a timeline to `out` (MP4) and its ground truth to the JSON sidecar beside it; returns the video path.

    `progress(done_frames, total_frames)` is called as frames are written.
    """
    check_stream_path(out)
    return write_stream(Stream(timeline, fps=fps, size=size, seed=seed, events=events), out, progress)


def check_stream_path(out: Path | str) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise UserError(f"{out}: a stream is written as .mp4")
    if out.is_dir():
        raise UserError(f"{out}: is a directory")
    return out


def write_stream(stream: Stream, out: Path | str, progress: Callable[[int, int], None] | None = None) -> Path:
    """Render every frame of a fresh `stream` into `out` and write its sidecar.

    The video is renamed into place before the sidecar is written, so a sidecar always describes a
    complete video.
    """
    out = check_stream_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with Mp4Writer(out, stream.fps, stream.size) as writer:
        for k in range(stream.num_frames):
            writer.write(stream.next_frame())
            if progress is not None and (k % 16 == 0 or k == stream.num_frames - 1):
                progress(k + 1, stream.num_frames)
        writer.finish()
    write_json(sidecar_path(out), {"video": out.name, **stream.describe()}, indent=None)
    return out
