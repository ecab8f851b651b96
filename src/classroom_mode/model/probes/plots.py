"""PNG pictures of a probe's behaviour: the confusion matrix, where the attentive probe looked, the learning curve.

Each is drawn on a bare matplotlib `Figure` with the Agg canvas and returned as PNG bytes: no pyplot and its
process-wide figure registry, so the dashboard's worker threads can draw at once, and no file unless the caller
writes one (`classify --explain` and `evaluate --confusion` do, the dashboard answers with the bytes).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from classroom_mode.model.preprocess import RESIZE_RATIO
from classroom_mode.model.probes.card import Confusion


def confusion_png(matrix: Confusion, title: str = "") -> bytes:
    """Row-normalised confusion matrix (counts written in each cell); rows are true modes."""
    confusion, classes = np.asarray(matrix.matrix, dtype=np.float64), matrix.classes
    totals = confusion.sum(axis=1, keepdims=True)
    shares = confusion / np.maximum(totals, 1)
    size = 1.2 + 0.9 * len(classes)
    figure = Figure(figsize=(size + 1.5, size), layout="tight")
    axes = figure.add_subplot()
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
    return _png(figure)


def attention_png(frame: np.ndarray, attention: np.ndarray, caption: str = "") -> bytes:
    """The frame's centre crop (the part the encoder saw) with the (rows, cols) attention over it as a heatmap."""
    frame = encoder_view(frame)
    attention = np.asarray(attention, dtype=np.float64)
    height, width = frame.shape[:2]
    spread = max(float(attention.max() - attention.min()), 1e-12)  # min-max: a near-flat map still shows its peaks
    small = Image.fromarray((255 * (attention - attention.min()) / spread).astype(np.uint8))
    heat = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    figure = Figure(figsize=(6, 6 * height / width + (0.4 if caption else 0)), layout="tight")
    axes = figure.add_subplot()
    axes.imshow(frame)
    axes.imshow(heat, cmap="inferno", alpha=0.5, vmin=0.0, vmax=1.0)
    axes.axis("off")
    if caption:
        axes.set_title(caption)
    return _png(figure)


def learning_curve_png(
    sizes: Sequence[float], means: Sequence[float], stds: Sequence[float] | None, metric: str = "accuracy"
) -> bytes:
    """Cross-validated score against labelled clips per mode, with ± one standard deviation over folds."""
    x = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(means, dtype=np.float64)
    figure = Figure(figsize=(6.0, 3.6), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    axes.plot(x, y, marker="o", color="#0ea5e9")
    if stds is not None:
        spread = np.asarray(stds, dtype=np.float64)
        axes.fill_between(x, y - spread, y + spread, color="#0ea5e9", alpha=0.2, linewidth=0)
    axes.set_xscale("log")
    axes.set_xticks(x, labels=[f"{v:g}" for v in x])
    axes.minorticks_off()
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel("labelled clips per mode")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.set_title("Learning curve")
    return _png(figure, dpi=None)


def encoder_view(frame: np.ndarray) -> np.ndarray:
    """The centre square the official preprocessing keeps: 224/256 of the short edge, so patches line up."""
    height, width = frame.shape[:2]
    side = int(min(height, width) / RESIZE_RATIO)
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top : top + side, left : left + side]


def _png(figure: Figure, dpi: float | None = 100) -> bytes:
    """The figure as PNG bytes (`dpi=None`: the figure's own)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi="figure" if dpi is None else dpi)
    return buffer.getvalue()
