"""Backbone speed on this machine: ViT-L encoder latency vs the measured fp32 matmul ceiling, speed options
with their fidelity, end-to-end overhead per clip, and peak memory of a CPU ViT-L embed run.

    .venv/bin/python benchmarks/bench_backbone.py            # writes docs/benchmarks/backbone.md
    .venv/bin/python benchmarks/bench_backbone.py --reps 5 --no-compile

The ViT-L model has RANDOM weights (`config:vitl`, the exact architecture of facebook/vjepa2-vitl-fpc64-256):
right for timing, while fidelity numbers on random weights only show that an option computes the same function.
Encoder FLOPs are counted with torch's FlopCounterMode (linear layers, patch conv and attention).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from classroom_mode.model.backbone import Backbone, load_backbone
from classroom_mode.model.cache import EmbeddingCache, embedding_key, file_hash
from classroom_mode.model.preprocess import preprocess_video
from classroom_mode.video.decode import sample_clip
from classroom_mode.video.writer import write_mp4
from doc_page import benchmark_page, machine, write_section


def median_time(fn: Callable[[], object], reps: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


_SQUARE = 3072


def matmul_ceiling(reps: int = 3) -> float:
    """fp32 FLOP/s of torch.matmul on two 3072² matrices (median of `reps`): the machine's practical ceiling."""
    a, b = torch.randn(_SQUARE, _SQUARE), torch.randn(_SQUARE, _SQUARE)
    seconds, _ = median_time(lambda: torch.matmul(a, b), reps)
    return 2 * _SQUARE**3 / seconds


def paired_time(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(median seconds of `fn`, median of per-run utilisation denominators) with a ceiling sample before each run.

    On a machine shared with other jobs the load changes from minute to minute; measuring the matmul ceiling
    right before each run keeps numerator and denominator under the same contention.
    """
    fn()  # warm-up
    times, ceilings = [], []
    for _ in range(reps):
        ceilings.append(matmul_ceiling(reps=2))
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, ceilings


def synthetic_video(frames: int = 48, height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A smooth moving scene (gradients + moving blocks), so the encoder sees structure rather than noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    video = np.empty((frames, height, width, 3), np.uint8)
    blocks = rng.integers(0, min(height, width) - 80, size=(6, 2))
    for t in range(frames):
        base = np.stack([(xx + 3 * t) % 256, (yy + 2 * t) % 256, (xx + yy) // 4 % 256], -1)
        video[t] = base
        for i, (y, x) in enumerate(blocks):
            y0, x0 = (y + 4 * t * (i % 3)) % (height - 80), (x + 5 * t) % (width - 80)
            video[t, y0 : y0 + 80, x0 : x0 + 80] = (40 * i) % 256
    return video


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean cosine similarity over rows of (…, D) tensors."""
    a, b = a.reshape(-1, a.shape[-1]).double(), b.reshape(-1, b.shape[-1]).double()
    return float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean())


def time_averaged(features: torch.Tensor, backbone: Backbone, time_steps: int) -> torch.Tensor:
    _, rows, cols = backbone.grid
    return features.reshape(features.shape[0], time_steps, rows * cols, -1).mean(1)


def count_flops(backbone: Backbone, pixels: torch.Tensor) -> int:
    """Encoder FLOPs, attention included: counted with eager attention, as FlopCounterMode does not see the
    CPU flash-attention kernel SDPA dispatches to (it would count the linear layers and patch conv only)."""
    backbone.model.config._attn_implementation = "eager"
    try:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            backbone.model.get_vision_features(pixels)
    finally:
        backbone.model.config._attn_implementation = "sdpa"
    return counter.get_total_flops()


VARIANTS = ("frames8", "int8", "bf16", "compile", "eager", "batch2")


