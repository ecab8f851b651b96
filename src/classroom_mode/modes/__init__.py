"""Room modes: per-camera smoothing (moving average and hysteresis, or a forward filter), room consensus across
cameras, mode → ambience."""

from classroom_mode.modes.consensus import Consensus, Strategy, elect
from classroom_mode.modes.freshness import Freshness
from classroom_mode.modes.hmm import HmmTracker
from classroom_mode.modes.room import (
    MODE_PALETTE,
    UNKNOWN_AMBIENCE,
    UNKNOWN_COLOR,
    RoomModel,
    describe,
    make_tracker,
    mode_color,
)
from classroom_mode.modes.spans import mode_spans
from classroom_mode.modes.tracker import CameraView, EmaTracker, Tracker

__all__ = [
    "MODE_PALETTE",
    "UNKNOWN_AMBIENCE",
    "UNKNOWN_COLOR",
    "CameraView",
    "Consensus",
    "EmaTracker",
    "Freshness",
    "HmmTracker",
    "RoomModel",
    "Strategy",
    "Tracker",
    "describe",
    "elect",
    "make_tracker",
    "mode_color",
    "mode_spans",
]
