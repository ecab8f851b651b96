"""Erasing the room at the input: every frame minus its camera's reference, the room with nobody in it.

A fixed camera's room is the slowest feature there is: constant within a clip, different between cameras, and
what a JEPA locks onto first (Sobal et al. 2022, arXiv 2211.10831; Background Erasing, CVPR 2021). Subtracting
a per-camera reference leaves people, and what they move, as almost all that differs from mid-grey. Measured
(docs/experiments/worldmodel.md, "Erasing the room at the input"): it lifts the per-room probes of random-weight
networks by 4–11 points; a model pretrained on erased windows does no better than its random twin fed them, and
the shipped model, pretrained on plain clips, loses with it, so probes erase only when asked to.

    erased = (frame − reference) / 2 + mid-grey

Halving keeps the result inside the pixel range without clipping, so the usual ImageNet normalisation follows
unchanged. A model pretrained on erased windows says so in its config (`ERASED_INPUT`) and is only ever fed
erased clips. Its references come from the data: in pretraining, the per-pixel median over all of a camera's
windows (no label read; a person covers a pixel less than half the time); for a probe and the live loop, the
median over the room's clips of its `empty` mode, stored with the probe.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

CONFIG_KEY = "classroom_mode_input"
"""The config.json attribute that names what a model expects as input."""
ERASED_INPUT = "room-erased"
"""Its value for a model pretrained on room-erased windows."""


def reference_frame(frames: torch.Tensor) -> torch.Tensor:
    """The per-pixel median over every frame of `frames` (..., C, H, W), as float: (C, H, W)."""
    return frames.flatten(0, -4).float().median(dim=0).values


def erase(frames: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(frame − reference) / 2 + mid-grey, as float, for pixels and reference in 0–255."""
    return (frames.float() - reference) / 2 + 127.5


def erase_uint8(frames: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`erase` on uint8 frames, rounded back to uint8 (the pretraining bank keeps its clips as uint8)."""
    return erase(frames, reference).round().clamp(0, 255).to(torch.uint8)


def erased_fingerprint(fingerprint: str, reference: torch.Tensor) -> str:
    """The identity of a model's features of room-erased clips, so erased and plain features (or features erased
    with another room's reference) never share a cache entry or feed each other's probes."""
    data = np.ascontiguousarray(reference.detach().to(torch.float32).cpu().numpy())
    return hashlib.sha256(fingerprint.encode() + b"|erased|" + data.tobytes()).hexdigest()[:16]
