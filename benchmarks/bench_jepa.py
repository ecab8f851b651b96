"""World-model numbers: mask fractions, CPU training throughput, frozen-probe quality of the pretrained small model
versus the same architecture with random weights and the simulator baselines, and the training curve.

    .venv/bin/python benchmarks/bench_jepa.py --model src/classroom_mode/model/weights/vjepa2-tiny-sim

The evaluation clips are simulator clips rendered with a different seed from the training clips
(`--eval-data` is generated there if missing). Every number is measured in this run; the markdown section
goes to its page, `docs/benchmarks/jepa.md` (and the training-curve PNG beside it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from transformers import VJEPA2Model

from classroom_mode.model.backbone import Backbone, load_backbone, random_twin
from classroom_mode.model.jepa.data import ClipBank
from classroom_mode.model.jepa.objective import OFFICIAL_MASKS, measure_masked_fraction
from classroom_mode.model.jepa.recipe import SMALL_MODEL, PretrainRecipe
from classroom_mode.model.jepa.trainer import JEPATrainer
from classroom_mode.model.token_grid import TokenGrid
from classroom_mode.sim import generate_dataset, load_manifest
from classroom_mode.sim.baselines import (
    count_classifier,
    cv_accuracy,
    mean_frame_classifier,
    mean_frame_features,
    person_count_features,
)
from classroom_mode.video.decode import sample_clip
from doc_page import benchmark_page, machine, write_section


def mask_fractions() -> list[tuple[str, str, float]]:
    rows = []
    for name, grid in (
        ("small (4×8×8)", TokenGrid(4, 8, 8)),
        ("official ViT-L 16 f 256 px (8×16×16)", TokenGrid(8, 16, 16)),
    ):
        for spec in OFFICIAL_MASKS:
            rows.append((name, f"{spec.num_blocks} blocks @ {spec.spatial_scale}", measure_masked_fraction(grid, spec)))
    return rows


def throughput(steps: int) -> float:
    """Clips per second of the small recipe's training step (batch 8) on random clips, after one warm-up step."""
    recipe = PretrainRecipe(model=SMALL_MODEL, steps=steps + 1, batch_size=8)
    trainer = JEPATrainer(recipe, VJEPA2Model(recipe.model_config_object()))
    bank = ClipBank(torch.randint(0, 256, (16, 8, 3, 146, 146), dtype=torch.uint8), 128)
    trainer.train_step(bank)
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(bank)
    return steps * recipe.batch_size / (time.perf_counter() - started)


def token_features(backbone: Backbone, paths: list[Path]) -> dict[str, np.ndarray]:
    """Two poolings of the frozen tokens per clip: the mean over all tokens (the required probe input), and that
    mean next to the per-channel std over time of the per-tubelet means (how much the clip's features move)."""
    means, moves = [], []
    time_steps = backbone.grid[0]
    for start in range(0, len(paths), 16):
        clips = [sample_clip(p, backbone.frames_per_clip) for p in paths[start : start + 16]]
        tokens = backbone.encode(backbone.preprocess(clips))
        per_tubelet = tokens.view(tokens.shape[0], time_steps, -1, tokens.shape[-1]).mean(dim=2)
        means.append(tokens.mean(dim=1).numpy())
        moves.append(per_tubelet.std(dim=1).numpy())
    mean, move = np.concatenate(means), np.concatenate(moves)
    return {"mean-pooled": mean, "mean ⊕ temporal std": np.concatenate([mean, move], axis=1)}


