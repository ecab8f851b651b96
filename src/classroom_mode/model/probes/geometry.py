"""Cosine geometry around class means, shared by the prototype probe and the distance gate.

Both need "how close is this clip to each class's centre" and both need an honest, held-out
version of that number on the training clips themselves: a clip always looks close to a mean
it helped compute. Leave-one-out centroids give that held-out number in closed form, without
refitting anything. Features are centred on the training mean first: backbone features share a
large common direction that would otherwise make every cosine look alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassMeans:
    mean: np.ndarray
    """(D,) training mean the features are centred on."""
    centroids: np.ndarray
    """(C, D) unit mean direction of each class in centred space."""

    @classmethod
    def fit(cls, pooled: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[ClassMeans, np.ndarray, np.ndarray]:
        """Class means, plus each training clip's held-out cosines to every class (n, C) and which are usable.

        A clip's cosine to its own class uses that class's mean computed without it; a clip alone in
        its class has no such mean and is marked unusable.
        """
        mean = pooled.mean(axis=0)
        unit = unit_rows(pooled - mean)
        sums = np.zeros((n_classes, unit.shape[1]), dtype=np.float64)
        np.add.at(sums, y, unit)
        counts = np.bincount(y, minlength=n_classes)
        cos = unit @ unit_rows(sums).T
        cos[np.arange(len(y)), y] = np.sum(unit * unit_rows(sums[y] - unit), axis=1)
        return cls(mean, unit_rows(sums)), cos, counts[y] > 1

    @staticmethod
    def tensor_shapes(dim: int, n_classes: int) -> dict[str, tuple[int, ...]]:
        """What `mean` and `centroids` are for features `dim` wide and `n_classes` classes, as saved."""
        return {"mean": (dim,), "centroids": (n_classes, dim)}

    def cosines(self, pooled: np.ndarray) -> np.ndarray:
        """(n, C) cosine of each clip to each class mean."""
        return unit_rows(pooled - self.mean) @ self.centroids.T


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
