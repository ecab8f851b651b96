"""Room modes: per-camera smoothing and hysteresis, room consensus across cameras, mode → ambience."""

from classroom_mode.modes.consensus import Consensus, Strategy, elect
from classroom_mode.modes.freshness import Freshness
from classroom_mode.modes.room import MODE_PALETTE, UNKNOWN_AMBIENCE, UNKNOWN_COLOR, RoomModel, describe, mode_color
from classroom_mode.modes.spans import mode_spans
from classroom_mode.modes.tracker import CameraTracker, CameraView

__all__ = [
    "MODE_PALETTE",
    "UNKNOWN_AMBIENCE",
    "UNKNOWN_COLOR",
    "CameraTracker",
    "CameraView",
    "Consensus",
    "Freshness",
    "RoomModel",
    "Strategy",
    "describe",
    "elect",
    "mode_color",
    "mode_spans",
]
