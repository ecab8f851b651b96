"""The tensor preprocessing against an independent reference built with PIL (the official processor's recipe)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from classroom_mode.model.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess_video, resample_indices
from model_helpers import moving_frames


def pil_reference(frames: np.ndarray, crop: int) -> np.ndarray:
    """Short edge → int(crop·256/224) with PIL's antialiased bilinear, centre crop, /255, ImageNet normalisation."""
    out = []
    for frame in frames:
        height, width = frame.shape[:2]
        short = int(crop * 256 / 224)
        size = (short, int(short * height / width)) if width <= height else (int(short * width / height), short)
        image = np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR), dtype=np.float64)
        top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
        image = image[top : top + crop, left : left + crop] / 255.0
        out.append(((image - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
    return np.stack(out)


@pytest.mark.parametrize(("height", "width", "crop"), [(480, 640, 256), (360, 200, 64), (64, 64, 64)])
def test_matches_pil_reference_within_one_grey_level(height, width, crop):
    rng = np.random.default_rng(0)
    frames = moving_frames(4, height, width).astype(np.int16) + rng.integers(-20, 20, (4, height, width, 3))
    frames = frames.clip(0, 255).astype(np.uint8)
    ours = preprocess_video(frames, crop_size=crop, num_frames=4).numpy()
    reference = pil_reference(frames, crop)
    assert ours.shape == reference.shape == (4, 3, crop, crop) and ours.dtype == np.float32
    # both round the resized frame to uint8; allow one grey level (/255/std) for rounding differences
    one_level = 1 / 255 / min(IMAGENET_STD) + 1e-6
    assert np.abs(ours - reference).max() <= one_level
    assert np.abs(ours - reference).mean() < 0.05 * one_level


def test_frames_are_resampled_uniformly_with_both_ends():
    assert resample_indices(48, 16).tolist()[:3] == [0, 3, 6] and resample_indices(48, 16)[-1] == 47
    assert resample_indices(8, 16).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    frames = np.stack([np.full((32, 32, 3), i, np.uint8) for i in range(48)])
    out = preprocess_video(frames, crop_size=32, num_frames=16)
    first_pixel = out[:, 0, 0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    assert torch.allclose(first_pixel * 255, torch.tensor(resample_indices(48, 16), dtype=torch.float32), atol=1e-3)


def test_rejects_frames_that_are_not_uint8_rgb():
    with pytest.raises(ValueError, match="uint8"):
        preprocess_video(np.zeros((4, 32, 32, 3), np.float32), crop_size=32, num_frames=4)
