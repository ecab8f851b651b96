"""Per-room probes, the product's own workflow: clips recorded in ONE room in sessions, cross-validated by session.

A user records labelled clips in the room the camera watches; the probe is that room's. This benchmark
does the same in several simulated rooms (`generate_room_dataset`: clips cut only once the room has
settled into its mode) and cross-validates grouped by recording session, so near-identical clips of
one visit never sit on both sides. It compares the probes, the attentive probe with and without its
per-position background, the same probes on the same architecture with random weights (what the
world-model pretraining adds), and a baseline fitted on the same folds.

    .venv/bin/python benchmarks/bench_room_probe.py --rooms 10000 10001 10002 10003

`--erase-room` feeds both networks every clip minus the room's reference, the per-pixel median of its `empty`
clips (`classroom_mode.model.erasure`), as `train --erase-room empty` does.

`--ceiling` adds what the probes reach on the simulator's ground truth of the same clips: tokens of where the
people are (`sim.baselines.person_mask_tokens`), and the perfect person counter. A backbone that saw every
person perfectly would hand the probes about that much; a margin a goal asks for above the random twin
means little if it lies above this.

Room seeds 10000 + k are the rooms `classroom-mode demo --seed k` records in and watches.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np
import torch
from sklearn.model_selection import cross_val_score

from classroom_mode.model.backbone import load_backbone, random_twin
from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.probes import AttentiveSettings, cross_validate
from classroom_mode.model.probes.dataset import group_of, load_labelled_features
from classroom_mode.model.probes.evaluate import make_splits
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.sim.baselines import (
    count_classifier,
    mean_frame_classifier,
    mean_frame_features,
    person_mask_tokens,
)
from classroom_mode.sim.manifest import previous_recording, recorded_with
from classroom_mode.sim.room_dataset import SettledClips, generate_room_dataset
from classroom_mode.video.decode import sample_clip
from doc_page import benchmark_page, machine, write_section

VARIANTS = (
    ("attentive probe (default: per-position background subtracted)", "attentive", AttentiveSettings()),
    ("attentive probe, no background subtraction", "attentive", replace(AttentiveSettings(), background="none")),
    ("linear probe", "linear", None),
    ("prototype probe", "prototype", None),
)
RANDOM_VARIANTS = VARIANTS[0], VARIANTS[2]
"""Run again on the same architecture with random weights."""
SCREEN_VARIANTS = RANDOM_VARIANTS
"""`--screen`: what choosing a pretraining recipe needs, on rooms kept apart from the final measurement."""
CEILING_VARIANTS = (
    ("ground truth: person masks → attentive probe", "attentive", AttentiveSettings()),
    ("ground truth: person masks → linear probe", "linear", None),
)
COUNTER = "ground truth: perfect person counter (baseline)"
MASK_CELL = 8
"""Pixels a side of a ceiling token's cell: small8's patch at 128 px."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default="classroom-mode/vjepa2-tiny-sim", help="a backbone, or a pretraining checkpoint folder"
    )
    parser.add_argument("--rooms", type=int, nargs="+", default=[10000, 10001, 10002, 10003])
    parser.add_argument("--clips-per-mode", type=int, default=20)
    parser.add_argument("--visit", type=float, default=20.0, help="seconds per recording session")
    parser.add_argument("--size", type=int, default=128, help="pixels a side of the recorded clips")
    parser.add_argument("--crop-size", type=int, default=None, help="pixels a side the model sees (default: its own)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path(".classroom-mode/bench/room-probe"))
    parser.add_argument("--out", type=Path, default=benchmark_page("room_probe"))
    parser.add_argument(
        "--screen", action="store_true", help="the default attentive and the linear probe only, and no baseline"
    )
    parser.add_argument(
        "--probe-seeds",
        type=int,
        default=1,
        help="average each probe over this many seeds (its folds and initial weights): one seed swings ~5 points",
    )
    parser.add_argument(
        "--erase-room", action="store_true", help="erase each room (the median of its empty clips) from every clip"
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="also the probes on the simulator's person masks of the same clips"
    )
    parser.add_argument("--ceiling-only", action="store_true", help="the ground-truth rows alone: no backbone")
    args = parser.parse_args()
    args.ceiling |= args.ceiling_only
    args.screen |= args.ceiling_only

    host = machine()
    started = time.perf_counter()
    runs = []
    backbone = None
    if not args.ceiling_only:
        backbone = load_backbone(exported(args.model, args.work), device="cpu", crop_size=args.crop_size)
        runs = [
            (backbone, "", SCREEN_VARIANTS if args.screen else VARIANTS),
            (random_twin(backbone), "same architecture, RANDOM weights: ", RANDOM_VARIANTS),
        ]
    scores: dict[str, list[float]] = {prefix + name: [] for _, prefix, variants in runs for name, _, _ in variants}
    if not args.screen:
        scores["downsampled mean frame (baseline)"] = []
    if args.ceiling:
        scores |= {name: [] for name, _, _ in CEILING_VARIANTS} | {COUNTER: []}
    with EmbeddingCache(args.work / "cache") as cache:
        for room in args.rooms:
            data_dir = room_clips(args, room)
            for encoder, prefix, variants in runs:
                data = load_labelled_features(data_dir, encoder, cache, erase_with="empty" if args.erase_room else None)
                groups = [group_of(path, "session") for path in data.paths]
                for name, kind, settings in variants:
                    accuracy = _accuracy(args, data.features, data.labels, groups, kind, settings)
                    scores[prefix + name].append(accuracy)
                    print(room, prefix + name, round(accuracy, 3), flush=True)
            if args.ceiling:
                for name, accuracy in _ceiling(args, room).items():
                    scores[name].append(accuracy)
                    print(room, name, round(accuracy, 3), flush=True)
            if args.screen:
                continue
            y = np.array(data.labels)
            frames = np.stack([mean_frame_features(sample_clip(p, 16).frames) for p in data.paths])
            splits, _ = make_splits(np.unique(y, return_inverse=True)[1], groups, args.folds, 0)
            baseline = cross_val_score(mean_frame_classifier(), frames, y, cv=splits).mean()
            scores["downsampled mean frame (baseline)"].append(float(baseline))
    text = _markdown(args, backbone, scores, time.perf_counter() - started)
    write_section(args.out, section_name(args), text, host=host)


def _accuracy(args, features: FeatureSet, labels: list[str], groups: list[str], kind, settings) -> float:
    """CV accuracy of one probe, averaged over `--probe-seeds` seeds of its folds and initial weights."""
    return float(
        np.mean(
            [
                cross_validate(
                    features, labels, kind=kind, folds=args.folds, groups=groups, seed=seed, attentive=settings
                ).accuracy[0]
                for seed in range(args.probe_seeds)
            ]
        )
    )


def _ceiling(args: argparse.Namespace, room: int) -> dict[str, float]:
    """The probes on tokens of where the people are, and the perfect person counter, in the same clips: the
    room is played again as it was recorded (`SettledClips`), this time with its person masks."""
    clips = list(_recording(args, room, with_people=True))
    labels, groups = [c.mode for c in clips], [c.session for c in clips]
    tokens = np.stack([person_mask_tokens(cast(np.ndarray, c.people), cell=MASK_CELL) for c in clips])
    side = args.size // MASK_CELL
    features = FeatureSet(tokens.mean(axis=1), tokens, (side, side))
    scores = {name: _accuracy(args, features, labels, groups, kind, how) for name, kind, how in CEILING_VARIANTS}
    y = np.array(labels)
    splits, _ = make_splits(np.unique(y, return_inverse=True)[1], groups, args.folds, 0)
    counts = np.array([[c.num_people] for c in clips], dtype=np.float64)
    scores[COUNTER] = float(cross_val_score(count_classifier(), counts, y, cv=splits).mean())
    return scores


def _recording(args: argparse.Namespace, room: int, with_people: bool = False) -> SettledClips:
    """The room's labelled clips as this benchmark records them (and, for the ceiling, plays them again)."""
    size = (args.size, args.size)
    return SettledClips(args.clips_per_mode, seed=room, visit_s=args.visit, size=size, with_people=with_people)


def exported(model: str, work: Path) -> str:
    """A pretraining checkpoint folder (`state.safetensors`) exported as a model first; any other model as it is."""
    checkpoint = Path(model)
    if not (checkpoint / "state.safetensors").is_file():
        return model
    from classroom_mode.model.distributed import Ranks
    from classroom_mode.model.jepa.checkpoint import checkpoint_recipe, export_pretrained, load_checkpoint
    from classroom_mode.model.jepa.pretrain import initial_model
    from classroom_mode.model.jepa.trainer import JEPATrainer

    recipe = checkpoint_recipe(checkpoint)
    trainer = JEPATrainer(recipe, initial_model(recipe), torch.device("cpu"), Ranks())
    load_checkpoint(checkpoint, trainer)
    out = work / "exported" / f"{checkpoint.parent.parent.name}-{checkpoint.name}"
    return str(export_pretrained(trainer, out, torch.float16))


def room_clips(args: argparse.Namespace, room: int) -> Path:
    """The room's labelled clips, recorded again when an earlier run (or older code) left other ones there."""
    data_dir = args.work / f"room{room}-{args.clips_per_mode}x-visit{args.visit:g}-{args.size}px"
    recording = _recording(args, room)
    if not recorded_with(previous_recording(data_dir), recording.params):
        shutil.rmtree(data_dir, ignore_errors=True)
        generate_room_dataset(data_dir, recording)
    return data_dir


def section_name(args: argparse.Namespace) -> str:
    """The page section a run writes: one per protocol (rooms, clips, pixels, erasure, probes), so a run of one
    variant replaces its own table and leaves the others."""
    rooms = f"{min(args.rooms)}-{max(args.rooms)}" if len(args.rooms) > 1 else str(args.rooms[0])
    tags = [f"rooms {rooms}", f"{args.clips_per_mode} clips per mode", f"{args.size} px"]
    tags += [f"crop {args.crop_size}"] if args.crop_size else []
    tags += ["erased"] if args.erase_room else []
    tags += ["ceiling only" if args.ceiling_only else "screen"] if args.screen else []
    tags += ["ceiling"] if args.ceiling and not args.ceiling_only else []
    tags += [f"{args.probe_seeds} probe seeds"] if args.probe_seeds > 1 else []
    return "bench_room_probe: " + ", ".join(tags)


def _markdown(args, backbone, scores: dict[str, list[float]], seconds: float) -> str:
    rooms = " | ".join(f"room {r}" for r in args.rooms)
    seeds = f", then over {args.probe_seeds} seeds of the folds and the probe's start" if args.probe_seeds > 1 else ""
    erased = " Every clip erased of its room (minus the median of the room's `empty` clips)." if args.erase_room else ""
    lines = [
        f"{seconds:.0f} s in all. Backbone: {backbone.describe() if backbone else 'none (the ground truth alone)'}.",
        "",
        f"{args.clips_per_mode} clips per mode of {args.size} px recorded in each room in {args.visit:g} s sessions "
        "(clips cut only once the room has settled into its mode), 4 modes (chance 25%); accuracy of stratified "
        f"{args.folds}-fold CV grouped by session (mean over folds{seeds}).{erased}",
        "",
        f"| features | {rooms} | mean |",
        "|---|" + "---|" * (len(args.rooms) + 1),
    ]
    for name, values in scores.items():
        cells = " | ".join(f"{v:.1%}" for v in values)
        lines.append(f"| {name} | {cells} | {np.mean(values):.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
