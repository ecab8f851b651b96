"""Pretraining throughput on this machine: clips per second of a training step in fp32, under bf16 autocast and
compiled with `torch.compile`, each with the loss it reaches on the same fixed batches.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_pretrain_speed.py --recipe recipes/erased-frozen-dense.yaml

Samples are a small run's budget, so a faster step is kept only if it reaches the same loss: every variant
starts from the same weights and trains on the same batches and masks (a seeded bank of random clips at the
recipe's geometry), and the table shows its loss after the measured steps beside its speed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from pathlib import Path

import torch
from transformers import VJEPA2Model

from classroom_mode.model.jepa.data import ClipBank
from classroom_mode.model.jepa.pretrain import resolve_recipe
from classroom_mode.model.jepa.recipe import PretrainRecipe
from classroom_mode.model.jepa.trainer import JEPATrainer


def bank_for(recipe: PretrainRecipe, clips: int = 64) -> ClipBank:
    config = recipe.model_config_object()
    side = round(config.crop_size * 256 / 224)
    generator = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (clips, recipe.clip_frames, 3, side, side), generator=generator, dtype=torch.uint8)
    cameras = [f"room{i % 8}" for i in range(clips)]
    return ClipBank(frames, config.crop_size, cameras=cameras)


def measure(recipe: PretrainRecipe, variant: str, steps: int, warmup: int) -> tuple[float, float, float]:
    """(median clips/s over the measured steps, loss of the last step, seconds of the warm-up steps) of one variant:
    compilation happens in the warm-up, and a run pays it once, so it is weighed against the steps it saves."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        trainer = JEPATrainer(recipe, VJEPA2Model(recipe.model_config_object()))
    if variant == "compile":
        trainer.online = torch.compile(trainer.networks)
    context = torch.autocast("cpu", dtype=torch.bfloat16) if variant == "bf16" else contextlib.nullcontext()
    bank, times, loss = bank_for(recipe), [], float("nan")
    for _ in range(warmup + steps):
        started = time.perf_counter()
        with context:
            result = trainer.train_step(bank)
        times.append(time.perf_counter() - started)
        loss = result.loss
    return recipe.effective_batch / statistics.median(times[warmup:]), loss, sum(times[:warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=Path("recipes/erased-frozen-dense.yaml"))
    parser.add_argument("--steps", type=int, default=6, help="measured steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="steps before measuring (compilation happens here)")
    parser.add_argument("--variants", nargs="+", default=["fp32", "bf16", "compile"])
    args = parser.parse_args()
    recipe = resolve_recipe(args.recipe, {})
    load = os.getloadavg()[0]
    rows = [(variant, *measure(recipe, variant, args.steps, args.warmup)) for variant in args.variants]
    base = rows[0][1]
    threads, after = torch.get_num_threads(), os.getloadavg()[0]
    print(f"### Pretraining step throughput ({args.recipe}, batch {recipe.effective_batch}, {threads} threads, "
          f"load average {load:.1f} before, {after:.1f} after)")  # fmt: skip
    print()
    print(f"| variant | clips/s | × fp32 | loss after the measured steps | the {args.warmup} warm-up steps, s |")
    print("|---|---|---|---|---|")
    for variant, speed, loss, warm_s in rows:
        print(f"| {variant} | {speed:.2f} | {speed / base:.2f} | {loss:.4f} | {warm_s:.0f} |")


if __name__ == "__main__":
    main()
