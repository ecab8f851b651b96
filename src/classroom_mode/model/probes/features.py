"""Stack per-clip `Embedding`s into the arrays a probe trains on, checking they belong together.

Every probe reads one `FeatureSet`: pooled vectors for the linear and prototype probes and the
distance gate, the time-averaged patch-token grid for the attentive probe. Mixing embeddings of
different widths or grids would train on garbage without an error, so it is refused here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from classroom_mode.errors import UserError
from classroom_mode.records import Embedding


@dataclass(frozen=True)
class FeatureSet:
    """`pooled` (n, D) float32; `tokens` (n, rows * cols, D) float32 or None; `grid` (rows, cols) of the tokens."""

    pooled: np.ndarray
    tokens: np.ndarray | None
    grid: tuple[int, int] | None

    def __len__(self) -> int:
        return int(self.pooled.shape[0])

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[1])

    def subset(self, index: np.ndarray) -> FeatureSet:
        tokens = None if self.tokens is None else self.tokens[index]
        return FeatureSet(self.pooled[index], tokens, self.grid)

    @classmethod
    def from_embeddings(cls, embeddings: Sequence[Embedding]) -> FeatureSet:
        """Stack embeddings; tokens are kept only when every embedding has them on the same grid."""
        if not embeddings:
            raise UserError("no embeddings to build features from")
        dims = {e.pooled.shape[-1] for e in embeddings}
        if len(dims) != 1:
            raise UserError(f"embeddings have different widths {sorted(dims)}: they come from different backbones")
        pooled = np.stack([np.asarray(e.pooled, dtype=np.float32).reshape(-1) for e in embeddings])
        grids = {_spatial_grid(e) for e in embeddings}
        if None in grids or len(grids) != 1:
            return cls(pooled, None, None)
        (grid,) = grids
        tokens = np.stack([np.asarray(e.tokens, dtype=np.float32) for e in embeddings])
        return cls(pooled, tokens, grid)


def _spatial_grid(embedding: Embedding) -> tuple[int, int] | None:
    """(rows, cols) of a time-averaged token grid, or None when the embedding carries no usable tokens."""
    if embedding.tokens is None or embedding.grid is None:
        return None
    time, rows, cols = embedding.grid
    if time != 1 or embedding.tokens.shape != (rows * cols, embedding.pooled.shape[-1]):
        return None
    return rows, cols
