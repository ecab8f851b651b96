"""Does the encoder see people? A pretraining run's early indicator, judged against the weights it started from.

A JEPA's loss says little about what its tokens hold: a run that encodes the room and drops the people
plateaus just as smoothly as one that learns them. On simulator footage the truth is known, so a run can ask
directly, every few hundred steps, on rooms it never trains on (their labels are read here and nowhere else):

- occupancy AUROC: per room, a logistic regression from one token to "a person covers at least a fifth of
  this token's cell", fitted on the windows of the room's first round of visits and scored on its second;
- within-room 1-NN mode accuracy: each window of the second round takes the mode of its nearest first-round
  window (cosine, mean-pooled tokens).

Tokens are the exported encoder's (the EMA teacher, or the student under a frozen one), each minus its room's
mean token at that position, as the attentive probe sees them. A run that trains on room-erased windows is
measured on erased windows too, each room's reference its per-pixel median over all of its windows, as in the
run's own bank. Both numbers are measured for the starting weights first: a run whose tokens do not beat those
(for a run from scratch, the same network with random weights) has learned nothing a probe could use, whatever
its loss says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2Encoder

from classroom_mode.model.compute import one_thread
from classroom_mode.model.erasure import erase, reference_frame
from classroom_mode.model.jepa.summary import IndicatorReading
from classroom_mode.model.preprocess import normalise

COVERED = 0.2
"""Fraction of a token's cell (over its tubelet's frames) a person must cover for the cell to count as occupied."""
FIT_TOKENS = 6000
"""Token rows per room used to fit the occupancy regression (an even stride beyond this)."""


@dataclass(frozen=True)
class IndicatorRoom:
    pixels: torch.Tensor
    """(W, T, 3, S, S) normalised clips, fed to the encoder as they are (no resampling, so cells line up)."""
    occupied: np.ndarray
    """(W, N) bool per token, in the encoder's token order (time, row, column)."""
    modes: list[str]
    first_round: np.ndarray
    """(W,) bool: the window belongs to the room's first round of visits (fit) rather than the second (score)."""


def token_occupancy(people: np.ndarray, tubelet: int, patch: int) -> np.ndarray:
    """(W, T, S, S) person masks → (W, N) bool: which token cells a person covers at least `COVERED` of."""
    windows, frames, side, _ = people.shape
    cells = side // patch
    grid = people.reshape(windows, frames // tubelet, tubelet, cells, patch, cells, patch)
    return (grid.mean(axis=(2, 4, 6)) >= COVERED).reshape(windows, -1)


def indicator_room(  # noqa: PLR0913 -- a room's four arrays, then its keyword-only geometry
    frames: np.ndarray,
    people: np.ndarray,
    modes: Sequence[str],
    visits: Sequence[int],
    *,
    patch: int,
    tubelet: int,
    erase_room: bool = False,
) -> IndicatorRoom:
    """One held-out room of the indicator from its rendered windows: (W, T, S, S, 3) uint8 frames at the model's
    crop size, (W, T, S, S) person masks, each window's mode and visit (room-erased if the model reads erased
    clips). Whoever renders the rooms (the simulator, for `pretrain --indicator-rooms`) passes them in."""
    pixels = torch.from_numpy(frames).permute(0, 1, 4, 2, 3)
    if erase_room:
        pixels = erase(pixels, reference_frame(pixels))
    rounds = np.asarray(visits)
    return IndicatorRoom(
        pixels=normalise(pixels),
        occupied=token_occupancy(people, tubelet, patch),
        modes=list(modes),
        first_round=rounds < (rounds.max() + 1) // 2,
    )


@torch.no_grad()
def _room_tokens(encoder: VJEPA2Encoder, pixels: torch.Tensor, device: torch.device) -> np.ndarray:
    was_training = encoder.training
    encoder.eval()
    chunks = [encoder(chunk.to(device)).last_hidden_state.float().cpu() for chunk in pixels.split(16)]
    encoder.train(was_training)
    tokens = torch.cat(chunks).numpy()
    return tokens - tokens.mean(axis=0, keepdims=True)


def measure(encoder: VJEPA2Encoder, rooms: Sequence[IndicatorRoom], device: torch.device) -> IndicatorReading:
    """The occupancy AUROC and the 1-NN mode accuracy, each the mean over the indicator's rooms."""
    aurocs, accuracies = [], []
    with one_thread():
        for room in rooms:
            tokens = _room_tokens(encoder, room.pixels, device)
            fit, score = room.first_round, ~room.first_round
            x_fit = tokens[fit].reshape(-1, tokens.shape[-1])
            y_fit = room.occupied[fit].reshape(-1)
            stride = max(1, len(x_fit) // FIT_TOKENS)
            x_fit, y_fit = x_fit[::stride], y_fit[::stride]
            y_score = room.occupied[score].reshape(-1)
            if y_fit.any() and not y_fit.all() and y_score.any() and not y_score.all():
                scale = x_fit.std(axis=0) + 1e-6
                regression = LogisticRegression(C=0.1, max_iter=300).fit(x_fit / scale, y_fit)
                x_score = tokens[score].reshape(-1, tokens.shape[-1]) / scale
                aurocs.append(roc_auc_score(y_score, regression.decision_function(x_score)))
            pooled = tokens.mean(axis=1)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True) + 1e-9
            nearest = (pooled[score] @ pooled[fit].T).argmax(axis=1)
            modes = np.array(room.modes)
            accuracies.append(float((modes[fit][nearest] == modes[score]).mean()))
    return IndicatorReading(occupancy_auroc=float(np.mean(aurocs)), knn_mode_accuracy=float(np.mean(accuracies)))
