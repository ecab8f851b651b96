"""Surprise numbers: AUROC of the world model's prediction error for windows with injected events versus normal
windows on simulator streams, next to frame differencing and embedding variance measured the same way, and the
leakage test (future frames change the error, never the context tokens or the prediction).

    .venv/bin/python benchmarks/bench_surprise.py      # writes docs/benchmarks/surprise.md

Streams: `classroom_mode.sim.render_stream` with a three-mode timeline and one of each injected event (fall,
run, chair, lights) scheduled from the seed. Windows of `--window` seconds every `--every` seconds are read
from the MP4 with the same sampler the `surprise --stream` verb uses. Windows are labelled two ways (see
`labels`): an event in progress during the predicted half (the last frames), or an event starting there; a
window is normal when no event touches it at all. Every method's raw value goes through the same per-stream
`SurpriseCalibrator` (rolling median/MAD), and AUROC is computed on raw values and on the scores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from transformers.models.vjepa2.modeling_vjepa2 import apply_masks

from classroom_mode.config import SurpriseThresholds
from classroom_mode.model.backbone import Backbone, load_backbone
from classroom_mode.model.surprise import SurpriseCalibrator, SurpriseModel
from classroom_mode.sim import render_stream, sidecar_path
from classroom_mode.video.decode import probe_video, sample_clip
from doc_page import benchmark_page, machine, write_section

METHODS = ("surprise (JEPA prediction error)", "frame difference", "embedding variance over time")


def frame_difference(frames: np.ndarray, context_frames: int) -> float:
    """Mean absolute pixel change between consecutive frames from the last context frame on."""
    tail = frames[context_frames - 1 :].astype(np.float32)
    return float(np.abs(np.diff(tail, axis=0)).mean())


def embedding_variance(backbone: Backbone, pixels: torch.Tensor) -> float:
    """Variance over the window's tubelets of the per-tubelet mean token, averaged over channels."""
    tokens = backbone.encode(pixels)[0]
    time_steps = backbone.grid[0]
    per_tubelet = tokens.view(time_steps, -1, tokens.shape[-1]).mean(dim=1)
    return float(per_tubelet.var(dim=0).mean())


def labels(start: float, window: float, events: list[dict]) -> dict[str, str | None]:
    """Each window's label under two schemes: 'event', 'normal', or None (left out as ambiguous).

    in progress: an event is under way during the predicted half; onset: an event starts in the predicted half.
    Both call a window normal only when no event touches it at all.
    """
    predicted = (start + window / 2, start + window)
    touched = any(e["start"] < start + window and e["end"] > start for e in events)
    in_progress = any(e["start"] < predicted[1] and e["end"] > predicted[0] for e in events)
    onset = any(predicted[0] <= e["start"] < predicted[1] for e in events)
    normal = None if touched else "normal"
    return {"in progress": "event" if in_progress else normal, "onset": "event" if onset else normal}


SCHEMES = ("in progress", "onset")


def score_stream(path: Path, scorer: SurpriseModel, window: float, every: float) -> list[dict]:
    """One row per window: its labels, every method's raw value and calibrated score, surprise's level."""
    events = json.loads(sidecar_path(path).read_text())["events"]
    duration = probe_video(path).duration
    backbone = scorer.backbone
    calibrators = {m: SurpriseCalibrator(SurpriseThresholds()) for m in METHODS}
    rows = []
    start = 0.0
    while start + window <= duration + 1e-6:
        clip = sample_clip(path, backbone.frames_per_clip, start=start, end=start + window)
        pixels = backbone.preprocess([clip])
        raw = {
            METHODS[0]: scorer.energy(pixels)[0],
            METHODS[1]: frame_difference(clip.frames, scorer.context_frames),
            METHODS[2]: embedding_variance(backbone, pixels),
        }
        readings = {m: calibrators[m].update(path.name, v, _at(start)) for m, v in raw.items()}
        rows.append(
            {
                **labels(start, window, events),
                **{m: v for m, v in raw.items()},
                **{f"{m} score": r.score for m, r in readings.items()},
                "level": readings[METHODS[0]].level,
            }
        )
        start += every
    return rows


