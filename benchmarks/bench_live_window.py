"""Encoder work per live window, before and after the window's one full-clip pass is shared.

    .venv/bin/python benchmarks/bench_live_window.py      # writes docs/benchmarks/live_window.md

A window is what `LocalEncoder.analyse` does for one clip: preprocess, the encoder over the full clip (the
embedding), and the surprise energy (the encoder over the context frames, the predictor, and the targets).
"before" takes the targets from a second full-clip pass; "after" reads them from the first, as the live loop does.
Encoder passes are counted with forward hooks (full clip: `encoder.forward`; context frames: its layers run on
fewer tokens, counted by the first layer's forward); milliseconds are the median of `--reps` windows, the
encoder's share timed with the same hooks.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from classroom_mode.model.backbone import load_backbone
from classroom_mode.model.surprise import SurpriseModel
from classroom_mode.records import Clip
from doc_page import benchmark_page, machine, write_section


class EncoderClock:
    """Counts and times the encoder's full-clip passes and its context-only passes through forward hooks."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.full = self.context = 0
        self.seconds = 0.0
        self._start = 0.0
        encoder = model.encoder
        encoder.register_forward_pre_hook(self._begin)
        encoder.register_forward_hook(self._end_full)
        self._first_layer = encoder.layer[0]
        self._in_full = False
        self._first_layer.register_forward_pre_hook(self._layer_begin)
        encoder.layernorm.register_forward_hook(self._layer_end)

    def _begin(self, *_: object) -> None:
        self._in_full = True
        self._start = time.perf_counter()

    def _end_full(self, *_: object) -> None:
        self._in_full = False
        self.full += 1
        self.seconds += time.perf_counter() - self._start

    def _layer_begin(self, *_: object) -> None:
        if not self._in_full:
            self._start = time.perf_counter()

    def _layer_end(self, *_: object) -> None:
        if not self._in_full:
            self.context += 1
            self.seconds += time.perf_counter() - self._start


def window(backbone, scorer: SurpriseModel, clip: Clip, *, share: bool) -> None:
    pixels = backbone.preprocess([clip])
    encoded = backbone.encode(pixels)
    scorer.energy(pixels, encoded if share else None)


def measure(model: str, reps: int) -> list[str]:
    backbone = load_backbone(model, device="cpu")
    scorer = SurpriseModel(backbone)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (backbone.frames_per_clip, 256, 256, 3), dtype=np.uint8)
    clip = Clip(frames, np.arange(len(frames)) / 8.0, "cam", started_at=datetime.now(UTC))
    clock = EncoderClock(backbone.model)
    rows = []
    for share in (False, True):
        window(backbone, scorer, clip, share=share)  # warm-up
        walls, encoder_ms = [], []
        for _ in range(reps):
            clock.full = clock.context = 0
            clock.seconds = 0.0
            started = time.perf_counter()
            window(backbone, scorer, clip, share=share)
            walls.append(1000 * (time.perf_counter() - started))
            encoder_ms.append(1000 * clock.seconds)
        label = "after (one full-clip pass)" if share else "before (targets from a second pass)"
        rows.append(
            f"| {model} | {label} | {clock.full} + {clock.context} | {statistics.median(encoder_ms):.0f} | "
            f"{statistics.median(walls):.0f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["classroom-mode/vjepa2-tiny-sim", "config:vitl"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=benchmark_page("live_window"))
    args = parser.parse_args()
    header = machine()
    rows = [row for model in args.models for row in measure(model, args.reps if "vitl" not in model else 1)]
    text = f"""One window of `LocalEncoder.analyse`: the embedding's full-clip encoder pass, then the surprise energy
(the context frames through the encoder, the predictor, the targets). Before: the targets from a second
full-clip pass; after: from the first, as the live loop does. `config:vitl` is ViT-L with random weights (timing
only), one window.

| model | window | encoder passes (full clip + context frames) | encoder ms | window ms |
|---|---|---|---|---|
{chr(10).join(rows)}
"""
    write_section(args.out, "bench_live_window", text, host=header)


if __name__ == "__main__":
    main()
