"""How well a room's mode follows what the room is truly doing: the three numbers a user feels.

Scored over a sequence of evenly spaced windows whose truth is known (the simulator's), each with the probe's
reading of it and the room's mode after it:

- *agreement on settled windows*, beside the probe's own accuracy on the same windows: what the smoothing
  costs (or gains), in points. A window is settled when nobody was walking in or out during its clip, so
  the clip shows one mode and the probe can be asked for it. (Agreement on every window is kept too: with
  a never-wrong probe it is the ceiling the changes' walking in and out leave.)
- *latency*: seconds from the room settling into a new mode to the room's mode following it (0 when it
  followed before the room had settled). A change the room's mode never follows before the next one is
  counted as missed and sits in the percentiles as never.
- *false flips* per hour: changes of the room's mode that are not its first arrival at the truth after a
  change of the truth (a flicker away and back is two).

The demo scores its live run with these (`service/live/demo.py`), and `benchmarks/bench_room_mode.py` the
estimators on a probe whose accuracy it chooses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from classroom_mode.records import UNCERTAIN


@dataclass(frozen=True)
class ScoredWindow:
    end_s: float
    """When the window's clip ended (seconds on the scene's clock)."""
    truth: str
    reading: str
    """The probe's top mode for the window (also when it answered `uncertain`): what its accuracy counts."""
    room_mode: str
    """The room's mode after the window was taken in."""
    settled: bool


@dataclass(frozen=True)
class Change:
    """The truth moved to another mode at `at` (a window ending after it shows the new truth); the room looked like
    it from `settled_at` (None: not before the next change)."""

    at: float
    settled_at: float | None


@dataclass(frozen=True)
class FollowScore:
    settled_windows: int
    agreement: float
    """Share of settled windows whose room mode was the truth."""
    agreement_all: float
    """Share of all windows whose room mode was the truth."""
    reading_accuracy: float
    """Share of the same windows the probe read as the truth."""
    latencies_s: tuple[float, ...]
    """One per change that settled inside the scored windows; inf for a change the room never followed."""
    false_flips: int
    hours: float

    @property
    def loss_points(self) -> float:
        """Percentage points of agreement the smoothing cost against the probe's own readings (negative: gained)."""
        return 100.0 * (self.reading_accuracy - self.agreement)

    @property
    def missed(self) -> int:
        return sum(math.isinf(s) for s in self.latencies_s)

    def latency_s(self, percentile: float) -> float:
        """A percentile of the latencies (inf when more changes were missed than it leaves out; nan: no change)."""
        if not self.latencies_s:
            return math.nan
        return float(np.percentile(np.array(self.latencies_s), percentile, method="higher"))

    @property
    def false_flips_per_hour(self) -> float:
        return self.false_flips / self.hours if self.hours > 0 else math.nan

    def as_json(self) -> dict[str, float | int | None]:
        """The numbers for `--json` output: a latency of never (or of no change at all) is null."""

        def number(value: float) -> float | None:
            return round(value, 4) if math.isfinite(value) else None

        return {
            "settled_windows": self.settled_windows,
            "agreement_settled": number(self.agreement),
            "probe_accuracy_settled": number(self.reading_accuracy),
            "smoothing_loss_points": number(self.loss_points),
            "latency_median_s": number(self.latency_s(50)),
            "latency_p90_s": number(self.latency_s(90)),
            "changes": len(self.latencies_s),
            "changes_missed": self.missed,
            "false_flips": self.false_flips,
            "false_flips_per_hour": number(self.false_flips_per_hour),
        }

    def lines(self) -> list[str]:
        """The three numbers as plain lines, as the demo prints them."""
        followed = len(self.latencies_s) - self.missed
        return [
            f"settled windows: the room's mode agreed with the truth on {self.agreement:.0%} of "
            f"{self.settled_windows}, the probe's own readings on {self.reading_accuracy:.0%} "
            f"(the smoothing cost {self.loss_points:+.1f} points)",
            f"latency from the room settling into a new mode to the room's mode following: median "
            f"{self.latency_s(50):.0f} s, 90th percentile {self.latency_s(90):.0f} s "
            f"({followed} of {len(self.latencies_s)} changes followed)",
            f"false flips: {self.false_flips} in {self.hours * 60:.1f} minutes of timeline "
            f"({self.false_flips_per_hour:.1f} per hour)",
        ]


def score_following(windows: Sequence[ScoredWindow], changes: Sequence[Change], window_s: float) -> FollowScore:
    """Score evenly spaced windows (`window_s` apart, in order) against the truth's changes (in order)."""
    settled = [w for w in windows if w.settled]
    latencies = []
    for change, following in zip(changes, [*changes[1:], None], strict=True):
        end = following.at if following is not None else math.inf
        inside = [w for w in windows if change.at < w.end_s <= end]
        if change.settled_at is None or not inside or inside[-1].end_s < change.settled_at:
            continue  # the room never settled while windows were taken: nothing to follow
        arrival = next((w.end_s for w in inside if w.room_mode == w.truth), math.inf)
        latencies.append(max(0.0, arrival - change.settled_at))
    return FollowScore(
        settled_windows=len(settled),
        agreement=_share(w.room_mode == w.truth for w in settled),
        agreement_all=_share(w.room_mode == w.truth for w in windows),
        reading_accuracy=_share(w.reading == w.truth for w in settled),
        latencies_s=tuple(latencies),
        false_flips=_false_flips(windows),
        hours=len(windows) * window_s / 3600.0,
    )


def _false_flips(windows: Sequence[ScoredWindow]) -> int:
    flips, arrived, previous = 0, False, None
    for window in windows:
        if previous is not None and window.truth != previous.truth:
            arrived = previous.room_mode == window.truth
        changed = previous is not None and window.room_mode != previous.room_mode and previous.room_mode != UNCERTAIN
        if changed and (arrived or window.room_mode != window.truth):
            flips += 1
        arrived = arrived or window.room_mode == window.truth
        previous = window
    return flips


def _share(hits: Iterable[bool]) -> float:
    values = list(hits)
    return sum(values) / len(values) if values else math.nan
