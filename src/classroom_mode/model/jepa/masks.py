"""V-JEPA multi-block masking: which tokens the context encoder sees and which the predictor must fill in.

A generator samples `num_blocks` rectangular space-time blocks per clip (spatial area `spatial_scale` of the
frame, aspect ratio drawn from `aspect_ratio`, spanning `temporal_scale` of the tubelets) and masks their
union; the context is everything else. The official recipe uses two generators per clip: many small blocks
(short-range prediction) and two large ones (long-range prediction), every block spanning the whole clip.
A block spanning every frame hides a person in all of them, so nothing in the context says where they are;
a generator with `temporal_scale` < 1 and `anchor="end"` (our addition) hides only the last tubelets, so
the predictor must carry what it saw forward in time: the motion.

Token indices follow `transformers`' VJEPA2 order (time, then row, then column), so an index tensor can be
passed as the `position_mask` of `VJEPA2Layer` and as the `context_mask` / `target_mask` of `VJEPA2Predictor`.
In a batch every clip keeps the same number of context and target tokens (trimmed to the batch minimum, as
the official collator does), so the masks are dense (B, n) tensors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from classroom_mode.model.token_grid import TokenGrid


@dataclass(frozen=True)
class BlockMaskSpec:
    """One mask generator: how many blocks, how large, what shape, how long."""

    num_blocks: int
    spatial_scale: float
    """Fraction of the frame's token grid one block covers."""
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    """Range of block height / width, sampled uniformly."""
    temporal_scale: float = 1.0
    """Fraction of the tubelets a block spans (1.0: the whole clip, as in the official recipe)."""
    anchor: str = "anywhere"
    """Where a shorter block sits in time: `anywhere` (uniformly) or `end` (the last tubelets: the future)."""

    def __post_init__(self) -> None:
        if self.num_blocks < 1 or not 0 < self.spatial_scale <= 1 or not 0 < self.temporal_scale <= 1:
            raise ValueError(f"invalid mask spec {self}")
        if self.anchor not in ("anywhere", "end"):
            raise ValueError(f"invalid mask anchor {self.anchor!r}: anywhere or end")
        if not 0 < self.aspect_ratio[0] <= self.aspect_ratio[1]:
            raise ValueError(f"invalid aspect ratio range {self.aspect_ratio}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def label(self) -> str:
        """`8x0.15` (blocks × spatial scale), with `@t0.5-end` when a block spans only part of the clip."""
        if self.temporal_scale == 1.0:
            return f"{self.num_blocks}x{self.spatial_scale}"
        return f"{self.num_blocks}x{self.spatial_scale}@t{self.temporal_scale}-{self.anchor}"


SHORT_RANGE = BlockMaskSpec(num_blocks=8, spatial_scale=0.15)
LONG_RANGE = BlockMaskSpec(num_blocks=2, spatial_scale=0.7)
OFFICIAL_MASKS = (SHORT_RANGE, LONG_RANGE)
"""The official V-JEPA 2 recipe: the two generators applied to every clip."""
FUTURE = BlockMaskSpec(num_blocks=2, spatial_scale=0.7, temporal_scale=0.5, anchor="end")
"""Ours: two large blocks over the second half of the clip only, predicted from the first half and the rest."""
MASK_PRESETS = {"official": OFFICIAL_MASKS, "official+future": (*OFFICIAL_MASKS, FUTURE)}


@dataclass(frozen=True)
class MaskPair:
    """Context and target token indices for a batch: each (B, n), sorted ascending per row."""

    context: torch.Tensor
    target: torch.Tensor


def sample_block_mask(grid: TokenGrid, spec: BlockMaskSpec, generator: torch.Generator) -> torch.Tensor:
    """A (depth, height, width) bool tensor, True where one of `spec.num_blocks` random blocks covers a token."""
    # as the official generator: the area is truncated to whole tokens and a block never spans a full row/column
    area = int(grid.height * grid.width * spec.spatial_scale)
    ratio = uniform(spec.aspect_ratio, generator)
    block_h = min(max(1, grid.height - 1), max(1, round(math.sqrt(area * ratio))))
    block_w = min(max(1, grid.width - 1), max(1, round(math.sqrt(area / ratio))))
    block_t = min(grid.depth, max(1, round(grid.depth * spec.temporal_scale)))
    masked = torch.zeros(grid.depth, grid.height, grid.width, dtype=torch.bool)
    for _ in range(spec.num_blocks):
        t0 = grid.depth - block_t if spec.anchor == "end" else randint(grid.depth - block_t + 1, generator)
        y0 = randint(grid.height - block_h + 1, generator)
        x0 = randint(grid.width - block_w + 1, generator)
        masked[t0 : t0 + block_t, y0 : y0 + block_h, x0 : x0 + block_w] = True
    return masked


def sample_masks(
    grid: TokenGrid, spec: BlockMaskSpec, batch_size: int, generator: torch.Generator, repeat: int = 1
) -> MaskPair:
    """Context/target indices for a batch from one generator: `batch_size // repeat` masks, each used by
    `repeat` consecutive clips (the windows of one room group share theirs, so their positions line up).

    A mask that would leave no context (or nothing to predict) is resampled, so both index sets are non-empty.
    """
    contexts, targets = [], []
    while len(contexts) < batch_size // repeat:
        flat = sample_block_mask(grid, spec, generator).flatten()
        if flat.all() or not flat.any():
            continue
        contexts.append(torch.nonzero(~flat).squeeze(1))
        targets.append(torch.nonzero(flat).squeeze(1))
    keep_context = min(len(c) for c in contexts)
    keep_target = min(len(t) for t in targets)
    return MaskPair(
        context=torch.stack([c[:keep_context] for c in contexts]).repeat_interleave(repeat, dim=0),
        target=torch.stack([t[:keep_target] for t in targets]).repeat_interleave(repeat, dim=0),
    )


def measure_masked_fraction(grid: TokenGrid, spec: BlockMaskSpec, samples: int = 1000, seed: int = 0) -> float:
    """Mean fraction of tokens a generator masks per clip (before batch trimming): the number to report."""
    generator = torch.Generator().manual_seed(seed)
    total = sum(float(sample_block_mask(grid, spec, generator).float().mean()) for _ in range(samples))
    return total / samples


def uniform(bounds: tuple[float, float], generator: torch.Generator) -> float:
    """A float drawn uniformly from [low, high) with `generator` (every draw of a run goes through one generator)."""
    low, high = bounds
    return low + (high - low) * float(torch.rand((), generator=generator))


def randint(high: int, generator: torch.Generator) -> int:
    """An int drawn uniformly from [0, high) with `generator`."""
    return int(torch.randint(high, (), generator=generator))
