"""Contact sheets: a PNG grid of a few clips per mode, so a person can see what the simulator makes.

Each row is one mode; each cell is one clip, shown as its first, middle and last frame side by side
(motion shows as change across the three). The clips are the ones a dataset with the same seed holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from classroom_mode.files import atomic_open
from classroom_mode.sim.clips import clip_seed, render_clip
from classroom_mode.sim.scene import MODES, check_modes

_GAP = 6


def contact_sheet(  # noqa: PLR0913 -- keyword-only options, each named at the call
    out: Path | str,
    *,
    clips_per_mode: int = 3,
    modes: Sequence[str] | None = None,
    seconds: float = 3.0,
    fps: float = 16.0,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
) -> Path:
    """Render the first `clips_per_mode` clips of each mode and save them as one PNG grid (atomically)."""
    modes = check_modes(list(modes) if modes is not None else list(MODES))
    width, height = size
    cell_w = 3 * width + 2
    label_h = 14
    sheet = Image.new("RGB", (clips_per_mode * (cell_w + _GAP) + _GAP, len(modes) * (height + label_h + _GAP) + _GAP),
                      (24, 24, 28))  # fmt: skip
    draw = ImageDraw.Draw(sheet)
    for row, mode in enumerate(modes):
        for col in range(clips_per_mode):
            seed_i = clip_seed(seed, mode, col)
            frames, truth = render_clip(mode, seed_i, seconds=seconds, fps=fps, size=size)
            strip = np.concatenate([frames[0], np.zeros((height, 1, 3), np.uint8), frames[len(frames) // 2],
                                    np.zeros((height, 1, 3), np.uint8), frames[-1]], axis=1)  # fmt: skip
            x = _GAP + col * (cell_w + _GAP)
            y = _GAP + row * (height + label_h + _GAP)
            label = f"{mode} #{col}  people={truth['num_people']}  layout={truth['room']['layout']}"
            draw.text((x, y), label, fill=(230, 230, 230))
            sheet.paste(Image.fromarray(strip), (x, y + label_h))
    out = Path(out)
    with atomic_open(out) as handle:
        sheet.save(handle, format="PNG")
    return out
