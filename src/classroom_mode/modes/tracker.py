"""One camera's opinion of the room (`CameraView`), and the first way of forming it: a moving average with hysteresis.

A camera's tracker (`Tracker`) folds its readings into a view; `thresholds.estimator` picks which one:
`EmaTracker` here, or the forward filter of `modes/hmm.py`.

A single 3-second window is noisy (someone walks past the camera, a presenter sits down for a
moment). The tracker keeps an exponential moving average of the probe's class probabilities and
accepts a new mode only when it has led the smoothed distribution for `consecutive_windows`
confident readings in a row, or at once when its smoothed probability reaches `enter_probability`.
A reading the probe labelled `uncertain` still moves the average but never accepts a mode: the
probe said it does not know, so it cannot be the reading that changes the room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from classroom_mode.config import Thresholds
from classroom_mode.records import UNCERTAIN, Prediction


@dataclass
class CameraView:
    """What one camera currently says: its accepted mode (None until one is accepted) and smoothed probabilities."""

    camera_id: str
    mode: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    last_reading_at: datetime | None = None

    @property
    def confidence(self) -> float:
        """The smoothed probability of the accepted mode (0 when none is accepted)."""
        return self.probabilities.get(self.mode, 0.0) if self.mode is not None else 0.0


class Tracker(Protocol):
    view: CameraView

    def update(self, prediction: Prediction) -> CameraView:
        """Fold one reading in; returns the camera's view after it."""
        ...


class EmaTracker:
    """EMA smoothing and hysteresis for one camera. Works for any set of class names the probe emits."""

    def __init__(self, camera_id: str, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.view = CameraView(camera_id)
        self._candidate: str | None = None
        self._streak = 0

    def update(self, prediction: Prediction) -> CameraView:
        """Fold one reading in; returns the camera's view after it."""
        self.view.probabilities = self._smoothed(prediction.probabilities)
        self.view.last_reading_at = prediction.at
        if prediction.label == UNCERTAIN or not self.view.probabilities:
            return self.view
        leader = max(self.view.probabilities, key=self.view.probabilities.__getitem__)
        if leader == self.view.mode:
            self._candidate, self._streak = None, 0
            return self.view
        self._streak = self._streak + 1 if leader == self._candidate else 1
        self._candidate = leader
        if (
            self._streak >= self.thresholds.consecutive_windows
            or self.view.probabilities[leader] >= self.thresholds.enter_probability
        ):
            self.view.mode = leader
            self._candidate, self._streak = None, 0
        return self.view

    def _smoothed(self, reading: dict[str, float]) -> dict[str, float]:
        alpha = self.thresholds.smoothing_alpha
        previous = self.view.probabilities
        if not previous:
            return dict(reading)
        classes = previous.keys() | reading.keys()
        return {c: alpha * reading.get(c, 0.0) + (1.0 - alpha) * previous.get(c, 0.0) for c in sorted(classes)}