def _at(seconds: float):
    from datetime import UTC, datetime, timedelta

    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def leakage(scorer: SurpriseModel, path: Path, window: float) -> dict[str, float]:
    """Swap the future frames of one window for another's: what changes, ours versus the one-pass call."""
    backbone = scorer.backbone
    first, second = (round(probe_video(path).duration * f) for f in (0.1, 0.6))
    pixels = backbone.preprocess([sample_clip(path, backbone.frames_per_clip, start=first, end=first + window)])
    other = backbone.preprocess([sample_clip(path, backbone.frames_per_clip, start=second, end=second + window)])
    swapped = pixels.clone()
    swapped[:, scorer.context_frames :] = other[:, scorer.context_frames :]
    context, context_swapped = scorer.context_tokens(pixels), scorer.context_tokens(swapped)
    predicted, _ = scorer.predict_future(pixels)
    predicted_swapped, _ = scorer.predict_future(swapped)
    n = scorer.depth * scorer.tokens_per_tubelet
    split = scorer.context_tubelets * scorer.tokens_per_tubelet
    masks = {"context_mask": [torch.arange(split)[None]], "target_mask": [torch.arange(split, n)[None]]}
    with torch.inference_mode():
        one_pass = backbone.model(pixels, **masks)
        one_pass_swapped = backbone.model(swapped, **masks)
    return {
        "max abs Δ context tokens (ours)": float((context - context_swapped).abs().max()),
        "max abs Δ prediction (ours)": float((predicted - predicted_swapped).abs().max()),
        "energy, original future": scorer.energy(pixels)[0],
        "energy, swapped future": scorer.energy(swapped)[0],
        "max abs Δ context tokens (VJEPA2Model one-pass call)": float(
            (
                apply_masks(one_pass.last_hidden_state, masks["context_mask"])
                - apply_masks(one_pass_swapped.last_hidden_state, masks["context_mask"])
            )
            .abs()
            .max()
        ),
        "max abs Δ prediction (VJEPA2Model one-pass call)": float(
            (one_pass.predictor_output.last_hidden_state - one_pass_swapped.predictor_output.last_hidden_state)
            .abs()
            .max()
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="src/classroom_mode/model/weights/vjepa2-tiny-sim")
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--timeline", default="group:30,presentation:30,solo:30")
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=Path(".classroom-mode/bench/surprise-streams"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=benchmark_page("surprise"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = machine()
    backbone = load_backbone(args.model, device="cpu")
    scorer = SurpriseModel(backbone)

    started = time.perf_counter()
    rows: list[dict] = []
    for seed in range(args.streams):
        path = args.work / f"stream-{seed}.mp4"
        if not sidecar_path(path).is_file():
            render_stream(
                args.timeline,
                path,
                fps=16.0,
                size=(160, 160),
                seed=100 + seed,
                events=["fall", "run", "chair", "lights"],
            )
        rows.extend(score_stream(path, scorer, args.window, args.every))
    seconds = time.perf_counter() - started

    lines = [f"Model: `{backbone.describe()}`.", ""]
    lines += [
        f"{args.streams} simulator streams (`{args.timeline}`, seeds 100–{99 + args.streams}, one fall, run, chair "
        f"and lights-out event each), {args.window:g} s windows every {args.every:g} s, {len(rows)} windows "
        f"({seconds:.0f} s to score). A window is normal when no event touches it; an event window under "
        "*in progress* when an event is under way in its predicted (last) half, under *onset* when an event starts "
        "there; other windows are left out of that scheme.",
        "",
        "| method | labels | event / normal windows | AUROC, raw value | AUROC, calibrated score |",
        "|---|---|---|---|---|",
    ]
    for scheme in SCHEMES:
        kept = [r for r in rows if r[scheme] is not None]
        truth = np.array([r[scheme] == "event" for r in kept])
        for method in METHODS:
            raw = roc_auc_score(truth, [r[method] for r in kept])
            calibrated = roc_auc_score(truth, [r[f"{method} score"] for r in kept])
            counts = f"{int(truth.sum())} / {int((~truth).sum())}"
            lines.append(f"| {method} | {scheme} | {counts} | {raw:.3f} | {calibrated:.3f} |")
    lines.append("")
    for scheme in SCHEMES:
        kept = [r for r in rows if r[scheme] is not None]
        truth = np.array([r[scheme] == "event" for r in kept])
        flagged = np.array([r["level"] != "normal" for r in kept])
        lines.append(
            f"Surprise levels, {scheme} labels, default thresholds (unusual ≥ 3, anomaly ≥ 6): "
            f"{flagged[truth].mean():.0%} of event windows flagged unusual or anomaly, "
            f"{flagged[~truth].mean():.0%} of normal windows (false alarms)."
        )
    lines += [
        "",
        "### Leakage test (stream 0: the future frames of the window at 10 % of the stream swapped for those at 60 %)",
        "",
        "| quantity | value |",
        "|---|---|",
    ]
    for name, value in leakage(scorer, args.work / "stream-0.mp4", args.window).items():
        lines.append(f"| {name} | {value:.6g} |")
    text = "\n".join(lines) + "\n"
    write_section(args.out, "bench_surprise", text, host=where)


if __name__ == "__main__":
    main()
