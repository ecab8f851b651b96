"""Training a room's probe from its labelled clips, as `train` and the demo both do: cross-validate first (when
every mode has clips enough), optionally a learning curve, then fit on every clip and write down how it was
made in the probe's card (`card.ProbeCard`, kept in its sidecar)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import numpy as np

from classroom_mode.model.backbone import Backbone
from classroom_mode.model.probe_settings import ProbeSettings
from classroom_mode.model.probes.card import BackboneRecord, CurvePoint, ProbeCard, RoomErasure
from classroom_mode.model.probes.dataset import LabelledFeatures, groups_of
from classroom_mode.model.probes.evaluate import CVReport, cross_validate, learning_curve, make_splits
from classroom_mode.model.probes.probe import TrainedProbe, encode_labels, fit_probe
from classroom_mode.records import ProbeKind
from classroom_mode.video.mask import NO_MASK


@dataclass(frozen=True)
class ProbeTraining:
    probe: TrainedProbe
    """Fitted on every clip, its card in `probe.card`."""
    report: CVReport | None
    """The cross-validation report; None when folds were 0 or a mode had fewer than 2 clips."""
    curve: list[CurvePoint] | None = None
    curve_left_out: tuple[str, ...] = ()
    """Why some learning-curve points are missing (too few clips for that size)."""


class _CVOptions(TypedDict):
    classes: list[str]
    kind: ProbeKind
    folds: int
    groups: list[str] | None
    seed: int


def _cv_options(data: LabelledFeatures, settings: ProbeSettings) -> _CVOptions:
    """How `settings` cross-validate `data`, shared by the report and its learning curve so that the curve's points
    are scored on the report's very folds."""
    return _CVOptions(
        classes=data.classes,
        kind=settings.kind,
        folds=settings.folds,
        groups=groups_of(data, settings.group_by),
        seed=settings.seed,
    )


def can_cross_validate(data: LabelledFeatures, folds: int) -> bool:
    """Whether `folds` asks for cross-validation and every mode has the 2 clips a split needs."""
    return bool(folds) and min(data.labels.count(name) for name in data.classes) >= 2


def fold_splits(data: LabelledFeatures, settings: ProbeSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) splits `evaluate_probe` runs (grouped by session or camera when `settings.group_by` says
    so: one recording never on both sides)."""
    y = encode_labels(data.labels, data.classes)
    return make_splits(y, groups_of(data, settings.group_by), settings.folds, settings.seed)[0]


def evaluate_probe(
    data: LabelledFeatures, settings: ProbeSettings, *, on_fold: Callable[[], None] | None = None
) -> CVReport:
    """Cross-validate a probe on the folder's clips over `fold_splits`."""
    return cross_validate(
        data.features,
        data.labels,
        **_cv_options(data, settings),
        uncertain_below=settings.uncertain_below,
        on_fold=on_fold,
    )


def train_probe(  # noqa: PLR0913 -- keyword-only options, each named at the call
    data: LabelledFeatures,
    backbone: Backbone,
    settings: ProbeSettings,
    *,
    data_dir: Path,
    display_names: Mapping[str, str] | None = None,
    with_curve: bool = False,
    on_fold: Callable[[], None] | None = None,
    privacy_mask: str = NO_MASK,
) -> ProbeTraining:
    """`evaluate_probe` (when `can_cross_validate`), then fit the probe on every clip; its card records
    `privacy_mask`, the fingerprint of the mask the clips were recorded under (`model.probes.masks`)."""
    report = None
    if can_cross_validate(data, settings.folds):
        report = evaluate_probe(data, settings, on_fold=on_fold)
    curve = None
    left_out: tuple[str, ...] = ()
    if with_curve and report is not None:
        curve, reasons = learning_curve(data.features, data.labels, **_cv_options(data, settings))
        left_out = tuple(reasons)
    trained = fit_probe(
        data.features,
        data.labels,
        classes=data.classes,
        kind=settings.kind,
        seed=settings.seed,
        uncertain_below=settings.uncertain_below,
    )
    names = display_names or {}
    erasure = data.erasure
    trained.reference = erasure.reference if erasure else None
    trained.card = ProbeCard(
        display_names={name: names[name] for name in data.classes if name in names},
        backbone=BackboneRecord.of(backbone),
        erasure=RoomErasure(mode=erasure.mode, clips=erasure.clips) if erasure else None,
        privacy_mask=privacy_mask,
        created=datetime.now(UTC).replace(microsecond=0),
        seed=settings.seed,
        data=data.summary(data_dir),
        cv=report,
        learning_curve=curve,
    )
    return ProbeTraining(trained, report, curve, left_out)
