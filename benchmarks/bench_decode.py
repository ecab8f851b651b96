"""How much cheaper is sampling 16 frames by timestamp than decoding every frame of the same file?

Two files are generated in a temporary folder:
- a 3 s 640x480 30 fps H.264 MP4 (libx264 defaults: one GOP for the whole clip, as phones write short clips);
- a 10-minute 1920x1080 10 fps H.264 MP4 with a 2 s GOP. Encoding ten minutes of 1080p on 2 cores
  takes minutes, so 20 s of footage is encoded once (ultrafast) and its packets are copied 30 times
  with shifted timestamps (a stream copy, no re-encoding): the file decodes exactly like a real
  ten-minute encode with that GOP, only its content repeats every 20 s.

For each file: `sample_clip(path, 16)` (demux index + seek + decode of the needed GOPs + RGB
conversion of 16 frames) against decoding every frame with PyAV (no RGB conversion, which
favours the reference). Each is timed `--repeats` times and the fastest run is reported (the machine
is shared), all in one run on one machine, and reported as their ratio.

    .venv/bin/python benchmarks/bench_decode.py      # writes docs/benchmarks/decode.md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from classroom_mode.video.decode import probe_video, sample_clip
from doc_page import benchmark_page, machine, write_section


def _frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Moving textured frames: a scrolling gradient plus a drifting noise tile, so the encoder has real work."""
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 255, (height // 4, width // 4, 3), dtype=np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    out = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        out[i, ..., 0] = (x + 4 * i) % 256
        out[i, ..., 1] = (y + 2 * i) % 256
        out[i, ..., 2] = 128
        oy, ox = (3 * i) % (height - tile.shape[0]), (5 * i) % (width - tile.shape[1])
        out[i, oy : oy + tile.shape[0], ox : ox + tile.shape[1]] = tile
    return out


def encode(path: Path, frames: np.ndarray, fps: int, options: dict[str, str]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = options
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def repeat_copy(segment: Path, path: Path, copies: int) -> Path:
    """Concatenate `copies` stream copies of `segment` (packets re-stamped, nothing re-encoded)."""
    with av.open(str(segment)) as src, av.open(str(path), "w") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        packets = [p for p in src.demux(in_stream) if p.size]
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + packets[0].duration
        for k in range(copies):
            for packet in packets:
                copy = av.Packet(bytes(packet))
                copy.pts, copy.dts = packet.pts + k * span, packet.dts + k * span
                copy.duration, copy.time_base = packet.duration, in_stream.time_base
                copy.is_keyframe = packet.is_keyframe
                copy.stream = out_stream
                dst.mux(copy)
    return path


def decode_all(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)  # the least-disturbed run: other jobs share these cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long 1080p file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=benchmark_page("decode"), help="the page to write")
    args = parser.parse_args()
    host = machine(f"PyAV {av.__version__}", f"libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        short = encode(tmp_dir / "short.mp4", _frames(90, 480, 640), 30, {"preset": "veryfast"})
        segment_s = 20
        segment = encode(
            tmp_dir / "segment.mp4", _frames(10 * segment_s, 1080, 1920), 10, {"preset": "ultrafast", "g": "20"}
        )
        long = repeat_copy(segment, tmp_dir / "long.mp4", max(1, round(args.minutes * 60 / segment_s)))
        for label, path in [
            ("3 s 640x480 30 fps H.264", short),
            (f"{args.minutes:g} min 1920x1080 10 fps H.264", long),
        ]:
            info = probe_video(path)
            assert info.num_frames == decode_all(path)
            clip = sample_clip(path, 16)
            assert clip.num_frames == 16
            index_s = timed(lambda p=path: probe_video(p), args.repeats)
            sample_s = timed(lambda p=path: sample_clip(p, 16), args.repeats)
            all_s = timed(lambda p=path: decode_all(p), args.repeats)
            rows.append((label, info, path.stat().st_size, index_s, sample_s, all_s))
            print(f"{label}: probe {index_s:.3f} s, sample 16 {sample_s:.3f} s, decode all {all_s:.3f} s")

    lines = [
        "| file | frames | keyframes | size | index only (probe) | sample 16 frames | decode every frame "
        "| sample / decode-all |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, info, size, index_s, sample_s, all_s in rows:
        lines.append(
            f"| {label} | {info.num_frames} | {info.num_keyframes} | {size / 1e6:.1f} MB | {index_s * 1000:.1f} ms "
            f"| {sample_s * 1000:.1f} ms | {all_s * 1000:.0f} ms "
            f"| {sample_s / all_s:.3f} |"
        )
    lines += [
        "",
        f"Fastest of {args.repeats} runs each (the machine is shared), all measured in the same run. "
        "`sample 16 frames` is the whole "
        "`sample_clip` call: open, demux index of every packet (no decoding), seek to the keyframe before each "
        "sampled time, decode from there, convert the 16 frames to RGB. `decode every frame` decodes all frames "
        "with PyAV and converts none (the reference is favoured). The 3 s clip is a single GOP (libx264 default), so "
        "sampling must decode most of it; the long file has a 2 s GOP, so each sampled frame costs at most one GOP.",
        "The long file is 20 s of ultrafast-encoded 1080p copied (stream copy, re-timestamped) to the full length, "
        "because a real 10-minute 1080p encode takes minutes on 2 cores; it decodes like a real file with the same "
        "GOP, its content just repeats.",
    ]
    write_section(args.out, "bench_decode", "\n".join(lines), host=host)


if __name__ == "__main__":
    main()
