"""How far a live window sits from the recorded clip of the same frames, to the model, and what closing it costs.

A room's probe learns from recorded files (H.264, 4:2:0 YUV) and reads live windows cut from a camera's RGB
frames. This renders settled clips in the demo's rooms (the demo's clip length, rate and size), records each one
as `record` does (`save_clip`, then `sample_clip`), cuts the live window of the same frames as the live loop does
(`ClipBuilder.latest`, which converts its frames as a stored file holds them: `writer.as_stored`) and, beside it,
the same frames unconverted. It reports each one's distance to the recording in the shipped small model's pooled
embedding, against the spread of a mode's recorded clips around their mean (what a probe must see through) and the
distance between the modes' means (what it must tell apart); then what each way of reading a window costs per
window at a camera's resolution: the conversion alone, or a full H.264 round trip of every frame of the window.

    .venv/bin/python benchmarks/bench_clip_skew.py --rooms 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from classroom_mode.config import SHIPPED_MODEL_ID, ClipSettings
from classroom_mode.model.backbone import load_backbone
from classroom_mode.records import Clip
from classroom_mode.sim.demo_room import CLIP_FPS, CLIP_SECONDS, CLIP_SIZE, room_seed
from classroom_mode.sim.room_dataset import SettledClips
from classroom_mode.video.clips import ClipBuilder, clip_from_frames
from classroom_mode.video.decode import sample_clip
from classroom_mode.video.recorder import save_clip
from classroom_mode.video.source import Frame, HeldFrames
from classroom_mode.video.writer import as_stored, write_mp4
from doc_page import benchmark_page, machine, write_section

NAME = "bench_clip_skew"


def three_readings(images: list[np.ndarray], frames: int, folder: Path) -> dict[str, Clip]:
    """The recording of `images`, the live window of them, and the same frames unconverted."""
    images = [*images, images[-1]]  # one frame past the window, so both cuts can end
    settings = ClipSettings(frames=frames, seconds=CLIP_SECONDS)
    with ClipBuilder(HeldFrames("cam", images, CLIP_FPS), settings) as builder:
        recorded = sample_clip(save_clip(builder.record(0.0, timeout=10), folder, "s1"), frames)
    with ClipBuilder(HeldFrames("cam", images, CLIP_FPS), settings) as builder:
        live = builder.latest(timeout=10)
    assert live is not None
    stamped = [Frame(image, i / CLIP_FPS, datetime.now(UTC)) for i, image in enumerate(images)]
    return {
        "recorded": recorded,
        "live": live,
        "unconverted": clip_from_frames(stamped, 0.0, CLIP_SECONDS, frames, "cam"),
    }


def distances(rooms: list[int], clips_per_mode: int) -> list[str]:
    backbone = load_backbone(SHIPPED_MODEL_ID, device="cpu")
    rows = []
    for room in rooms:
        recording = SettledClips(
            clips_per_mode, seed=room_seed(room), seconds=CLIP_SECONDS, fps=CLIP_FPS, size=CLIP_SIZE
        )
        modes, pooled = [], {"recorded": [], "live": [], "unconverted": []}
        with tempfile.TemporaryDirectory() as folder:
            for k, scene in enumerate(recording):
                readings = three_readings(list(scene.frames), backbone.frames_per_clip, Path(folder) / str(k))
                for name, clip in readings.items():
                    pooled[name].append(backbone.embed([clip])[0].pooled)
                modes.append(scene.mode)
        labels = np.array(modes)
        embedded = {name: np.stack(vectors) for name, vectors in pooled.items()}
        recorded = embedded["recorded"]
        means = {mode: recorded[labels == mode].mean(0) for mode in sorted(set(modes))}
        spread = np.mean([np.linalg.norm(recorded[i] - means[m]) for i, m in enumerate(modes)])
        apart = np.mean([np.linalg.norm(means[a] - means[b]) for a in means for b in means if a < b])
        gap = {name: np.linalg.norm(embedded[name] - recorded, axis=1).mean() for name in ("live", "unconverted")}
        rows.append(
            f"| {room} | {len(modes)} | {gap['unconverted']:.3f} | **{gap['live']:.3f}** | {spread:.3f} | {apart:.3f} |"
        )
        print(rows[-1], flush=True)
    return rows


def costs(width: int, height: int, frames: int, window_frames: int, repeats: int) -> list[str]:
    """Milliseconds per window: converting the sampled frames, against an H.264 round trip of the whole window."""
    generator = np.random.default_rng(0)
    base = generator.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    images = np.stack([np.kron(base, np.ones((8, 8, 1), np.uint8)) for _ in range(window_frames)])
    images = np.clip(images.astype(int) + generator.integers(-3, 4, images.shape), 0, 255).astype(np.uint8)

    def timed(work: Callable[[], object]) -> float:
        work()
        started = time.perf_counter()
        for _ in range(repeats):
            work()
        return (time.perf_counter() - started) / repeats * 1000

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "window.mp4"
        convert = timed(lambda: as_stored(images[:frames]))
        round_trip = timed(lambda: sample_clip(write_mp4(path, images, CLIP_FPS * window_frames / len(images)), frames))
    return [
        f"| {width} × {height} | the {frames} sampled frames converted (`as_stored`, what the live loop does) "
        f"| {convert:.0f} ms |",
        f"| {width} × {height} | every one of the window's {window_frames} frames through H.264 and back | "
        f"{round_trip:.0f} ms |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="demo room seeds (--seed)")
    parser.add_argument("--clips-per-mode", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    host = machine()
    started = time.perf_counter()
    rows = distances(args.rooms, args.clips_per_mode)
    cost_rows = costs(1280, 720, 16, 45, args.repeats)
    text = "\n".join(
        [
            f"{time.perf_counter() - started:.0f} s in all.",
            "",
            "| demo room (`--seed`) | settled clips | unconverted window → recording | live window → recording "
            "| a mode's clips around their mean | between the modes' means |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Distances in the shipped small model's pooled embedding (mean over clips).",
            "",
            "| camera frames | reading a window | per window, one thread |",
            "|---|---|---:|",
            *cost_rows,
        ]
    )
    write_section(benchmark_page("clip_skew"), NAME, text, host=host)


if __name__ == "__main__":
    main()
