"""Peak memory of a real `classroom-mode serve` decoding the worst uploads it accepts, one and 8 at once.

Bytes are not what an upload costs: 4 frames of 8K are 100 KB of H.264 and decode to gigabytes. The server
(`serve` in its own process, the tiny random backbone at a 256 px crop, so frames are decoded at ViT-L's input
size: a shorter side of 292) is sent, over loopback:

- a small clip (320 x 240), the cost of an upload apart from its decoding (request, model pass, answer);
- an 8K clip of the longest accepted duration (`--seconds`), to be refused before a frame of it is decoded;
- the worst clip it accepts: the largest frames the upload budget allows in 8-bit 4:2:0 (2560 x 1440) at the
  longest accepted duration, encoded to make the decoder keep as much as H.264 lets it (16 reference frames,
  one keyframe: every frame decoded);
- 8 of those at once.

Before each, the server's peak resident set (VmHWM) is reset to its current size (`/proc/PID/clear_refs`), and the
increase is read from `/proc/PID/status` after the answers. Prints a markdown table, the ceiling, and the machine.

    nice -n 19 .venv/bin/python benchmarks/bench_upload_memory.py
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import httpx
import numpy as np

from classroom_mode.model.backbone import load_backbone
from classroom_mode.model.preprocess import resize_size
from classroom_mode.model.probes import fit_probe, save_probe
from classroom_mode.model.probes.card import BackboneRecord, ProbeCard
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.records import Clip
from classroom_mode.service.api_models import UPLOAD_FRAME_PIXELS, UPLOAD_MEMORY
from doc_page import machine
from serve_process import server_process

CROP = 256
FRAMES = 16
"""Frames the tiny backbone reads per clip, as ViT-L does."""
DECODES = 2
"""`server.max_upload_decodes` (the default)."""
MiB = 2**20
T = TypeVar("T")


def write_clip(path: Path, size: tuple[int, int], frames: int, seconds: float, x264: str = "") -> Path:
    """An H.264 MP4 of `frames` frames spread over `seconds`: a gradient with a block moving across it."""
    width, height = size
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(frames, round(seconds)))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30", **({"x264-params": x264} if x264 else {})}
        base = np.empty((height, width, 3), np.uint8)
        base[..., 0] = (np.arange(width) * 255 // width)[None, :]
        base[..., 1] = (np.arange(height) * 255 // height)[:, None]
        base[..., 2] = 128
        for i in range(frames):
            image = base.copy()
            x = i * (width - width // 8) // max(frames - 1, 1)
            image[height // 4 : height // 2, x : x + width // 8] = (255, 40, 40)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_probe(path: Path) -> Path:
    """A prototype probe for the tiny backbone at this crop, fitted on two kinds of noise (its answers do not matter
    here; the server only needs a probe to classify with)."""
    backbone = load_backbone("config:tiny", device="cpu", crop_size=CROP)
    assert backbone.frames_per_clip == FRAMES and backbone.short_side == resize_size(CROP)
    rng = np.random.default_rng(0)
    clips = [
        Clip(rng.integers(lo, lo + 64, (8, 96, 128, 3), dtype=np.uint8), np.arange(8) / 8.0, "front")
        for lo in (0, 0, 0, 160, 160, 160)
    ]
    features = FeatureSet.from_embeddings(backbone.embed(clips))
    probe = fit_probe(features, ["empty"] * 3 + ["solo"] * 3, kind="prototype")
    probe.card = ProbeCard(backbone=BackboneRecord.of(backbone))
    save_probe(probe, path)
    return path


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {name: int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM")}


def peak_increase(pid: int, run: Callable[[], T]) -> tuple[int, T]:
    """How far the process's resident set rose above where it stood while `run()` ran, and what it returned."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = memory(pid)["VmRSS"]
    result = run()
    return memory(pid)["VmHWM"] - before, result


