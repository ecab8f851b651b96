"""The probe page's data: each configured probe's JSON sidecar, read for its headline metrics and plots.

The sidecar is what `classroom-mode train` writes next to `PROBE.safetensors` (see
`classroom_mode.model.probes.save_probe` and `CVReport.to_json`): `kind`, `classes`, `backbone`,
`created`, and the cross-validation report under `cv` (`accuracy` / `macro_f1` as [mean, std],
`confusion` as {classes, matrix}, `scheme`, `warnings`). A `learning_curve` (a list of
{clips_per_mode, accuracy: [mean, std]}), at the top level or inside `cv`, is drawn when present.
Only the sidecar is read, never the tensors, so the page costs no model load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from classroom_mode.config import Config
from classroom_mode.errors import UserError
from classroom_mode.model.probes import probe_paths, read_sidecar


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


def mean_std(value: Any) -> tuple[float, float | None] | None:
    """A metric stored as a number, as [mean, std] or as {mean, std}."""
    if isinstance(value, dict):
        value = [value.get("mean"), value.get("std")]
    if isinstance(value, list | tuple) and value:
        mean, std = value[0], value[1] if len(value) > 1 else None
    else:
        mean, std = value, None
    if isinstance(mean, bool) or not isinstance(mean, int | float):
        return None
    return float(mean), float(std) if isinstance(std, int | float) else None


def confusion(sidecar: dict[str, Any]) -> tuple[list[str], list[list[float]]] | None:
    """(classes, counts with rows true and columns predicted), when the sidecar has a square matrix."""
    found = _cv(sidecar).get("confusion")
    if not isinstance(found, dict):
        return None
    classes, matrix = found.get("classes") or sidecar.get("classes"), found.get("matrix")
    if not classes or not isinstance(matrix, list) or len(matrix) != len(classes):
        return None
    if any(not isinstance(row, list) or len(row) != len(classes) for row in matrix):
        return None
    return [str(c) for c in classes], matrix


def learning_curve(sidecar: dict[str, Any]) -> tuple[list[float], list[float], list[float] | None] | None:
    """(clips per mode, mean accuracy, std or None), sorted by size, when the sidecar has a usable curve."""
    points = sidecar.get("learning_curve") or _cv(sidecar).get("learning_curve")
    if not isinstance(points, list) or not points:
        return None
    rows = []
    for point in points:
        score = mean_std(point.get("accuracy")) if isinstance(point, dict) else None
        size = point.get("clips_per_mode") if isinstance(point, dict) else None
        if score is None or not isinstance(size, int | float):
            return None
        rows.append((float(size), *score))
    rows.sort(key=lambda row: row[0])
    stds = [row[2] for row in rows]
    spread = [s for s in stds if s is not None]
    return [r[0] for r in rows], [r[1] for r in rows], spread if len(spread) == len(stds) else None


def _cv(sidecar: dict[str, Any]) -> dict[str, Any]:
    """The cross-validation report (empty when training skipped it, e.g. with too few clips)."""
    cv = sidecar.get("cv")
    return cv if isinstance(cv, dict) else {}


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
    cv = _cv(sidecar)
    found = sidecar.get("backbone")
    backbone: dict[str, Any] = found if isinstance(found, dict) else {}
    summary.kind = sidecar.get("kind")
    summary.classes = [str(c) for c in sidecar.get("classes") or []]
    summary.backbone = backbone.get("model_id")
    summary.random_weights = bool(backbone.get("random_weights"))
    summary.created = sidecar.get("created")
    summary.scheme = cv.get("scheme")
    summary.warnings = [str(w) for w in cv.get("warnings") or []]
    summary.metrics = {k: score[0] for k in ("accuracy", "macro_f1") if (score := mean_std(cv.get(k)))}
    if confusion(sidecar):
        summary.confusion = f"/dashboard/probes/{index}/confusion.png"
    if learning_curve(sidecar):
        summary.learning_curve = f"/dashboard/probes/{index}/learning-curve.png"
    return summary
