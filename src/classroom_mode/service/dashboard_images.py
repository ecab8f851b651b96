"""The dashboard's images, drawn on the server so the page needs no plotting library and no CDN.

Frames become JPEG/PNG with Pillow; the probe's plots (confusion matrix, learning curve) are
matplotlib figures on the Agg canvas, built with `Figure` directly (no pyplot global state, so
concurrent requests on the server's worker threads never share a figure).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

STRIP_FRAMES = 8
STRIP_HEIGHT = 144
THUMBNAIL_WIDTH = 480


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {"optimize": True}))
    return buffer.getvalue()


def _resized(frame: np.ndarray, *, width: int | None = None, height: int | None = None) -> Image.Image:
    image = Image.fromarray(frame)
    if width is not None:
        height = max(1, round(image.height * width / image.width))
    elif height is not None:
        width = max(1, round(image.width * height / image.height))
    else:
        return image
    return image.resize((width, height), Image.Resampling.BILINEAR)


def thumbnail_jpeg(frame: np.ndarray, width: int = THUMBNAIL_WIDTH) -> bytes:
    """One (H, W, 3) uint8 frame as a JPEG no wider than `width`."""
    return _encode(_resized(frame, width=min(width, frame.shape[1])), "JPEG")


def frame_strip_jpeg(frames: np.ndarray, count: int = STRIP_FRAMES, height: int = STRIP_HEIGHT) -> bytes:
    """`count` evenly spaced frames of a (T, H, W, 3) clip side by side, as one JPEG (the clip at a glance)."""
    picks = np.unique(np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int))
    tiles = [_resized(frames[i], height=height) for i in picks]
    gap = 4
    strip = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height), (15, 23, 42))
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width + gap
    return _encode(strip, "JPEG")


def attention_png(frame: np.ndarray, attention: np.ndarray, opacity: float = 0.55) -> bytes:
    """The probe's (rows, cols) attention over the patch grid, upsampled and blended over the frame as a heatmap."""
    from matplotlib import colormaps

    weights = np.asarray(attention, dtype=np.float64)
    weights = (weights - weights.min()) / max(float(np.ptp(weights)), 1e-12)
    height, width = frame.shape[:2]
    grid = Image.fromarray((weights * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    heat = colormaps["inferno"](np.asarray(grid, dtype=np.float64) / 255.0)[..., :3]
    blended = (1 - opacity) * frame.astype(np.float64) / 255.0 + opacity * heat
    return _encode(Image.fromarray((blended * 255).round().astype(np.uint8)), "PNG")


def confusion_png(classes: Sequence[str], matrix: Sequence[Sequence[float]], title: str = "Confusion matrix") -> bytes:
    """Counts (rows: true, columns: predicted) with each row's share as the colour, so small classes still read."""
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
    size = 1.2 + 0.9 * len(classes)
    fig = Figure(figsize=(size + 1.2, size), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(classes)), labels=classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), labels=classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for (row, col), count in np.ndenumerate(counts):
        text = f"{count:.0f}" if float(count).is_integer() else f"{count:.2f}"
        ax.text(col, row, text, ha="center", va="center", color="white" if shares[row, col] > 0.55 else "#0f172a")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def learning_curve_png(
    sizes: Sequence[float], means: Sequence[float], stds: Sequence[float] | None, metric: str = "accuracy"
) -> bytes:
    """Cross-validated score against labelled clips per mode, with ± one standard deviation over folds."""
    from matplotlib.figure import Figure

    x = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(means, dtype=np.float64)
    fig = Figure(figsize=(6.0, 3.6), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(x, y, marker="o", color="#0ea5e9")
    if stds is not None:
        spread = np.asarray(stds, dtype=np.float64)
        ax.fill_between(x, y - spread, y + spread, color="#0ea5e9", alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(x, labels=[f"{v:g}" for v in x])
    ax.minorticks_off()
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("labelled clips per mode")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.set_title("Learning curve")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
