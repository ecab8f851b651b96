"""The two random draws of a run. Every one (batches, crops, masks) goes through the run's one seeded
`torch.Generator`, whose state is checkpointed, so a resumed run draws exactly what it would have drawn."""

from __future__ import annotations

import torch


def uniform(bounds: tuple[float, float], generator: torch.Generator) -> float:
    """A float drawn uniformly from [low, high) with `generator`."""
    low, high = bounds
    return low + (high - low) * float(torch.rand((), generator=generator))


def randint(high: int, generator: torch.Generator) -> int:
    """An int drawn uniformly from [0, high) with `generator`."""
    return int(torch.randint(high, (), generator=generator))
