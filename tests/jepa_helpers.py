"""Tiny V-JEPA models, recipes and clips for the world-model tests: small enough to train a step in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import VJEPA2Model

from classroom_mode.model.jepa.data import ClipBank
from classroom_mode.model.jepa.recipe import PretrainRecipe
from classroom_mode.video.writer import write_mp4

TINY: dict[str, Any] = {
    "crop_size": 64,
    "frames_per_clip": 8,
    "tubelet_size": 2,
    "patch_size": 16,
    "hidden_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "mlp_ratio": 2.0,
    "pred_hidden_size": 32,
    "pred_num_hidden_layers": 2,
    "pred_num_attention_heads": 2,
    "pred_mlp_ratio": 2.0,
    "pred_num_mask_tokens": 2,
    "num_pooler_layers": 1,
}
"""64 px, 8 frames → 4 tubelets × 4 × 4 = 64 tokens."""


def tiny_recipe(**overrides: Any) -> PretrainRecipe:
    return PretrainRecipe(**({"model": TINY, "steps": 20, "batch_size": 2, "warmup_steps": 2} | overrides))


def tiny_model(seed: int = 0) -> VJEPA2Model:
    torch.manual_seed(seed)
    return VJEPA2Model(tiny_recipe().model_config_object()).eval()


def random_bank(clips: int = 4, seed: int = 0) -> ClipBank:
    """A bank of smooth random clips at the tiny model's geometry (73 px squares for a 64 px crop)."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (clips, TINY["frames_per_clip"], 3, 73, 73), generator=generator, dtype=torch.uint8)
    return ClipBank(frames, TINY["crop_size"])


def pixel_batch(batch: int = 2, frames: int = 8, seed: int = 0) -> torch.Tensor:
    """Normalised-looking pixel values (B, T, 3, 64, 64)."""
    return torch.randn(batch, frames, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def write_clips(folder: Path, count: int, seed: int = 0, frames: int = 12, size: int = 48) -> list[Path]:
    """`count` short MP4 clips of moving noise, written with the project's writer."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        video = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
        paths.append(write_mp4(folder / f"clip-{index:02d}.mp4", video, fps=8.0))
    return paths
