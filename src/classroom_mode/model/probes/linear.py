"""Linear probe: multinomial logistic regression on standardised pooled vectors (the baseline probe).

Fitted with scikit-learn, then kept as plain arrays (mean, scale, weight, bias) so it saves as
safetensors and predicts with one matrix product: no pickled estimator ever leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from classroom_mode.model.compute import one_thread
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.model.probes.geometry import softmax

C_GRID = (0.01, 0.1, 1.0, 10.0)
"""Inverse regularisation strengths tried by inner cross-validation on the training clips only."""


@dataclass(frozen=True)
class LinearHead:
    kind: ClassVar[str] = "linear"
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    """(C, D): one row of logits per class, also for two classes (row 0 is then all zeros)."""
    bias: np.ndarray
    c: float

    @classmethod
    def fit(cls, features: FeatureSet, y: np.ndarray, n_classes: int, *, seed: int = 0) -> LinearHead:
        x = features.pooled.astype(np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 1e-8, scale, 1.0)
        xs = (x - mean) / scale
        # one BLAS thread: these matrices are tiny, and on a busy machine extra threads only spin (6x slower here)
        with one_thread():
            c = _choose_c(xs, y, seed)
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(xs, y)
        weight, bias = model.coef_, model.intercept_
        if n_classes == 2:  # scikit-learn keeps one logit for two classes; softmax([0, z]) == sigmoid(z)
            weight, bias = np.vstack([np.zeros_like(weight), weight]), np.concatenate([[0.0], bias])
        return cls(mean, scale, weight, bias, c)

    def predict_proba(self, features: FeatureSet) -> np.ndarray:
        logits = ((features.pooled - self.mean) / self.scale) @ self.weight.T + self.bias
        return softmax(logits)

    def attention(self, features: FeatureSet) -> None:
        return None

    def tensors(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "weight": self.weight, "bias": self.bias}

    def hparams(self) -> dict[str, Any]:
        return {"C": self.c, "C_grid": list(C_GRID), "class_weight": "balanced"}

    @classmethod
    def tensor_shapes(cls, hparams: dict[str, Any], dim: int, n_classes: int) -> dict[str, tuple[int, ...]]:
        return {"mean": (dim,), "scale": (dim,), "weight": (n_classes, dim), "bias": (n_classes,)}

    @classmethod
    def restore(cls, tensors: dict[str, np.ndarray], hparams: dict[str, Any]) -> LinearHead:
        return cls(tensors["mean"], tensors["scale"], tensors["weight"], tensors["bias"], float(hparams["C"]))


def _choose_c(xs: np.ndarray, y: np.ndarray, seed: int) -> float:
    """The C with the best inner-CV log-loss; 1.0 when a class is too small to split."""
    folds = min(3, int(np.bincount(y).min()))
    if folds < 2:
        return 1.0
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = [
        cross_val_score(
            LogisticRegression(C=c, class_weight="balanced", max_iter=5000), xs, y, cv=split, scoring="neg_log_loss"
        ).mean()
        for c in C_GRID
    ]
    return float(C_GRID[int(np.argmax(scores))])
