"""One camera's mode by a forward filter: the posterior over modes of a hidden Markov model, window by window.

The moving average (`tracker.EmaTracker`) spends windows twice: the average lags a change, and then the
hysteresis waits for more wins. A forward filter asks instead how likely each mode is given every reading
so far, under one prior: a room tends to stay in its mode. Per window the room stays with probability
exp(-window / dwell) (its time in a mode is then exponential with mean `dwell_s`) and otherwise moves to
any other mode alike; each reading's class probabilities are the evidence. When the probe's probabilities
are calibrated (`model/probes/calibration.py`), one sure reading moves the posterior at once and a run of
unsure ones barely does, which is the behaviour the hysteresis only approximates.

A reading the probe labelled `uncertain` (low confidence, or far from every mode it was trained on) counts
as weaker evidence: its probabilities are raised to `uncertain_weight` (0 ignores it) before they are
multiplied in. The camera's mode changes only when the posterior's leader is another mode and its posterior
reaches `change_posterior`.
"""

from __future__ import annotations

import math

from classroom_mode.config import HmmSettings
from classroom_mode.modes.tracker import CameraView
from classroom_mode.records import UNCERTAIN, Prediction

FLOOR = 1e-6
"""The least probability a reading gives any mode: a probe that says 0 can still be wrong, and a posterior of 0
could never recover."""


class HmmTracker:
    """The forward filter for one camera whose readings come every `window_s` seconds."""

    def __init__(self, camera_id: str, settings: HmmSettings, window_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"camera {camera_id}: the seconds between two windows must be positive, got {window_s}")
        self.settings = settings
        self.stay = math.exp(-window_s / settings.dwell_s)
        self.view = CameraView(camera_id)

    def update(self, prediction: Prediction) -> CameraView:
        """Fold one reading in; returns the camera's view after it."""
        self.view.last_reading_at = prediction.at
        if not prediction.probabilities:  # nothing to weigh: the camera was heard from, its belief stands
            return self.view
        prior = self._predicted(sorted(prediction.probabilities))
        weight = self.settings.uncertain_weight if prediction.label == UNCERTAIN else 1.0
        joint = {c: p * max(prediction.probabilities[c], FLOOR) ** weight for c, p in prior.items()}
        total = sum(joint.values())
        self.view.probabilities = {c: p / total for c, p in joint.items()}
        leader = max(self.view.probabilities, key=self.view.probabilities.__getitem__)
        if leader != self.view.mode and self.view.probabilities[leader] >= self.settings.change_posterior:
            self.view.mode = leader
        return self.view

    def _predicted(self, classes: list[str]) -> dict[str, float]:
        """The belief one window later, before its reading: stay, or move to any other mode alike. A first
        reading, or one from a probe with other classes, starts from no opinion."""
        previous = self.view.probabilities
        if sorted(previous) != classes:
            return {c: 1.0 / len(classes) for c in classes}
        others = max(len(classes) - 1, 1)
        return {c: self.stay * p + (1.0 - self.stay) * (1.0 - p) / others for c, p in previous.items()}
