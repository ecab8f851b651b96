"""A room's mode state: camera trackers, staleness, offline cameras, consensus, and the display mapping.

Pure logic with an injected clock, so every rule (hysteresis, staleness, consensus) is unit-tested
without sleeping. The live loop feeds it predictions and camera status; it answers `ModeState`, the
record the store keeps and the API, dashboard and bot show.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta

from classroom_mode.clock import Clock, as_utc, utc_now
from classroom_mode.config import ModeConfig, Thresholds
from classroom_mode.modes.consensus import Strategy, elect
from classroom_mode.modes.hmm import HmmTracker
from classroom_mode.modes.tracker import CameraView, EmaTracker, Tracker
from classroom_mode.records import UNCERTAIN, ModeState, Prediction

UNKNOWN_AMBIENCE = "unchanged"
"""The ambience of a room whose mode is not known yet: leave whatever is playing."""


def describe(mode: str, modes: Mapping[str, ModeConfig]) -> ModeConfig:
    """Display name, emoji and ambience of a mode; `uncertain` and unconfigured names get a neutral entry."""
    if mode in modes:
        return modes[mode]
    display = "Uncertain" if mode == UNCERTAIN else mode
    return ModeConfig(display_name=display, emoji="❔", ambience=UNKNOWN_AMBIENCE)


MODE_PALETTE = ("#0ea5e9", "#f59e0b", "#d946ef", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6", "#f97316", "#84cc16")
"""Colours of modes the config gives none, by the mode's place in the config."""
UNKNOWN_COLOR = "#94a3b8"
"""`uncertain`'s colour: a neutral grey."""


def mode_color(mode: str, modes: Mapping[str, ModeConfig]) -> str:
    """A mode's colour as #rrggbb, the same on the dashboard, in Discord embeds and in charts: the config's `color`
    when set, else a palette colour by its place in the config; `uncertain` is grey, and a name the config does
    not know gets a palette colour by a stable hash of the name."""
    if mode in modes:
        return modes[mode].color or MODE_PALETTE[list(modes).index(mode) % len(MODE_PALETTE)]
    if mode == UNCERTAIN:
        return UNKNOWN_COLOR
    return MODE_PALETTE[zlib.crc32(mode.encode()) % len(MODE_PALETTE)]


def make_tracker(camera_id: str, thresholds: Thresholds, window_s: float) -> Tracker:
    """The tracker `thresholds.estimator` names, for a camera that takes a window every `window_s` seconds."""
    if thresholds.estimator == "hmm":
        return HmmTracker(camera_id, thresholds.hmm, window_s)
    return EmaTracker(camera_id, thresholds)


class RoomModel:
    """The mode of one room, from the readings of its cameras.

    A camera contributes while it is online and its last reading is younger than `stale_after_s`.
    With no contributing camera the room keeps its last mode and says it is stale.
    """

    def __init__(
        self,
        room: str,
        cameras: Mapping[str, float],
        modes: Mapping[str, ModeConfig],
        thresholds: Thresholds,
        strategy: Strategy = "average",
        clock: Clock = utc_now,
    ) -> None:
        """`cameras`: each camera's id and the seconds between two of its windows (its `interval_s`)."""
        self.room = room
        self.modes = modes
        self.thresholds = thresholds
        self.strategy = strategy
        self.clock = clock
        self.trackers = {
            camera_id: make_tracker(camera_id, thresholds, window_s) for camera_id, window_s in cameras.items()
        }
        self.offline: set[str] = set()
        self._mode = UNCERTAIN
        self._since = as_utc(clock())
        self._confidence = 0.0
        self._probabilities: dict[str, float] = {}

    @property
    def mode(self) -> str:
        return self._mode

    def observe(self, prediction: Prediction) -> ModeState:
        """Fold one camera's reading in and return the room's state after it."""
        tracker = self.trackers.get(prediction.camera_id)
        if tracker is None:
            raise KeyError(f"camera {prediction.camera_id!r} is not in room {self.room!r}")
        tracker.update(prediction)
        self.offline.discard(prediction.camera_id)
        return self.state()

    def set_online(self, camera_id: str, online: bool) -> ModeState:
        """Mark a camera on- or offline (its worker's view); an offline camera stops contributing at once."""
        if camera_id not in self.trackers:
            raise KeyError(f"camera {camera_id!r} is not in room {self.room!r}")
        (self.offline.discard if online else self.offline.add)(camera_id)
        return self.state()

    def fresh_views(self, now: datetime) -> list[CameraView]:
        horizon = now - timedelta(seconds=self.thresholds.stale_after_s)
        return [
            t.view
            for camera_id, t in self.trackers.items()
            if camera_id not in self.offline
            and t.view.last_reading_at is not None
            and as_utc(t.view.last_reading_at) >= horizon
        ]

    def state(self) -> ModeState:
        """The room's state now: re-elects from the fresh cameras, so staleness shows without a new reading."""
        now = as_utc(self.clock())
        views = self.fresh_views(now)
        if views:
            result = elect(views, self.strategy, None if self._mode == UNCERTAIN else self._mode)
            mode = result.mode or UNCERTAIN
            if mode != self._mode:
                self._mode, self._since = mode, now
            self._confidence, self._probabilities = result.confidence, result.probabilities
        shown = describe(self._mode, self.modes)
        return ModeState(
            room=self.room,
            mode=self._mode,
            display_name=shown.display_name,
            emoji=shown.emoji,
            ambience=shown.ambience,
            confidence=min(max(self._confidence, 0.0), 1.0),
            probabilities=dict(self._probabilities),
            since=self._since,
            updated_at=now,
            cameras=sorted(v.camera_id for v in views),
            offline_cameras=sorted(self.offline),
            stale=not views,
        )