async def upload_all(url: str, clip: bytes, count: int) -> list[tuple[int, float]]:
    """`count` uploads at once, each on its own connection: (status, seconds) of each."""

    async def one(http: httpx.AsyncClient) -> tuple[int, float]:
        start = time.perf_counter()
        response = await http.post("/api/classify", files={"file": ("clip.mp4", clip, "video/mp4")})
        return response.status_code, time.perf_counter() - start

    clients = [httpx.AsyncClient(base_url=url, timeout=900) for _ in range(count)]
    try:
        return await asyncio.gather(*(one(http) for http in clients))
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="server.max_upload_seconds (the default)")
    parser.add_argument("--fps", type=float, default=1.0, help="frame rate of the worst accepted clip")
    parser.add_argument("--at-once", type=int, default=8)
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args()
    host = machine(
        f"Python {platform.python_version()}",
        f"PyAV {av.__version__} (FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})",
    )
    seconds = args.seconds
    worst_size = (2560, 1440)
    assert worst_size[0] * worst_size[1] <= UPLOAD_FRAME_PIXELS
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        probe = write_probe(folder / "room")
        config = folder / "c.yaml"
        config.write_text(
            f"rooms: {{room-101: {{cameras: {{front: {{}}}}, probe: {probe}}}}}\n"
            f"backbone: {{model: 'config:tiny', crop_size: {CROP}, device: cpu}}\n"
            f"paths: {{database: {folder / 'h.db'}, cache: {folder / 'cache'}}}\n"
            f"server: {{api_token_env: null, max_upload_seconds: {seconds:g}, max_upload_decodes: {DECODES}}}\n"
        )
        small = write_clip(folder / "small.mp4", (320, 240), 16, 2.0).read_bytes()
        uhd = write_clip(folder / "8k.mp4", (7680, 4320), 2, seconds).read_bytes()  # 2 frames over the duration
        frames = round(seconds * args.fps)
        worst = write_clip(
            folder / "worst.mp4", worst_size, frames, seconds, "ref=16:bframes=0:keyint=infinite:scenecut=0"
        ).read_bytes()
        rows = []
        with (
            server_process(config, encode=True, start_timeout_s=600) as (url, server),
            httpx.Client(base_url=url, timeout=900) as http,
        ):

            def post(clip: bytes) -> int:
                return http.post("/api/classify", files={"file": ("clip.mp4", clip, "video/mp4")}).status_code

            for _ in range(2):  # warm-up: the first request loads what the process loads lazily
                assert post(small) == 200
            baseline = memory(server.pid)["VmRSS"]
            for name, clip, expected in (
                ("320 x 240, 16 frames, 2 s", small, 200),
                (f"7680 x 4320, 2 frames over {seconds:g} s", uhd, 415),
                (f"2560 x 1440, {frames} frames over {seconds:g} s, 16 reference frames", worst, 200),
            ):
                increase, status = peak_increase(server.pid, lambda clip=clip: post(clip))
                assert status == expected, f"{name}: answered {status}, expected {expected}"
                rows.append((f"{name} ({len(clip) / 1e6:.2f} MB)", str(status), increase))
            start = time.perf_counter()
            increase, answers = peak_increase(server.pid, lambda: asyncio.run(upload_all(url, worst, args.at_once)))
            wall = time.perf_counter() - start
            statuses = [status for status, _ in answers]
            counts = ", ".join(f"{statuses.count(status)} × {status}" for status in sorted(set(statuses)))
            name = f"{args.at_once} of the 2560 x 1440 clip at once (answered within {wall:.1f} s)"
            rows.append((name, counts, increase))
    short = resize_size(CROP)
    clip_bytes = FRAMES * short * int(short * worst_size[0] / worst_size[1]) * 3  # a decoded clip, at the model's size
    ceiling = DECODES * (UPLOAD_MEMORY + clip_bytes)
    lines = [
        f"Server resident set after warm-up: {baseline / MiB:.0f} MiB. {DECODES} uploads are in the works at once, "
        f"each decoding within {UPLOAD_MEMORY / MiB:.0f} MiB into a clip of {clip_bytes / MiB:.0f} MiB (16 frames at "
        f"the model's input size), so the stated ceiling is {DECODES} x {(UPLOAD_MEMORY + clip_bytes) / MiB:.0f} MiB "
        f"= {ceiling / MiB:.0f} MiB above it, whatever is sent.",
        "",
        "| upload (`POST /api/classify`) | answer | peak resident set increase, MiB |",
        "|---|---|---:|",
        *(f"| {name} | {answer} | {round(increase / MiB)} |" for name, answer, increase in rows),
        "",
        f"{args.at_once} at once: {rows[-1][2] / MiB:.0f} MiB, "
        f"{'under' if rows[-1][2] <= ceiling else 'OVER'} the {ceiling / MiB:.0f} MiB ceiling.",
        "",
        f"Machine: {host}.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