def probe():
    """Standardised logistic regression, its L2 strength picked by an inner 3-fold CV inside each outer fold."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=[0.01, 0.1, 1.0], cv=3, max_iter=3000))


def accuracies(model_factory, features: np.ndarray, labels: list[str]) -> tuple[float, float]:
    """5-fold CV accuracy over the 4 modes, and on group vs presentation only."""
    pair = np.array([label in ("group", "presentation") for label in labels])
    pair_labels = [label for label, keep in zip(labels, pair, strict=True) if keep]
    return cv_accuracy(model_factory(), features, labels), cv_accuracy(model_factory(), features[pair], pair_labels)


def quality(model_dir: str, eval_data: Path) -> list[tuple[str, float, float]]:
    if not (eval_data / "manifest.json").is_file():
        generate_dataset(eval_data, 40, seconds=3.0, fps=16, size=(160, 160), seed=7)
    entries = load_manifest(eval_data).clips
    paths = [eval_data / e.path for e in entries]
    labels = [e.mode for e in entries]
    pretrained = load_backbone(model_dir, device="cpu")
    rows = []
    for name, backbone in (
        ("V-JEPA small, pretrained on simulator footage (ours)", pretrained),
        ("same architecture, random weights", random_twin(pretrained)),
    ):
        for pooling, features in token_features(backbone, paths).items():
            rows.append((f"{name}, {pooling}", *accuracies(probe, features, labels)))
    frames = np.stack([mean_frame_features(sample_clip(p, 16).frames) for p in paths])
    rows.append(("baseline: mean frame (appearance only)", *accuracies(mean_frame_classifier, frames, labels)))
    counts = person_count_features(entries)
    rows.append(("baseline: perfect person counter", *accuracies(count_classifier, counts, labels)))
    return rows


def curve(training_json: Path, png: Path) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = [h for h in json.loads(training_json.read_text())["history"] if "loss" in h]
    steps = [h["step"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(steps, [h["loss"] for h in history])
    left.set(xlabel="step", ylabel="JEPA L1 loss", title="loss")
    right.plot(steps, [h["effective_rank"] for h in history], color="tab:orange")
    right.set(xlabel="step", ylabel="effective rank (of 192)", title="target effective rank")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    every = max(1, len(history) // 10)
    return history[::every] + ([history[-1]] if (len(history) - 1) % every else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="src/classroom_mode/model/weights/vjepa2-tiny-sim")
    parser.add_argument("--training-json", default=None, help="default: MODEL/training.json")
    parser.add_argument("--eval-data", type=Path, default=Path(".classroom-mode/bench/jepa-eval"))
    parser.add_argument("--throughput-steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a contended CPU)")
    parser.add_argument("--out", type=Path, default=benchmark_page("jepa"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = machine()
    training_json = Path(args.training_json or Path(args.model) / "training.json")
    png = args.out.with_name("worldmodel-training.png")

    lines = ["## World model: V-JEPA pretraining (`benchmarks/bench_jepa.py`)", ""]
    lines += ["GPU: not measured.", ""]

    lines += ["### Fraction of tokens masked per clip (1000 samples per generator)", ""]
    lines += ["| token grid | generator | masked |", "|---|---|---|"]
    lines += [f"| {g} | {s} | {f:.1%} |" for g, s, f in mask_fractions()]
    lines += ["", "### Training throughput (small recipe, batch 8, CPU, fp32)", ""]
    rate = throughput(args.throughput_steps)
    lines += [f"{rate:.2f} clips/s ({args.throughput_steps} steps after one warm-up step). GPU: not measured.", ""]

    lines += ["### Frozen-probe accuracy on simulator modes (5-fold CV, 160 clips, 40 per mode, unseen seed)", ""]
    lines += [
        "Standardised logistic regression (L2 strength by inner CV) on frozen encoder tokens, pooled two ways;",
        "the same clips and folds for every row; baselines from `classroom_mode.sim.baselines`.",
        "",
    ]
    lines += ["| features | 4 modes | group vs presentation |", "|---|---|---|"]
    lines += [f"| {name} | {acc4:.1%} | {acc2:.1%} |" for name, acc4, acc2 in quality(args.model, args.eval_data)]

    if training_json.is_file():
        lines += ["", f"### Training curve ({training_json})", "", f"![loss and effective rank]({png.name})", ""]
        lines += ["| step | loss | effective rank | target std | lr | EMA momentum |", "|---|---|---|---|---|---|"]
        for h in curve(training_json, png):
            lines.append(
                f"| {h['step']} | {h['loss']:.4f} | {h['effective_rank']:.1f} | {h['target_std']:.3f} "
                f"| {h['lr']:.2e} | {h['momentum']:.5f} |"
            )
    text = "\n".join(lines) + "\n"
    write_section(args.out, "bench_jepa", text, host=where)


if __name__ == "__main__":
    main()
