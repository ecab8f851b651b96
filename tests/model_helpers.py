"""Fixtures shared by the backbone, preprocessing, cache and embed tests: tiny saved models and tiny clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import VJEPA2Model

from classroom_mode.model.configs import named_config
from classroom_mode.video.writer import write_mp4


def tiny_model(seed: int = 1, **overrides: object) -> VJEPA2Model:
    """A `config:tiny`-shaped VJEPA2Model with seeded random weights, in eval mode."""
    config = named_config("tiny")
    for name, value in overrides.items():
        setattr(config, name, value)
    torch.manual_seed(seed)
    return VJEPA2Model(config).eval()


def save_tiny(directory: Path, seed: int = 1, **overrides: object) -> VJEPA2Model:
    """Save a tiny model with `save_pretrained` (config.json + model.safetensors); returns the model."""
    model = tiny_model(seed, **overrides)
    model.save_pretrained(directory)
    return model


def edit_config(directory: Path, **changes: object) -> None:
    config_file = directory / "config.json"
    raw = json.loads(config_file.read_text())
    raw.update(changes)
    config_file.write_text(json.dumps(raw))


def moving_frames(num_frames: int = 24, height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: a smooth gradient with a moving bright square, so clips differ by seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, rng.integers(0, 255))], -1)
    frames = np.repeat(base[None], num_frames, axis=0).astype(np.uint8)
    for t in range(num_frames):
        x = (t * 3 + seed * 7) % (width - 16)
        frames[t, 20:36, x : x + 16] = 255
    return frames


def write_clip(path: Path, seed: int = 0, num_frames: int = 24) -> Path:
    return write_mp4(path, moving_frames(num_frames, seed=seed), fps=8.0)
