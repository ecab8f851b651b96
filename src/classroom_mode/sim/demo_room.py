"""The demo's simulated room: how its labelled clips are recorded and how its live camera plays the room's timeline.

`classroom-mode demo` records and watches it; the benchmarks that measure the demo (its ceiling, its replays, the
clip-timing skew, the room-mode settings) rebuild the same room from these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """How big a demo run is; `--small` is the one `.ci/run` runs."""

    clips_per_mode: int
    timeline: str
    scene_interval_s: float
    """Scene seconds between two windows of the live camera."""
    speed: float
    """Scene seconds played per wall-clock second."""


FULL = Preset(20, "presentation:60,group:60,solo:45,empty:30,group:45,presentation:45", 5.0, 4.0)
SMALL = Preset(16, "presentation:40,group:40,solo:30,empty:25", 5.0, 6.0)
CLIP_SECONDS, CLIP_FPS, CLIP_SIZE = 3.0, 8.0, (128, 128)


def room_seed(seed: int) -> int:
    """The simulated room the demo records in and then watches live."""
    return 10_000 + seed
