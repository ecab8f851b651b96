"""The official V-JEPA 2 video preprocessing, on tensors, without torchvision.

`transformers`' `VJEPA2VideoProcessor` (the reference) does, per frame: resize the short edge to
`int(crop × 256 / 224)` (292 for 256) with torchvision's bilinear resize, antialiased, ON THE uint8
FRAMES (so the resized frames are rounded back to uint8); the long edge becomes
`int(short_target × long / short)`; centre crop `crop × crop` at `int((size − crop) / 2)`; scale by
1/255; normalise with the ImageNet mean and std. torchvision's uint8 bilinear-antialias resize is
`torch.nn.functional.interpolate(..., antialias=True)` on the uint8 tensor, so calling that directly
reproduces it exactly, and torchvision is not needed.

Frames are first resampled uniformly to the number the model is fed (a multiple of its tubelet size).
The model's RoPE positions assume `config.crop_size`: any other size runs silently wrong, so the crop
size always comes from the backbone's config.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from classroom_mode.video.decode import short_side_size

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_RATIO = 256 / 224
"""Short edge after resizing = int(crop × 256/224), as the official processor."""
PREPROCESS_VERSION = "vjepa2-official-v1"
"""Names this exact recipe; part of the backbone fingerprint, so a change here invalidates cached embeddings."""


def resize_size(crop_size: int) -> int:
    """Short-edge length before the centre crop (292 for a 256 crop)."""
    return int(crop_size * RESIZE_RATIO)


def resample_indices(num_available: int, num_frames: int) -> np.ndarray:
    """`num_frames` indices spread uniformly over `num_available` frames, first and last included.

    Fewer frames than wanted repeats some (nearest-neighbour in time), which keeps the clip's duration.
    """
    if num_available < 1:
        raise ValueError("a clip needs at least one frame")
    return np.rint(np.linspace(0, num_available - 1, num_frames)).astype(np.int64)


def preprocess_video(frames: np.ndarray | torch.Tensor, *, crop_size: int, num_frames: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB → (num_frames, 3, crop, crop) float32, normalised like the official processor."""
    return normalise(centre_crop_video(frames, crop_size=crop_size, num_frames=num_frames))


def centre_crop_video(frames: np.ndarray | torch.Tensor, *, crop_size: int, num_frames: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB → (num_frames, 3, crop, crop) uint8: resampled, resized and centre-cropped."""
    video = torch.as_tensor(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != torch.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {tuple(video.shape)} {video.dtype}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    index = torch.from_numpy(resample_indices(video.shape[0], num_frames))
    video = video[index].permute(0, 3, 1, 2).contiguous()  # (T, 3, H, W) uint8
    height, width = video.shape[-2:]
    # transformers' get_resize_output_image_size(default_to_square=False): the long edge is truncated, not rounded
    out_w, out_h = short_side_size(width, height, resize_size(crop_size))
    if (out_h, out_w) != (height, width):
        video = F.interpolate(video, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
    top, left = int((out_h - crop_size) / 2.0), int((out_w - crop_size) / 2.0)
    return video[..., top : top + crop_size, left : left + crop_size]


def normalise(video: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) pixels in 0–255 (uint8 or float) → float32 scaled to [0, 1] and normalised with ImageNet's
    mean and std."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (video.float() / 255.0 - mean) / std
