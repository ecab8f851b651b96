"""How a room's probe is trained and cross-validated: one settings object from `train`, `evaluate` and the demo
down to `model.probes.training`. It lives outside `probes/` so the command line reads its defaults for its options
without loading torch."""

from __future__ import annotations

from dataclasses import dataclass

from classroom_mode.records import GroupBy, ProbeKind


@dataclass(frozen=True)
class ProbeSettings:
    uncertain_below: float
    """Top probabilities under this answer `uncertain`: the config's `thresholds.uncertain_below`, which is why it
    has no default here."""
    kind: ProbeKind = "auto"
    folds: int = 5
    """Cross-validation folds (leave-one-out when a mode has fewer clips); 0 trains without cross-validating."""
    group_by: GroupBy | None = None
    """What one fold keeps together (a session's or a camera's clips); None splits clip by clip."""
    seed: int = 0
    """For the splits, the probe's initialisation and its shuffling."""
