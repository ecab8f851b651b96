"""The demo's live part: the real loop on a simulated camera, scored against the simulator's ground truth.

The loop, its feed, the encoder and the store are the production ones; the demo adds only what a
real room cannot have: a record of what was truly happening when each clip was taken. A
`TruthTap` sits between the simulated camera and the loop's clip builder and remembers, for each
frame's wall-clock time, its scene time and whether the room had settled into its mode; a clip's
`ended_at` then tells which scene second it showed, and the simulator says what the room was doing
then. The timeline switches modes at once, but people take up to ~15 s to walk in or out; a window
taken meanwhile shows a room that is neither mode, so the demo scores those windows apart, and measures how
long the room's mode takes to follow once the room has settled (`modes.scoring`).

The demo's camera plays in lockstep with the loop (`SteppedFeed`): window k shows the scene up to
exactly k × the window step, however long the machine takes to render and embed. A camera paced by
the wall clock let a slow or busy machine take its windows at other scene times, so the same room
scored differently from one machine (or one load) to the next.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime

from classroom_mode.config import CameraConfig, SimSourceConfig
from classroom_mode.modes.scoring import Change, ScoredWindow
from classroom_mode.records import Clip, ModeChange, Prediction
from classroom_mode.service.live.feeds import CameraOffline, LiveFeed
from classroom_mode.sim.camera import SimCamera
from classroom_mode.video.source import Frame, FrameSource, SourceStatus

_REMEMBERED_FRAMES = 4096


class TruthTap(FrameSource):
    """Passes a `SimCamera`'s frames through unchanged and remembers each frame's scene time by its wall time.

    With `lockstep`, no frame later than the scene time last `release`d is rendered: the camera waits for
    whoever takes its clips.
    """

    def __init__(self, camera: SimCamera, *, lockstep: bool = False) -> None:
        super().__init__(camera.camera_id)
        self.camera = camera
        self._scene_times: OrderedDict[datetime, tuple[float, bool]] = OrderedDict()
        """wall time → (scene time, whether the room had settled into its mode in that frame)."""
        self._lock = threading.Lock()
        self._released = threading.Condition()
        self._horizon = 0.0 if lockstep else math.inf
        """The last scene time that may be rendered."""
        self._closed = False

    def release(self, until: float) -> None:
        """Let the camera render every frame up to scene time `until`."""
        with self._released:
            self._horizon = max(self._horizon, until)
            self._released.notify_all()

    def _may_render(self, scene_time: float) -> bool:
        with self._released:
            self._released.wait_for(lambda: self._closed or scene_time <= self._horizon + 1e-9)
            return not self._closed

    def frames(self) -> Iterator[Frame]:
        frames = self.camera.frames()
        # the stream's time is that of the frame the camera renders next
        while self._may_render(self.camera.stream.time):
            frame = next(frames, None)
            if frame is None:
                return
            with self._lock:
                self._scene_times[frame.wall_time] = (frame.timestamp, self.camera.settled)
                while len(self._scene_times) > _REMEMBERED_FRAMES:
                    self._scene_times.popitem(last=False)
            yield frame

    def scene_time(self, wall_time: datetime) -> float | None:
        with self._lock:
            seen = self._scene_times.get(wall_time)
        return None if seen is None else seen[0]

    def settled(self, wall_time: datetime, seconds: float) -> bool:
        """Whether the room was settled in every remembered frame of the `seconds` of scene time up to `wall_time`."""
        end = self.scene_time(wall_time)
        if end is None:
            return False
        with self._lock:
            return all(ok for t, ok in self._scene_times.values() if end - seconds - 1e-9 <= t <= end)

    def changes(self) -> list[Change]:
        """Each change of the truth within the scene time played so far, with when the room had settled into it
        (the first remembered frame after it in which everyone was in place)."""
        with self._lock:
            seen = list(self._scene_times.values())
        if not seen:
            return []
        stream = self.camera.stream
        played = max(t for t, _ in seen)
        starts = [float(b) for b in stream.bounds[1:-1] if b <= played]
        out = []
        for start, end in zip(starts, [*starts[1:], math.inf], strict=True):
            if stream.truth_at(start - 1e-6) != stream.truth_at(start):
                settled_at = next((t for t, ok in seen if start < t < end and ok), None)
                out.append(Change(at=start, settled_at=settled_at))
        return out

    def truth(self, wall_time: datetime) -> str | None:
        """What the room was truly doing in the frame shown at `wall_time` (None if that frame is forgotten)."""
        scene = self.scene_time(wall_time)
        return None if scene is None else self.camera.truth_at(scene)

    @property
    def status(self) -> SourceStatus:
        return self.camera.status

    def close(self) -> None:
        with self._released:
            self._closed = True
            self._released.notify_all()
        self.camera.close()


class SteppedFeed:
    """A `ClipFeed` whose k-th clip ends at exactly k × `step_s` of scene time: the same windows on any machine.

    The clips still come through the production `LiveFeed` (ring buffer, freshness check); only the
    camera's pace is the loop's instead of the wall clock's.
    """

    def __init__(self, tap: TruthTap, camera: CameraConfig, step_s: float) -> None:
        self.tap = tap
        self.step_s = step_s
        self.feed = LiveFeed(tap, camera)
        self.scene_end = 0.0
        """Scene time at which the last clip handed out ends."""

    def next_clip(self) -> Clip:
        self.scene_end += self.step_s
        self.tap.release(self.scene_end)
        if not self.feed.builder.wait_for(self.scene_end - 1e-9, self.feed.offline_after_s):
            raise CameraOffline(f"camera {self.tap.camera_id}: scene {self.scene_end:g} s not rendered in time")
        return self.feed.next_clip()

    def recent_clip(self) -> Clip | None:
        return self.feed.recent_clip()

    def close(self) -> None:
        self.feed.close()


class SimulatedCameras:
    """The loop's feed factory for the demo: each `sim` camera tapped for truth, one window per `interval_s`.

    The camera's window step in scene time is `interval_s × speed`; the loop's interval keeps the wall pace
    of `speed` × real time when the machine is fast enough, and a slower machine only takes longer.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.taps: dict[str, TruthTap] = {}

    def __call__(self, camera_id: str, camera: CameraConfig) -> SteppedFeed:
        if not isinstance(camera.source, SimSourceConfig):
            raise TypeError(f"camera {camera_id}: the demo plays simulated cameras only")
        tap = TruthTap(SimCamera.from_config(camera_id, camera.source, speed=0), lockstep=True)
        self.taps[camera_id] = tap
        return SteppedFeed(tap, camera, camera.interval_s * self.speed)


