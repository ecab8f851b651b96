"""Pretraining and embedding on 1 and 2 ranks (torchrun, gloo on the CPU or NCCL on GPUs), measured in one run.

    .venv/bin/python benchmarks/bench_distributed.py      # writes docs/benchmarks/distributed.md

Pretraining: `pretrain --arch small8` on simulator footage, the same per-rank batch at every world size, one
thread per rank; clips/s is what `training.json` reports (clips of the effective batch per second of step).
Embedding: `embed` of a folder of clips with the shipped model into an empty cache; clips/s is clips over the
command's wall time, start-up included (each rank loads torch and the model).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from classroom_mode.model.jepa.pretrain import TRAINING_FILE
from classroom_mode.model.jepa.summary import LossEntry, read_training_summary
from classroom_mode.sim.footage import generate_footage
from doc_page import benchmark_page, machine, write_section

BIN = Path(sys.executable).parent


def run(world: int, args: list[str]) -> float:
    """Run `classroom-mode ARGS` on `world` ranks; its wall time in seconds."""
    command = [str(BIN / "classroom-mode"), *args]
    if world > 1:
        command = [str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={world}", "--no-python", *command]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(".classroom-mode/bench/distributed"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8, help="per rank")
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=benchmark_page("distributed"))
    args = parser.parse_args()

    host = machine()
    footage = args.work / "footage"
    generate_footage(footage, list(range(40000, 40004)), seconds=60.0, workers=2)
    clips = args.work / "clips" / "unlabeled"
    if not clips.is_dir():
        clips.mkdir(parents=True)
        for path in sorted(footage.glob("room*/*.mp4"))[:64]:
            shutil.copy(path, clips / f"{path.parent.name}-{path.name}")
    rows = []
    for world in args.worlds:
        out = args.work / f"pretrain-w{world}"
        shutil.rmtree(out, ignore_errors=True)
        run(world, ["pretrain", "--data", str(footage), "--out", str(out), "--arch", "small8",
                    "--steps", str(args.steps), "--set", f"batch_size={args.batch_size}", "--set", "windows_per_room=4",
                    "--device", args.device, "--set", f"checkpoint_every={args.steps}"])  # fmt: skip
        summary = read_training_summary(out / TRAINING_FILE)
        steady = [h.clips_per_s for h in summary.history if isinstance(h, LossEntry) and h.clips_per_s and h.step > 1]
        cache = args.work / f"cache-w{world}"
        shutil.rmtree(cache, ignore_errors=True)
        config = args.work / f"config-w{world}.yaml"
        config.write_text(f"paths: {{cache: {cache.resolve()}}}\nbackbone: {{device: {args.device}}}\n")
        seconds = run(world, ["embed", str(clips.parent), "-c", str(config)])
        rows.append((world, sum(steady) / len(steady), summary.effective_batch, 64 / seconds, seconds))
    base = rows[0]
    lines = [
        f"Pretraining `--config small8`, {args.batch_size} clips per rank per step, steps 2–{args.steps}; embedding "
        "64 clips with the shipped model into an empty cache (wall time, start-up included).",
        "",
        "| ranks | pretraining clips/s | × 1 rank | clips per step | embedding clips/s | × 1 rank |",
        "|---|---|---|---|---|---|",
    ]
    for world, train, batch, embed, _ in rows:
        lines.append(
            f"| {world} | {train:.2f} | {train / base[1]:.2f} | {batch} | {embed:.2f} | {embed / base[3]:.2f} |"
        )
    host += f"; one thread per rank, device {args.device}"
    write_section(args.out, "bench_distributed", "\n".join(lines), host=host)


if __name__ == "__main__":
    main()
