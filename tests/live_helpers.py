"""Shared helpers for the live-mode tests: a settable clock and readings built from a few numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from classroom_mode.records import UNCERTAIN, Prediction

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def reading(camera_id: str, at: datetime, probabilities: dict[str, float], uncertain_below: float = 0.5) -> Prediction:
    """A probe reading: the top class, or `uncertain` when its probability is under `uncertain_below`."""
    label = max(probabilities, key=probabilities.__getitem__)
    confidence = probabilities[label]
    return Prediction(
        camera_id=camera_id,
        at=at,
        label=label if confidence >= uncertain_below else UNCERTAIN,
        confidence=confidence,
        probabilities=probabilities,
        uncertain_reason=None if confidence >= uncertain_below else "low top probability",
    )


def one_hot(mode: str, modes: list[str], p: float = 0.9) -> dict[str, float]:
    rest = (1.0 - p) / (len(modes) - 1)
    return {m: (p if m == mode else rest) for m in modes}