def score_windows(
    predictions: list[Prediction], changes: list[ModeChange], tap: TruthTap, clip_seconds: float
) -> list[ScoredWindow]:
    """Pair each of a camera's windows with the truth and with the room mode in force after that window, on the
    scene's clock. Windows before the room's first mode are left out.

    A window's reading changes the room (if at all) before the next clip ends, so the mode after
    window i is the last change logged before window i+1's clip ended.
    """
    ordered = sorted(predictions, key=lambda p: p.at)
    changes = sorted(changes, key=lambda c: c.at)
    windows = []
    for i, prediction in enumerate(ordered):
        truth, scene = tap.truth(prediction.at), tap.scene_time(prediction.at)
        if truth is None or scene is None:
            continue
        horizon = ordered[i + 1].at if i + 1 < len(ordered) else None
        in_force = [c for c in changes if horizon is None or c.at < horizon]
        if in_force:
            settled = tap.settled(prediction.at, clip_seconds)
            top = max(prediction.probabilities, key=prediction.probabilities.__getitem__)
            windows.append(ScoredWindow(scene, truth, top, in_force[-1].mode, settled))
    return windows


def agreement(windows: list[ScoredWindow]) -> float:
    """Fraction of windows whose room mode equals the truth (windows are evenly spaced, so: of the time)."""
    return sum(w.room_mode == w.truth for w in windows) / len(windows) if windows else 0.0


def commonest_share(windows: list[ScoredWindow]) -> float:
    """The agreement of always answering the commonest true mode among `windows`: the score to beat."""
    if not windows:
        return 0.0
    truths = [w.truth for w in windows]
    return max(truths.count(mode) for mode in set(truths)) / len(truths)
