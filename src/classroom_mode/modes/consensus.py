"""Room consensus: how the views of several cameras in one room become one mode.

Every strategy elects only a mode some camera has already accepted, so the per-camera hysteresis
is never bypassed by the room: a room does not flip on one camera's single noisy window.

- `average`: the probabilities are the mean over cameras; the accepted mode with the highest mean wins.
- `most_confident`: the camera most confident in its accepted mode decides.
- `agreement`: the room changes only when every camera that has a mode agrees; otherwise it keeps its mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from classroom_mode.modes.tracker import CameraView

Strategy = Literal["average", "most_confident", "agreement"]


@dataclass(frozen=True)
class Consensus:
    mode: str | None
    """The elected mode; None when no camera has accepted one (or, for `agreement`, cameras disagree)."""
    confidence: float
    probabilities: dict[str, float]


def mean_probabilities(views: Sequence[CameraView]) -> dict[str, float]:
    classes = sorted({c for v in views for c in v.probabilities})
    return {c: sum(v.probabilities.get(c, 0.0) for v in views) / len(views) for c in classes} if views else {}


def elect(views: Sequence[CameraView], strategy: Strategy, current: str | None) -> Consensus:
    """Combine fresh camera views; `current` is the room's mode now, kept on ties and disagreement."""
    voters = [v for v in views if v.mode is not None]
    mean = mean_probabilities(views)
    if not voters:
        return Consensus(None, 0.0, mean)
    if strategy == "most_confident":
        # the current mode wins ties, so two equally sure cameras do not make the room flicker
        best = max(voters, key=lambda v: (v.confidence, v.mode == current))
        return Consensus(best.mode, best.confidence, dict(best.probabilities))
    candidates = {v.mode for v in voters if v.mode is not None}
    if strategy == "agreement" and len(candidates) > 1:
        return Consensus(current, mean.get(current, 0.0) if current else 0.0, mean)
    mode = max(sorted(candidates), key=lambda m: (mean.get(m, 0.0), m == current))
    return Consensus(mode, mean.get(mode, 0.0), mean)
