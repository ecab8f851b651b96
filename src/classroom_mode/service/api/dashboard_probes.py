"""The probe page's data: each configured probe's card (`model.probes.card.ProbeCard`), read from its sidecar.

Only the sidecar is read, never the tensors, so the page costs no model load; a sidecar that does not
validate is shown with the reason instead of its scores.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from classroom_mode.config import Config
from classroom_mode.errors import UserError
from classroom_mode.model.probes import probe_paths, read_sidecar
from classroom_mode.model.probes.artifact import ProbeSidecar


class ProbeSummary(BaseModel):
    """One probe file and what its sidecar says about how well it does."""

    path: str
    rooms: list[str]
    found: bool
    kind: str | None = None
    classes: list[str] = []
    backbone: str | None = None
    random_weights: bool = False
    """The backbone was untrained: its features, and this probe's scores, say nothing about a real model."""
    created: str | None = None
    scheme: str | None = None
    """How the cross-validation split the clips (e.g. `stratified 5-fold`)."""
    warnings: list[str] = []
    metrics: dict[str, float] = {}
    """Headline cross-validation metrics (accuracy, macro_f1): the mean over folds."""
    confusion: str | None = None
    """URL of the confusion matrix image, when the sidecar has one."""
    learning_curve: str | None = None
    problem: str | None = None
    """Why the sidecar could not be read, when it could not."""


def learning_curve(sidecar: ProbeSidecar) -> tuple[list[float], list[float], list[float] | None] | None:
    """(clips per mode, mean accuracy, std or None), sorted by size, when the card has a curve."""
    if not sidecar.learning_curve:
        return None
    points = sorted(sidecar.learning_curve, key=lambda point: point.clips_per_mode)
    stds = [point.accuracy[1] for point in points]
    spread = [s for s in stds if s is not None]
    return (
        [float(point.clips_per_mode) for point in points],
        [point.accuracy[0] for point in points],
        spread if len(spread) == len(stds) else None,
    )


def configured_probes(config: Config) -> list[tuple[Path, list[str]]]:
    """Each configured probe file (in config order) and the rooms that use it."""
    probes: dict[Path, list[str]] = {}
    for room_name, room in config.rooms.items():
        if room.probe is not None:
            probes.setdefault(room.probe, []).append(room_name)
    return list(probes.items())


def summarise(probe: Path, rooms: list[str], index: int) -> ProbeSummary:
    """The probe page's entry for the `index`-th configured probe (its plots are addressed by that index)."""
    summary = ProbeSummary(path=str(probe), rooms=rooms, found=probe_paths(probe)[1].exists())
    if not summary.found:
        return summary
    try:
        sidecar = read_sidecar(probe)
    except UserError as exc:
        summary.problem = str(exc)
        return summary
    summary.kind = sidecar.kind
    summary.classes = sidecar.classes
    if sidecar.backbone:
        summary.backbone = sidecar.backbone.model_id
        summary.random_weights = sidecar.backbone.random_weights
    summary.created = sidecar.created.isoformat() if sidecar.created else None
    if sidecar.cv:
        summary.scheme = sidecar.cv.scheme
        summary.warnings = sidecar.cv.warnings
        summary.metrics = {"accuracy": sidecar.cv.accuracy[0], "macro_f1": sidecar.cv.macro_f1[0]}
        if sidecar.cv.confusion:
            summary.confusion = f"/dashboard/probes/{index}/confusion.png"
    if learning_curve(sidecar):
        summary.learning_curve = f"/dashboard/probes/{index}/learning-curve.png"
    return summary
