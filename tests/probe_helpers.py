"""Synthetic embeddings whose classes differ only in *where* a pattern sits on the patch grid.

Pooled vectors are the token mean, as a backbone's would be, so the class signal survives pooling
only weakly (the same pattern at a different place averages to almost the same vector): a probe
that looks at the grid has something to find that a pooled-vector probe does not get for free.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from classroom_mode.records import Embedding
from classroom_mode.sim import generate_dataset

MODES = ("empty", "group", "presentation", "solo")


def synthetic_embeddings(
    per_class: int,
    *,
    classes: tuple[str, ...] = MODES,
    dim: int = 32,
    grid: tuple[int, int] = (4, 4),
    signal: float = 1.5,
    seed: int = 0,
) -> tuple[list[Embedding], list[str]]:
    """`per_class` noisy clips per class; class c puts a fixed pattern on its own patch and a small pooled offset."""
    rows, cols = grid
    patterns = np.random.default_rng(1234).normal(size=(len(classes), dim))  # the classes, the same for every seed
    rng = np.random.default_rng(seed)
    embeddings, labels = [], []
    for c, name in enumerate(classes):
        for i in range(per_class):
            tokens = rng.normal(size=(rows * cols, dim))
            tokens[c % (rows * cols)] += signal * patterns[c]
            embeddings.append(
                Embedding(
                    key=f"{name}-{i}",
                    model_id="synthetic",
                    pooled=tokens.mean(axis=0).astype(np.float32),
                    tokens=tokens.astype(np.float16),
                    grid=(1, rows, cols),
                )
            )
            labels.append(name)
    return embeddings, labels


def session_embeddings(
    sessions: range, per_class: int, *, shift: float, dim: int = 32, signal: float = 1.0
) -> tuple[list[Embedding], list[str], list[str]]:
    """`synthetic_embeddings` recorded in several sessions, each of which moves every clip by its own random offset
    (the light, the camera's exact place): a probe learns a session's look along with the modes, and is surer of
    clips from the sessions it saw than clips from another bear out. Returns embeddings, labels and session ids."""
    embeddings, labels, groups = [], [], []
    for session in sessions:
        clips, names = synthetic_embeddings(per_class, dim=dim, signal=signal, seed=session)
        offset = np.random.default_rng([session, 99]).normal(size=dim) * shift
        embeddings += [
            replace(
                clip, pooled=(clip.pooled + offset).astype(np.float32), tokens=(clip.tokens + offset).astype(np.float16)
            )
            for clip in clips
            if clip.tokens is not None
        ]
        labels += names
        groups += [f"session-{session}"] * len(names)
    return embeddings, labels, groups


def labelled_folder(data: Path, clips_per_mode: int) -> Path:
    """A labelled data folder of real simulator MP4s (64 px, 1 s), as `record` would leave it (no manifest)."""
    generate_dataset(data, clips_per_mode, seconds=1.0, fps=8, size=(64, 64), seed=0, workers=1)
    (data / "manifest.json").unlink()
    return data
