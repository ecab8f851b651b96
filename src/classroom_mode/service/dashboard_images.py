"""The dashboard's images, drawn on the server so the page needs no plotting library and no CDN.

Frames become JPEG with Pillow. The attention heatmap and the confusion matrix are the probe
package's own pictures (`classroom_mode.model.probes.plots`), so the dashboard shows exactly what
`classify --explain` and `evaluate --confusion` write. The learning curve is drawn here on a bare
matplotlib `Figure` (no pyplot state, safe on the server's worker threads).
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

STRIP_FRAMES = 8
STRIP_HEIGHT = 144
THUMBNAIL_WIDTH = 480
_PYPLOT = threading.Lock()


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _resized(frame: np.ndarray, *, width: int | None = None, height: int | None = None) -> Image.Image:
    """The frame scaled to `width` or to `height`, keeping its aspect ratio."""
    image = Image.fromarray(frame)
    if width is not None:
        height = max(1, round(image.height * width / image.width))
    else:
        assert height is not None, "give a width or a height"
        width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def thumbnail_jpeg(frame: np.ndarray, width: int = THUMBNAIL_WIDTH) -> bytes:
    """One (H, W, 3) uint8 frame as a JPEG no wider than `width`."""
    return _jpeg(_resized(frame, width=min(width, frame.shape[1])))


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
    return _jpeg(strip)


def attention_png(frame: np.ndarray, attention: np.ndarray) -> bytes:
    """The probe's (rows, cols) attention over the part of the frame the encoder saw, as `classify --explain`."""
    from classroom_mode.model.probes.plots import save_attention_png

    return _drawn_by_probe_plots(lambda path: save_attention_png(frame, np.asarray(attention), path))


def confusion_png(classes: Sequence[str], matrix: Sequence[Sequence[float]]) -> bytes:
    """The cross-validation confusion matrix, as `classroom-mode evaluate --confusion` draws it."""
    from classroom_mode.model.probes.plots import save_confusion_png

    counts = np.asarray(matrix, dtype=np.float64)
    return _drawn_by_probe_plots(lambda path: save_confusion_png(counts, list(classes), path))


def _drawn_by_probe_plots(draw: Callable[[Path], Path]) -> bytes:
    """Run one of the probe package's PNG writers and return its bytes.

    They draw with pyplot, whose figure registry is process-global, and the server answers on several
    threads: one drawing at a time. They write a file (atomically); a scratch directory holds it.
    """
    with _PYPLOT, tempfile.TemporaryDirectory(prefix="classroom-mode-plot-") as scratch:
        return draw(Path(scratch) / "plot.png").read_bytes()


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
