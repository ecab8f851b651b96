"""Softmax temperatures fitted by held-out likelihood: inside a head (on its own validation scores), and over a
whole probe (on the held-out folds of its cross-validation), so a probability of 0.9 is right nine times in ten.

A probe's heads choose their own temperature on clips that also chose their weights or their epoch, and a
probe trained on one session of a room is surer of itself than clips from another session bear out: the
demo's probe answered 1.00 on windows it got wrong. `calibrate` fits one more temperature on the
probabilities the cross-validation's held-out folds received, the clips no fitted number of their fold saw,
and the probe applies it to every prediction (`TrainedProbe.predict_proba`). Dividing the log-probabilities
by a temperature keeps every prediction's ranking, so accuracy is unchanged and only the confidence moves.
"""

from __future__ import annotations

import numpy as np

from classroom_mode.model.probes.card import Calibration
from classroom_mode.model.probes.geometry import softmax

PROBE_TEMPERATURES = tuple(float(t) for t in np.geomspace(0.2, 50.0, 161))
"""Temperatures tried over a whole probe's held-out probabilities: from sharpening by 5 to flattening by 50."""
_TINY = float(np.finfo(np.float32).tiny)
"""A probability of exactly 0 (under what a float32 head can hold) taken as the least it can, so its logarithm
stays finite."""


def negative_log_likelihood(probabilities: np.ndarray, y: np.ndarray) -> float:
    """Mean -log p(true class) of (n, C) probabilities; what a temperature is chosen to lower."""
    return float(-np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-12, 1.0)).mean())


def fit_temperature(scores: np.ndarray, y: np.ndarray, candidates: tuple[float, ...]) -> float:
    """The softmax temperature with the lowest negative log-likelihood of held-out scores (n, C)."""
    nll = [negative_log_likelihood(softmax(scores / t), y) for t in candidates]
    return float(candidates[int(np.argmin(nll))])


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """(n, C) probabilities with their log divided by `temperature` and renormalised (1: unchanged)."""
    if temperature == 1.0:
        return probabilities
    return softmax(np.log(np.maximum(probabilities, _TINY)) / temperature)


def calibrate(held_out: np.ndarray, y: np.ndarray) -> Calibration:
    """The temperature that best explains held-out probabilities (n, C) of clips whose true classes are `y`."""
    temperature = fit_temperature(np.log(np.maximum(held_out, _TINY)), y, PROBE_TEMPERATURES)
    return Calibration(
        temperature=temperature,
        clips=len(y),
        nll=negative_log_likelihood(held_out, y),
        calibrated_nll=negative_log_likelihood(with_temperature(held_out, temperature), y),
    )
