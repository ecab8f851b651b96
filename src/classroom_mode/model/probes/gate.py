"""The distance gate: "this clip looks like none of the modes I was trained on".

A softmax always sums to one, so a probe shown a scene it has never seen (the lights off, a
camera knocked sideways) can still be confidently wrong. The gate measures how far a clip's
pooled features are from the nearest class mean (cosine distance in training-centred space) and
calls anything beyond a calibrated threshold `uncertain`. The threshold is a high quantile of
held-out in-distribution distances (leave-one-out distances of the training clips to their
nearest class mean), so the training clips do not flatter it. It is the same for every probe type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.model.probes.geometry import ClassMeans

QUANTILE = 0.99
"""The share of held-out in-distribution clips that must pass the gate."""
UNCALIBRATED = 2.0
"""The largest cosine distance: with one clip per class there is nothing held out to calibrate on, so all pass."""


@dataclass(frozen=True)
class DistanceGate:
    means: ClassMeans
    threshold: float
    """Cosine distances above this are "far from every training class"."""

    @classmethod
    def fit(cls, features: FeatureSet, y: np.ndarray, n_classes: int) -> DistanceGate:
        means, cos, usable = ClassMeans.fit(features.pooled, y, n_classes)
        held_out = 1.0 - cos.max(axis=1)[usable]
        threshold = float(np.quantile(held_out, QUANTILE)) if held_out.size else UNCALIBRATED
        return cls(means, threshold)

    def distances(self, features: FeatureSet) -> np.ndarray:
        """Cosine distance (0..2) of each clip to its nearest class mean."""
        return 1.0 - self.means.cosines(features.pooled).max(axis=1)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"mean": self.means.mean, "centroids": self.means.centroids}

    def hparams(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "quantile": QUANTILE}

    @staticmethod
    def tensor_shapes(dim: int, n_classes: int) -> dict[str, tuple[int, ...]]:
        return ClassMeans.tensor_shapes(dim, n_classes)

    @classmethod
    def restore(cls, tensors: dict[str, np.ndarray], hparams: dict[str, Any]) -> DistanceGate:
        return cls(ClassMeans(tensors["mean"], tensors["centroids"]), float(hparams["threshold"]))
