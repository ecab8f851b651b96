"""Training clips held in memory, decoded once, and the batches drawn from them.

Decoding a clip costs far more than a training step of a tiny model, so every clip is decoded once into a
uint8 tensor at the model's resize size (short edge `crop × 256/224`, centre square), saved as one safetensors
file beside the checkpoints, and reused on resume. Each batch then draws clips with the trainer's seeded
generator and applies the official video augmentation: one random resized crop per clip (the same window on
every frame), scaled to the crop size and normalised with the ImageNet statistics the backbone uses.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from classroom_mode.errors import ClassroomModeError
from classroom_mode.model.jepa.masks import randint, uniform
from classroom_mode.model.preprocess import IMAGENET_MEAN, IMAGENET_STD, resize_size

ASPECT_RATIO = (0.75, 1.35)
"""Aspect-ratio range of the random resized crop (official V-JEPA video augmentation)."""


def square_frames(frames: np.ndarray | torch.Tensor, side: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, side, side) uint8: centre square of the short edge, antialiased resize."""
    video = torch.as_tensor(frames).permute(0, 3, 1, 2).contiguous()
    height, width = video.shape[-2:]
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    video = video[..., top : top + short, left : left + short]
    if short != side:
        video = F.interpolate(video, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return video


class ClipBank:
    """Decoded training clips, (N, T, 3, S, S) uint8, and the augmented batches the trainer consumes."""

    def __init__(self, frames: torch.Tensor, crop_size: int, sources: Sequence[str] = ()) -> None:
        if frames.ndim != 5 or frames.dtype != torch.uint8 or frames.shape[2] != 3:
            raise ValueError(f"clip bank must be (N, T, 3, S, S) uint8, got {tuple(frames.shape)} {frames.dtype}")
        self.frames = frames
        self.crop_size = crop_size
        self.sources = list(sources)
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @classmethod
    def decode(
        cls,
        paths: Sequence[Path],
        *,
        num_frames: int,
        crop_size: int,
        read: Callable[[Path, int], np.ndarray],
        on_skip: Callable[[Path, str], None],
        on_progress: Callable[[], None] = lambda: None,
    ) -> ClipBank:
        """Decode each clip with `read(path, num_frames)`; unreadable ones go to `on_skip` and are left out."""
        side = resize_size(crop_size)
        clips, sources = [], []
        for path in paths:
            try:
                clips.append(square_frames(read(path, num_frames), side))
                sources.append(str(path))
            except ClassroomModeError as exc:
                on_skip(path, str(exc).removeprefix(f"{path}: "))
            on_progress()
        if not clips:
            return cls(torch.empty(0, num_frames, 3, side, side, dtype=torch.uint8), crop_size)
        return cls(torch.stack(clips), crop_size, sources)

    def save(self, path: Path, fingerprint: str) -> None:
        """Write the bank atomically as safetensors; `fingerprint` names the file list it was decoded from."""
        tmp = path.with_name(f".{path.name}.partial")
        metadata = {"fingerprint": fingerprint, "crop_size": str(self.crop_size), "sources": json.dumps(self.sources)}
        save_file({"frames": self.frames.contiguous()}, str(tmp), metadata=metadata)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> ClipBank | None:
        """The bank saved at `path` if it was decoded from the same files, else None."""
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                if metadata.get("fingerprint") != fingerprint:
                    return None
                frames = handle.get_tensor("frames")
        except (OSError, SafetensorError):
            return None
        return cls(frames, int(metadata["crop_size"]), json.loads(metadata["sources"]))

    def batch(self, batch_size: int, generator: torch.Generator, scale: tuple[float, float]) -> torch.Tensor:
        """A random batch, (B, T, 3, crop, crop) float32, each clip with its own random resized crop."""
        picks = torch.randint(len(self), (batch_size,), generator=generator)
        return torch.stack([self._augment(self.frames[int(i)], generator, scale) for i in picks])

    def _augment(self, video: torch.Tensor, generator: torch.Generator, scale: tuple[float, float]) -> torch.Tensor:
        side = video.shape[-1]
        area = side * side * uniform(scale, generator)
        log_ratio = uniform((math.log(ASPECT_RATIO[0]), math.log(ASPECT_RATIO[1])), generator)
        ratio = math.exp(log_ratio)
        width = min(side, max(1, round(math.sqrt(area * ratio))))
        height = min(side, max(1, round(math.sqrt(area / ratio))))
        top, left = randint(side - height + 1, generator), randint(side - width + 1, generator)
        window = video[..., top : top + height, left : left + width].float()
        window = F.interpolate(window, size=(self.crop_size, self.crop_size), mode="bilinear", align_corners=False)
        return self._normalise(window)

    def _normalise(self, video: torch.Tensor) -> torch.Tensor:
        return (video.float() / 255.0 - self._mean) / self._std


def files_fingerprint(paths: Sequence[Path], num_frames: int, crop_size: int) -> str:
    """Identity of a decoded bank: each file's path, size and modification time, and the decode geometry."""
    entries = []
    for path in paths:
        stat = path.stat()
        entries.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    payload = json.dumps({"files": entries, "frames": num_frames, "crop": crop_size}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
