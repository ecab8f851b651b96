"""Honest cross-validation of a probe: every fitted thing is fitted inside each fold.

Standardisation, the C / lr × weight-decay grid choice, the prototype temperature, the early
stopping split and the distance gate are all part of `fit_probe`, which sees only the fold's
training clips. The test clips of a fold influence nothing but their own scores. With recording
session or camera ids, folds are grouped so near-duplicate clips never sit on both sides.

The probabilities every clip received while held out are what the probe's calibration temperature is
fitted on (`calibration.calibrate`); the report keeps it, and the uncertain rate is counted with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import Field
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import LeaveOneGroupOut, LeaveOneOut, StratifiedGroupKFold, StratifiedKFold

from classroom_mode.config import UNCERTAIN_BELOW
from classroom_mode.errors import UserError
from classroom_mode.model.probes.attentive import AttentiveSettings
from classroom_mode.model.probes.calibration import calibrate, with_temperature
from classroom_mode.model.probes.card import Calibration, Confusion, CurvePoint, CVSummary, ModeScores
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.model.probes.probe import TrainedProbe, encode_labels, fit_probe
from classroom_mode.records import ProbeKind

SMALL_CLASS = 10
"""Fewer clips than this in a mode and its scores swing by whole clips: say so."""
IMBALANCE_RATIO = 1.5
LEARNING_CURVE_SIZES = (3, 5, 10, 20, 40)
"""Training clips per mode of a learning curve's points: 3 is the fewest the attentive probe trains on."""


class CVReport(CVSummary):
    """What `cross_validate` returns: the card's `CVSummary` with every field filled in, so a probe's card keeps
    the report itself and `evaluate --json` prints it as it is."""

    confusion: Confusion
    uncertain_rate: float = Field(ge=0.0, le=1.0)
    """Share of held-out clips the calibrated probe would have answered `uncertain` (low confidence or far)."""
    calibration: Calibration

    @property
    def classes(self) -> list[str]:
        return self.confusion.classes


def cross_validate(  # noqa: PLR0913 -- keyword-only options, each named at the call
    features: FeatureSet,
    labels: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    kind: ProbeKind = "auto",
    folds: int = 5,
    groups: Sequence[str] | None = None,
    seed: int = 0,
    uncertain_below: float = UNCERTAIN_BELOW,
    attentive: AttentiveSettings | None = None,
    train_size: int | None = None,
    on_fold: Callable[[], None] | None = None,
) -> CVReport:
    """Stratified k-fold (grouped when `groups` is given; leave-one-out when a mode has fewer clips than folds).

    `train_size` cuts each fold's training side to that many clips of every mode (a seeded random choice) and
    leaves its test side whole: one point of a learning curve, scored on the same clips as the full run.
    """
    classes = sorted(set(labels)) if classes is None else list(classes)
    y = encode_labels(labels, classes)
    splits, scheme = make_splits(y, groups, folds, seed)
    pooled = scheme == "leave-one-out" or scheme.startswith("leave-one-group-out")
    if train_size is not None:
        splits = _cut_training_sides(splits, y, train_size, seed)
        scheme = f"{scheme}, {train_size} training clips per mode"
    fit = functools.partial(fit_probe, classes=classes, kind=kind, seed=seed, uncertain_below=uncertain_below,
                            attentive=attentive)  # fmt: skip
    _check_training_sides(splits, y, classes, scheme)
    held_out, far, fold_scores, kinds = _held_out(features, y, classes, splits, fit, on_fold)
    predicted = held_out.argmax(axis=1)
    calibration = calibrate(held_out, y)
    unsure = far | (with_temperature(held_out, calibration.temperature).max(axis=1) < uncertain_below)
    summary = [_scores(y, predicted, len(classes))] if pooled else fold_scores
    return CVReport(
        scheme=scheme,
        kinds=kinds,
        accuracy=_mean_std([s["accuracy"] for s in summary]),
        macro_f1=_mean_std([s["macro_f1"] for s in summary]),
        per_class={
            name: ModeScores(
                precision=_mean_std([s["precision"][c] for s in summary]),
                recall=_mean_std([s["recall"][c] for s in summary]),
                clips=int((y == c).sum()),
            )
            for c, name in enumerate(classes)
        },
        confusion=Confusion(
            classes=classes, matrix=confusion_matrix(y, predicted, labels=list(range(len(classes)))).tolist()
        ),
        uncertain_rate=float(unsure.mean()),
        warnings=data_warnings(y, classes),
        calibration=calibration,
    )


def _check_training_sides(
    splits: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, classes: list[str], scheme: str
) -> None:
    """Refuse folds a probe cannot learn every mode from, before any is fitted."""
    for train, _ in splits:
        missing = sorted(set(range(len(classes))) - set(y[train].tolist()))
        if missing:
            raise UserError(
                f"{scheme}: a fold's training side has no clips of {', '.join(classes[i] for i in missing)}; "
                "add clips or groups for that mode"
            )