def bench_encoder(args: argparse.Namespace) -> tuple[list[dict], int]:
    """Time the fp32 reference and each requested variant; fidelity = cosine of its features to the reference's."""
    rows: list[dict] = []
    reference = load_backbone(args.model, device="cpu")
    pixels = reference.preprocess_frames(synthetic_video()).unsqueeze(0)
    flops = count_flops(reference, pixels)
    ref_features = reference.encode(pixels)

    def fidelity(features: torch.Tensor) -> tuple[float, float]:
        time_steps = features.shape[1] // (reference.grid[1] * reference.grid[2])
        averaged = time_averaged(features, reference, time_steps)
        return cosine(features.mean(1), ref_features.mean(1)), cosine(
            averaged, time_averaged(ref_features, reference, 8)
        )

    def add(name: str, fn: Callable[[], torch.Tensor], clips: int = 1, clip_flops: float = flops, fid=None) -> None:
        seconds, times, ceilings = paired_time(fn, args.reps)
        ratio = statistics.median(clip_flops * clips / t / c for t, c in zip(times, ceilings, strict=True))
        rows.append({"variant": name, "latency_s": seconds / clips, "ratio": ratio, "fidelity": fid,
                     "ceiling": statistics.median(ceilings)})  # fmt: skip
        print(
            f"{name}: {seconds / clips:.2f} s/clip, ratio {ratio:.2f}, times {times}, ceilings {ceilings}", flush=True
        )

    add("fp32, SDPA attention (default)", partial(reference.encode, pixels))
    wanted = set(args.variants)
    if "frames8" in wanted:
        half = pixels[:, ::2]  # 8 frames: half the tokens; called on the model since encode() insists on 16
        encode_half = torch.inference_mode()(partial(reference.model.get_vision_features, half))
        add("fp32, 8 frames instead of 16", encode_half, clip_flops=count_flops(reference, half),
            fid=fidelity(encode_half()))  # fmt: skip
    if "bf16" in wanted:

        def bf16() -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return reference.encode(pixels)

        add("bf16 autocast on CPU (benchmark only)", bf16, fid=fidelity(bf16()))
    if "eager" in wanted:
        reference.model.config._attn_implementation = "eager"
        add("fp32, eager attention", partial(reference.encode, pixels))
        reference.model.config._attn_implementation = "sdpa"
    if "batch2" in wanted:
        add("fp32, batch of 2", partial(reference.encode, pixels.repeat(2, 1, 1, 1, 1)), clips=2)
    if "int8" in wanted:
        int8 = load_backbone(args.model, device="cpu", quantize="int8")
        add(
            "int8 dynamic quantisation (linear layers)", partial(int8.encode, pixels), fid=fidelity(int8.encode(pixels))
        )
        del int8
        gc.collect()
    if "compile" in wanted:
        compiled = load_backbone(args.model, device="cpu", compile=True)
        start = time.perf_counter()
        features = compiled.encode(pixels)
        print(f"torch.compile warm-up: {time.perf_counter() - start:.0f} s", flush=True)
        add("fp32, torch.compile (inductor)", partial(compiled.encode, pixels), fid=fidelity(features))
    return rows, flops


def bench_overhead(encoder_seconds: float, reps: int) -> dict:
    """Serial cost per clip of everything but the encoder: hashing, cache lookup, decoding, preprocessing."""
    backbone = load_backbone("config:tiny", device="cpu")  # for the key and to fill the cache; ViT-L not needed
    with tempfile.TemporaryDirectory() as tmp:
        clip_path = write_mp4(Path(tmp) / "clip.mp4", synthetic_video(frames=45), fps=15.0)  # 3 s, 640×480
        cache = EmbeddingCache(Path(tmp) / "cache")
        for _ in range(20):  # a cache with some content, so the lookup is not against an empty table
            cache.put_many([backbone.embed([sample_clip(clip_path, 16)], keys=[os.urandom(16).hex()])[0]])
        hash_s, _ = median_time(lambda: embedding_key(file_hash(clip_path), backbone, exact_tokens=False), reps)
        lookup_s, _ = median_time(lambda: cache.get_many([os.urandom(32).hex()]), reps)
        decode_s, _ = median_time(lambda: sample_clip(clip_path, 16), reps)
        frames = sample_clip(clip_path, 16).frames
        pre_s, _ = median_time(lambda: preprocess_video(frames, crop_size=256, num_frames=16), reps)
        cache.close()
    total = hash_s + lookup_s + decode_s + pre_s
    return {
        "hash": hash_s,
        "lookup": lookup_s,
        "decode": decode_s,
        "preprocess": pre_s,
        "total": total,
        "fraction": total / encoder_seconds,
    }


