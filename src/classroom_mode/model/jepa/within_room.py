"""Objective terms computed within a room group: what differs between windows of one fixed camera.

A room-grouped batch is R rooms × G windows (room after room), and the G windows of a room share their crop
and their mask, so token position p shows the same piece of the same room in each of them. Two levers use
that structure against the slow-feature shortcut (a JEPA encoding the room, constant within a clip, and
dropping the few patches of people, the part that is hard to predict):

- `centre_per_room`: regression targets minus the room's mean target token at each position. What is left is
  each window's deviation from its room (the people, their pose and place, the light), so predicting the
  room's furniture no longer lowers the loss at all.
- `variance_covariance`: VICReg's variance and covariance terms (Bardes et al. 2022) on context tokens centred
  the same way, so the encoder cannot give every window of a room the same tokens (variance hinge at 1 per
  dimension) or spend its dimensions on one direction (off-diagonal covariance).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def by_room(tokens: torch.Tensor, windows_per_room: int) -> torch.Tensor:
    """(R·G, ..., D) → (R, G, ..., D): the windows of each room together."""
    return tokens.reshape(tokens.shape[0] // windows_per_room, windows_per_room, *tokens.shape[1:])


def centre_per_room(tokens: torch.Tensor, windows_per_room: int) -> torch.Tensor:
    """(R·G, N, D) tokens minus the mean over each room's G windows at every token position."""
    grouped = by_room(tokens, windows_per_room)
    return (grouped - grouped.mean(dim=1, keepdim=True)).reshape(tokens.shape)


def variance_covariance(tokens: torch.Tensor, windows_per_room: int) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg's (variance, covariance) terms of (R·G, n, D) tokens, within rooms and positions.

    Tokens are layer-normalised without gain (unit scale per token, so the hinge at 1 means "as varied within
    a room as a token is across its own dimensions"), centred per room and position, then pooled over rooms,
    windows and positions: variance = mean over dimensions of relu(1 − std); covariance = sum of squared
    off-diagonal entries of the covariance matrix / D.
    """
    normed = F.layer_norm(tokens.float(), (tokens.shape[-1],))
    centred = centre_per_room(normed, windows_per_room).reshape(-1, tokens.shape[-1])
    # each room and position loses one degree of freedom to its own mean
    dof = max(1, centred.shape[0] - centred.shape[0] // windows_per_room)
    covariance = centred.T @ centred / dof
    std = torch.sqrt(covariance.diagonal() + 1e-4)
    off_diagonal = covariance - torch.diag(covariance.diagonal())
    return F.relu(1.0 - std).mean(), off_diagonal.pow(2).sum() / tokens.shape[-1]
