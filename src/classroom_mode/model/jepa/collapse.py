"""Collapse watch: is the target encoder still telling tokens apart?

A JEPA can minimise its loss by mapping every clip to the same embedding. Two numbers catch it early: the
per-dimension standard deviation of the target tokens across a batch (→ 0 when all tokens are alike) and
their effective rank (Roy & Vetterli: exp of the entropy of the normalised singular values; → 1 when the
embeddings lie on a line). Both are logged every few steps and a warning is raised when either gets close.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_ROWS = 4096
"""Tokens used for the SVD (an even stride through the batch beyond this): plenty for a rank of a few hundred."""


@dataclass(frozen=True)
class CollapseStats:
    std_mean: float
    """Mean over dimensions of the per-dimension std across tokens."""
    std_min: float
    effective_rank: float
    dim: int

    def warning(self, min_rank_fraction: float = 0.05, min_std: float = 0.05) -> str | None:
        """A loud message when the representation is near collapse, else None.

        Thresholds are for layer-normalised targets (per-token unit variance): healthy runs keep a mean
        per-dimension std well above 0.1 and an effective rank of a sizeable fraction of the width.
        """
        problems = []
        if self.effective_rank < max(2.0, min_rank_fraction * self.dim):
            problems.append(f"effective rank {self.effective_rank:.1f} of {self.dim} dimensions")
        if self.std_mean < min_std:
            problems.append(f"mean per-dimension std {self.std_mean:.4f}")
        if not problems:
            return None
        return "REPRESENTATION COLLAPSE WARNING: " + " and ".join(problems) + " — the target embeddings are collapsing"


def effective_rank(matrix: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values of a centred (M, D) matrix, between 1 and min(M, D)."""
    centred = matrix.float() - matrix.float().mean(dim=0, keepdim=True)
    singular = torch.linalg.svdvals(centred)
    total = singular.sum()
    if total <= 0:
        return 1.0
    p = singular / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def collapse_stats(tokens: torch.Tensor) -> CollapseStats:
    """Statistics of target tokens (..., D), pooled over every leading dimension."""
    flat = tokens.detach().reshape(-1, tokens.shape[-1]).float().cpu()
    if flat.shape[0] > MAX_ROWS:
        flat = flat[:: -(-flat.shape[0] // MAX_ROWS)]
    std = flat.std(dim=0)
    return CollapseStats(
        std_mean=float(std.mean()),
        std_min=float(std.min()),
        effective_rank=effective_rank(flat),
        dim=int(flat.shape[1]),
    )