PEAK_SCRIPT = """
import resource, sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, {bench_dir!r})
from bench_backbone import synthetic_video
from classroom_mode.model.backbone import load_backbone
from classroom_mode.model.preprocess import preprocess_video
from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.embed import embed_paths
from classroom_mode.video.writer import write_mp4
with tempfile.TemporaryDirectory() as tmp:
    paths = [write_mp4(Path(tmp) / f"c{{i}}.mp4", synthetic_video(frames=45, seed=i), fps=15.0) for i in range(3)]
    backbone = load_backbone({model!r}, device="cpu")
    result = embed_paths(paths, backbone, EmbeddingCache(Path(tmp) / "cache"))
    assert result.encoded == 3, result
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_peak_memory(model: str) -> float:
    """Peak resident memory (GiB) of a fresh process embedding 3 clips with ViT-L on the CPU (auto batch size)."""
    script = PEAK_SCRIPT.format(bench_dir=str(Path(__file__).parent), model=model)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1]) / 2**20  # ru_maxrss is KiB on Linux


def write_report(path: Path, args: argparse.Namespace, flops: int, rows: list[dict], overhead: dict,
                 peak_gib: float | None, host: str, load_after: float) -> None:  # fmt: skip
    base = rows[0]["latency_s"]
    lines = [
        f"Medians of {args.reps} runs after one warm-up; load average {load_after:.2f} at the end.",
        "",
        "Model: ViT-L architecture of `facebook/vjepa2-vitl-fpc64-256` with **RANDOM weights** (`config:vitl`; "
        "timing only), one clip of 16 frames × 256 px (2048 tokens), encoder only.",
        f"Encoder FLOPs per clip (counted, incl. attention): {flops / 1e12:.2f} TFLOP. "
        "The fp32 matmul ceiling (3072² torch.matmul) is measured right before every timed run and each run's "
        "FLOP/s is divided by its own ceiling sample (median reported), so both see the same contention.",
        "",
        "| variant | latency per clip (s) | speed-up | FLOP/s ÷ fp32 matmul ceiling | ceiling during runs (GFLOP/s) "
        "| fidelity: cosine to fp32 (pooled / time-averaged tokens) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        fid = "reference" if row is rows[0] else "same function" if row["fidelity"] is None else (
            f"{row['fidelity'][0]:.4f} / {row['fidelity'][1]:.4f}")  # fmt: skip
        speedup = base / row["latency_s"]
        lines.append(
            f"| {row['variant']} | {row['latency_s']:.2f} | {speedup:.2f}× | {row['ratio']:.2f} "
            f"| {row['ceiling'] / 1e9:.0f} | {fid} |"
        )
    lines += [
        "",
        "Fewer frames: the ratio uses the 8-frame model's own FLOPs. Fidelity on random weights shows only that an "
        "option computes nearly the same function; on trained weights it must be measured again.",
        "",
        "End-to-end overhead per clip (serial, a 3 s 640×480 H.264 clip at 15 fps, ViT-L preprocessing), "
        "as a fraction of the fp32 encoder latency:",
        "",
        "| file hash + key | cache lookup (miss) | decode 16 frames | preprocess | total | ÷ encoder |",
        "|---|---|---|---|---|---|",
        f"| {overhead['hash'] * 1e3:.1f} ms | {overhead['lookup'] * 1e3:.2f} ms | {overhead['decode'] * 1e3:.1f} ms | "
        f"{overhead['preprocess'] * 1e3:.1f} ms | {overhead['total'] * 1e3:.1f} ms | {overhead['fraction']:.2%} |",
        "",
        "In `embed_paths` decoding and preprocessing run in a background thread while the encoder works, so "
        "the encoder does not wait for them; on 2 cores they still take CPU from it, so the serial sum above is "
        "the honest cost.",
        "",
        "Peak resident memory of a CPU ViT-L `embed_paths` run (fresh process, 3 clips, automatic batch size): "
        + (f"{peak_gib:.2f} GiB." if peak_gib is not None else "not measured (--no-memory)."),
        "",
        "GPU (clips/s at batch 1–64 in bf16, MFU): not measured.",
    ]
    write_section(path, "bench_backbone", "\n".join(lines), host=host)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--model", default="config:vitl", help="backbone spec (config:tiny for a quick dry run)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), type=lambda v: [x for x in v.split(",") if x],
        help=f"comma-separated subset of {','.join(VARIANTS)} (the fp32 reference always runs)",
    )  # fmt: skip
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory run")
    parser.add_argument("--out", type=Path, default=benchmark_page("backbone"))
    args = parser.parse_args()
    torch.manual_seed(0)
    host = machine()
    rows, flops = bench_encoder(args)
    overhead = bench_overhead(rows[0]["latency_s"], reps=max(5, args.reps))
    peak = bench_peak_memory(args.model) if args.memory else None
    write_report(args.out, args, flops, rows, overhead, peak, host, os.getloadavg()[0])


if __name__ == "__main__":
    main()
