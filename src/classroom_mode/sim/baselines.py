"""Cheap baselines a room-mode model has to beat, and the check that the simulator leaves room to beat them.

(a) A perfect person counter: the ground-truth number of people, fed to a small classifier.
(b) Appearance without motion or arrangement: logistic regression on the clip's mean frame, shrunk to
    a few pixels. If either were near-perfect on group vs presentation, the footage would be solvable
    by one trivial cue and useless for judging a video model. The probe work reuses these for its
    comparison table.
(c) The other way round, a ceiling: tokens of where people are, from the simulator's person masks, fed to
    the same probes a backbone's tokens are. A world model that saw every person perfectly, and nothing
    else, would give the probes about this much to work with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from classroom_mode.sim.manifest import ClipTruth


def person_count_features(entries: Sequence[ClipTruth]) -> np.ndarray:
    """(N, 1) ground-truth person counts of manifest entries: what a perfect person detector would report."""
    return np.array([[entry.num_people] for entry in entries], dtype=np.float64)


def mean_frame_features(frames: np.ndarray, size: int = 16) -> np.ndarray:
    """(size * size * 3,) the clip's mean frame downsampled to size × size, scaled to [0, 1]."""
    mean = frames.astype(np.float32).mean(axis=0)
    small = Image.fromarray(np.clip(mean, 0, 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64).reshape(-1) / 255.0


def person_mask_tokens(people: np.ndarray, *, frames: int = 4, cell: int = 8, width: int = 64) -> np.ndarray:
    """(cells, width) tokens of a clip's (T, H, W) person masks: per `cell`-pixel grid cell, the fraction a
    person covers at `frames` evenly spaced frames, lifted by one fixed random ReLU layer.

    The lift is there because the attentive probe layer-normalises every token, which would erase the scale
    of a handful of fractions; a fixed random layer keeps them apart without learning anything.
    """
    steps, height, side = people.shape
    if height % cell or side % cell:
        raise ValueError(f"cell {cell} does not divide the {side} × {height} masks")
    picked = people[np.linspace(0, steps - 1, frames).round().astype(int)].astype(np.float32)
    covered = picked.reshape(frames, height // cell, cell, side // cell, cell).mean(axis=(2, 4))
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(frames, width)), rng.normal(size=width)
    return np.maximum(covered.reshape(frames, -1).T @ weights + bias, 0.0).astype(np.float32)


def count_classifier() -> DecisionTreeClassifier:
    """Any threshold rule on the count: a shallow tree finds the best ones."""
    return DecisionTreeClassifier(max_depth=4, random_state=0)


def mean_frame_classifier() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))


def cv_accuracy(model: Any, features: np.ndarray, labels: Sequence[str], folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of stratified `folds`-fold cross-validation."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(model, features, np.asarray(labels), cv=splitter).mean())


def difficulty_report(
    entries: Sequence[ClipTruth], mean_frames: np.ndarray, folds: int = 5
) -> dict[str, dict[str, float]]:
    """4-class and group-vs-presentation cross-validated accuracy of both baselines.

    `mean_frames` holds `mean_frame_features` of each entry's clip, in the same order.
    """
    labels = [entry.mode for entry in entries]
    counts = person_count_features(entries)
    pair = np.array([label in ("group", "presentation") for label in labels])
    pair_labels = [label for label, keep in zip(labels, pair, strict=True) if keep]
    report: dict[str, dict[str, float]] = {}
    for name, model, features in (
        ("person_count", count_classifier(), counts),
        ("mean_frame_logreg", mean_frame_classifier(), mean_frames),
    ):
        report[name] = {"all_modes": cv_accuracy(model, features, labels, folds)}
        if pair.sum() >= 2 * folds and len(set(pair_labels)) == 2:
            report[name]["group_vs_presentation"] = cv_accuracy(model, features[pair], pair_labels, folds)
    return report
