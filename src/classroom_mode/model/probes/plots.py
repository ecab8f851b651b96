"""PNG pictures of a probe's behaviour: the confusion matrix, and where the attentive probe looked.

Drawn with matplotlib's Agg backend (no display needed) and written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from classroom_mode.files import write_bytes
from classroom_mode.model.preprocess import RESIZE_RATIO


def save_confusion_png(confusion: np.ndarray, classes: Sequence[str], path: Path | str, title: str = "") -> Path:
    """Row-normalised confusion matrix (counts written in each cell); rows are true modes."""
    totals = confusion.sum(axis=1, keepdims=True)
    shares = confusion / np.maximum(totals, 1)
    size = 1.2 + 0.9 * len(classes)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(classes)), labels=classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), labels=classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (row, col), count in np.ndenumerate(confusion):
        colour = "white" if shares[row, col] > 0.6 else "black"
        axes.text(col, row, str(int(count)), ha="center", va="center", color=colour)
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes, label="share of the true mode")
    figure.tight_layout()
    return _save(figure, path)


def save_attention_png(frame: np.ndarray, attention: np.ndarray, path: Path | str, caption: str = "") -> Path:
    """The frame's centre crop (the part the encoder saw) with the (rows, cols) attention over it as a heatmap."""
    frame = encoder_view(frame)
    height, width = frame.shape[:2]
    spread = max(float(attention.max() - attention.min()), 1e-12)  # min-max: a near-flat map still shows its peaks
    heat = Image.fromarray((255 * (attention - attention.min()) / spread).astype(np.uint8))
    heat = np.asarray(heat.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    figure, axes = plt.subplots(figsize=(6, 6 * height / width + (0.4 if caption else 0)))
    axes.imshow(frame)
    axes.imshow(heat, cmap="inferno", alpha=0.5, vmin=0.0, vmax=1.0)
    axes.axis("off")
    if caption:
        axes.set_title(caption)
    figure.tight_layout()
    return _save(figure, path)


def encoder_view(frame: np.ndarray) -> np.ndarray:
    """The centre square the official preprocessing keeps: 224/256 of the short edge, so patches line up."""
    height, width = frame.shape[:2]
    side = int(min(height, width) / RESIZE_RATIO)
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top : top + side, left : left + side]


def _save(figure: plt.Figure, path: Path | str) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    path = Path(path)
    write_bytes(path, buffer.getvalue())
    return path
