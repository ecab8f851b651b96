"""Room modes: per-camera smoothing and hysteresis, room consensus across cameras, mode → ambience."""

from classroom_mode.modes.consensus import Consensus, Strategy, elect
from classroom_mode.modes.room import UNKNOWN_AMBIENCE, Clock, RoomModel, as_utc, describe, utc_now
from classroom_mode.modes.tracker import CameraTracker, CameraView

__all__ = [
    "UNKNOWN_AMBIENCE",
    "CameraTracker",
    "CameraView",
    "Clock",
    "Consensus",
    "RoomModel",
    "Strategy",
    "as_utc",
    "describe",
    "elect",
    "utc_now",
]
