"""Nearest-prototype probe: cosine to each class's mean direction, for a handful of clips per mode.

With five clips a mode there is too little data to fit weights; a class mean is the one
estimate that is still stable. The softmax temperature is the only fitted number, chosen on
leave-one-out cosines so it is not tuned on clips scoring against means they are part of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from classroom_mode.model.probes.calibration import fit_temperature
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.model.probes.geometry import ClassMeans, softmax

TEMPERATURES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
DEFAULT_TEMPERATURE = 0.1
"""Used when no class has two clips, so no held-out cosine exists to choose by."""


@dataclass(frozen=True)
class PrototypeHead:
    kind: ClassVar[str] = "prototype"
    means: ClassMeans
    temperature: float

    @classmethod
    def fit(cls, features: FeatureSet, y: np.ndarray, n_classes: int, *, seed: int = 0) -> PrototypeHead:
        means, cos, usable = ClassMeans.fit(features.pooled, y, n_classes)
        temperature = fit_temperature(cos[usable], y[usable], TEMPERATURES) if usable.any() else DEFAULT_TEMPERATURE
        return cls(means, temperature)

    def predict_proba(self, features: FeatureSet) -> np.ndarray:
        return softmax(self.means.cosines(features.pooled) / self.temperature)

    def attention(self, features: FeatureSet) -> None:
        return None

    def tensors(self) -> dict[str, np.ndarray]:
        return {"mean": self.means.mean, "centroids": self.means.centroids}

    def hparams(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "temperature_grid": list(TEMPERATURES)}

    @classmethod
    def tensor_shapes(cls, hparams: dict[str, Any], dim: int, n_classes: int) -> dict[str, tuple[int, ...]]:
        return ClassMeans.tensor_shapes(dim, n_classes)

    @classmethod
    def restore(cls, tensors: dict[str, np.ndarray], hparams: dict[str, Any]) -> PrototypeHead:
        return cls(ClassMeans(tensors["mean"], tensors["centroids"]), float(hparams["temperature"]))
