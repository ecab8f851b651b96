"""How many frames a clip gives the model and the token grid they make: the one computation the backbone, the
pretraining recipe, the mask sampler and the surprise model share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FRAMES_PER_CLIP = 16
"""Frames fed per clip at most. The official checkpoints' `frames_per_clip` of 64 is their pretraining length;
our clips are ~3 s, and RoPE positions are per tubelet, so any whole number of tubelets runs correctly."""


def clip_frames(model_frames: int, tubelet: int) -> int:
    """Frames per clip for a model whose config says `model_frames`: capped at FRAMES_PER_CLIP, a whole number
    of tubelets, at least one tubelet."""
    frames = min(model_frames, FRAMES_PER_CLIP)
    return max(tubelet, frames - frames % tubelet)


@dataclass(frozen=True)
class TokenGrid:
    """The (tubelets, rows, columns) token grid of a clip for a given model geometry."""

    depth: int
    height: int
    width: int

    @classmethod
    def for_config(cls, config: Any, frames: int | None = None) -> TokenGrid:
        """The grid a `VJEPA2Config` (or its fields as a mapping) gives a clip at its `crop_size`, of `frames`
        frames (default: `clip_frames` of the model's own)."""
        get = config.get if isinstance(config, Mapping) else lambda name, default: getattr(config, name, default)
        tubelet, patch = get("tubelet_size", 2), get("patch_size", 16)
        if frames is None:
            frames = clip_frames(get("frames_per_clip", FRAMES_PER_CLIP), tubelet)
        side = get("crop_size", 256) // patch
        return cls(frames // tubelet, side, side)

    @property
    def num_tokens(self) -> int:
        return self.depth * self.height * self.width

    def astuple(self) -> tuple[int, int, int]:
        return self.depth, self.height, self.width
