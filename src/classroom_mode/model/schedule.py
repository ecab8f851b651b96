"""The one learning-rate shape of the project: linear warm-up, then cosine decay.

Pretraining (`jepa/recipe.py`) and the attentive probe's grid (`probes/attentive.py`) both use it, as the
official V-JEPA 2 code does for its frozen evaluations. (The official *pretraining* schedule is warm-up then
constant with a short cool-down; ours decays because a small run ends long before a constant phase pays off.)
"""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The schedule's factor at `step` (0-based): (step + 1) / warmup while warming up, then 1 → 0 by `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