def _held_out(
    features: FeatureSet,
    y: np.ndarray,
    classes: list[str],
    splits: list[tuple[np.ndarray, np.ndarray]],
    fit: Callable[..., TrainedProbe],
    on_fold: Callable[[], None] | None,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], list[str]]:
    """Each fold's probe fitted on its training side and read on its test side: the held-out probabilities of
    every clip, whether the distance gate called it far, each fold's scores and the probe kind it chose."""
    held_out = np.zeros((len(y), len(classes)))
    far = np.zeros(len(y), dtype=bool)
    fold_scores, kinds = [], []
    for train, test in splits:
        probe = fit(features.subset(train), [classes[i] for i in y[train]])
        held_out[test] = probe.predict_proba(features.subset(test))
        far[test] = probe.gate.distances(features.subset(test)) > probe.gate.threshold
        fold_scores.append(_scores(y[test], held_out[test].argmax(axis=1), len(classes)))
        kinds.append(probe.kind)
        if on_fold is not None:
            on_fold()
    return held_out, far, fold_scores, kinds


def learning_curve(  # noqa: PLR0913 -- keyword-only options, each named at the call
    features: FeatureSet,
    labels: Sequence[str],
    sizes: Sequence[int] = LEARNING_CURVE_SIZES,
    *,
    classes: Sequence[str] | None = None,
    kind: ProbeKind = "auto",
    folds: int = 5,
    groups: Sequence[str] | None = None,
    seed: int = 0,
    attentive: AttentiveSettings | None = None,
) -> tuple[list[CurvePoint], list[str]]:
    """Cross-validated scores with n training clips of every mode, for each n every fold's training side holds.

    Every point is scored on the test folds of the full `cross_validate` (grouped by `groups` like it); only the
    training sides shrink. Cutting the clips before splitting would shrink the test folds with n, and would put
    near-duplicate clips of one session on both sides of a fold whenever the grouping was lost, flattering the
    smallest sizes most. Returns the points and, for sizes the probe type cannot be trained on, why.
    """
    classes = sorted(set(labels)) if classes is None else list(classes)
    y = encode_labels(labels, classes)
    splits, _ = make_splits(y, groups, folds, seed)
    largest = min(int(np.bincount(y[train], minlength=len(classes)).min()) for train, _ in splits)
    scored_with = functools.partial(cross_validate, features, labels, classes=classes, kind=kind, folds=folds,
                                    groups=groups, seed=seed, attentive=attentive)  # fmt: skip
    points, left_out = [], []
    for size in (n for n in sizes if n <= largest):
        try:
            report = scored_with(train_size=size)
        except UserError as exc:
            left_out.append(f"{size} clips per mode: {exc}")
            continue
        points.append(
            CurvePoint(clips_per_mode=size, scheme=report.scheme, accuracy=report.accuracy, macro_f1=report.macro_f1)
        )
    return points, left_out


def _cut_training_sides(
    splits: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, size: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each fold's training side cut to `size` clips of every class (seeded), its test side as it was."""
    rng = np.random.default_rng(seed)
    cut = []
    for train, test in splits:
        kept = []
        for c in np.unique(y):
            members = train[y[train] == c]
            if len(members) < size:
                raise UserError(f"a fold's training side has {len(members)} clips of a mode, fewer than {size}")
            kept.append(rng.choice(members, size, replace=False))
        cut.append((np.sort(np.concatenate(kept)), test))
    return cut


def make_splits(
    y: np.ndarray, groups: Sequence[str] | None, folds: int, seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The (train, test) index pairs and a name for the scheme."""
    if folds < 2:
        raise UserError(f"--folds: need at least 2, got {folds}")
    smallest = int(np.bincount(y).min())
    if smallest < 2:
        raise UserError("every mode needs at least 2 clips to be evaluated (one to train on, one to test)")
    index = np.zeros((len(y), 1))
    if groups is not None:
        n_groups = len(set(groups))
        if n_groups < 2:
            raise UserError("grouped evaluation needs clips from at least 2 groups")
        if n_groups < folds:
            return list(LeaveOneGroupOut().split(index, y, groups)), f"leave-one-group-out ({n_groups} groups)"
        split = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        return list(split.split(index, y, groups)), f"stratified grouped {folds}-fold ({n_groups} groups)"
    if smallest < folds:
        return list(LeaveOneOut().split(index)), "leave-one-out"
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(index, y)), f"stratified {folds}-fold"


def data_warnings(y: np.ndarray, classes: Sequence[str]) -> list[str]:
    counts = np.bincount(y, minlength=len(classes))
    warnings = [
        f"mode {name!r} has only {count} clips: its scores are noisy; aim for 20 or more"
        for name, count in zip(classes, counts, strict=True)
        if count < SMALL_CLASS
    ]
    if counts.max() > IMBALANCE_RATIO * counts.min():
        spread = ", ".join(f"{name} {count}" for name, count in zip(classes, counts, strict=True))
        warnings.append(f"modes are imbalanced ({spread}): accuracy flatters the big ones, read macro-F1")
    return warnings


def _scores(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, Any]:
    labels = list(range(n_classes))
    precision, recall, f1, _ = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    present = np.bincount(y, minlength=n_classes) > 0  # a fold without a mode has no F1 for it
    return {
        "accuracy": float((y == predicted).mean()),
        "macro_f1": float(f1[present].mean()),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
    }


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), (float(array.std()) if len(array) > 1 else None)
