"""Room modes: per-camera smoothing and hysteresis, room consensus across cameras, mode → ambience."""

from classroom_mode.modes.consensus import Consensus, Strategy, elect
from classroom_mode.modes.freshness import Freshness
from classroom_mode.modes.room import UNKNOWN_AMBIENCE, RoomModel, describe
from classroom_mode.modes.tracker import CameraTracker, CameraView

__all__ = [
    "UNKNOWN_AMBIENCE",
    "CameraTracker",
    "CameraView",
    "Consensus",
    "Freshness",
    "RoomModel",
    "Strategy",
    "describe",
    "elect",
]
