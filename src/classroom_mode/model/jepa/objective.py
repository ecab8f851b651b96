"""The V-JEPA objective, top to bottom: which tokens are hidden, the three forward passes, the loss.

1. Masks. A generator hides the union of `num_blocks` random space-time blocks; the context is the rest.
2. Passes. The student (the context encoder) encodes the visible tokens alone; the predictor fills in the
   hidden ones from the student's outputs and learnable mask tokens; the teacher encodes the whole clip.
3. Loss. L1 between the predictions at the hidden positions and the teacher's tokens (non-affine LayerNorm,
   stop-gradient), averaged over the generators. With V-JEPA 2.1's dense loss the predictor's outputs at the
   *visible* positions regress the teacher's tokens there too, each weighted by its distance to the hidden ones.

The teacher is an EMA copy of the student (V-JEPA) or a network that never moves (SALT); which, and the optimizer,
the schedules and the EMA update, are the trainer's (`trainer.py`). Built from `transformers`' VJEPA2 modules;
token indices follow their order (time, then row, then column), so an index tensor is at once the
`position_mask` of `VJEPA2Layer` and the `context_mask` / `target_mask` of `VJEPA2Predictor`.

Where this follows the official V-JEPA 2 recipe (ViT-L, 256 px, 16 frames) and where it deliberately differs:

- Same: two generators per clip, 8 blocks at spatial scale 0.15 and 2 at 0.7, aspect ratio 0.75–1.5, each
  block spanning every frame; the area truncated to whole tokens; context tokens dropped *before* the encoder
  layers; targets from the full clip through the teacher, non-affine LayerNorm, L1.
- Differs: a block's shape (its aspect ratio) is drawn per mask, the official collator draws one per batch
  and generator: a batch here is 8 clips, too few to share one shape without every step seeing one kind of
  block. A block is at most grid − 1 tokens high and wide (I-JEPA's rule; the official V-JEPA caps at the
  grid): at a 16 × 16 grid this trims only long-range blocks drawn with an aspect ratio above 1.34.
- Deep self-supervision: the official encoder gives each level its own affine LayerNorm; here the earlier levels
  are layer-normalised without affine parameters and the last goes through the encoder's own final norm, so the
  exported encoder is unchanged. The fusion (Linear to the encoder width, GELU, the predictor's input Linear) and
  the heads (one Linear per prediction to every level's width, split here as `deep_head` and `predictor.proj`)
  are the official shapes.

A run without a teacher (`teacher: pixels`, SALT's first stage) asks the same predictor for the hidden
tubelets' pixels instead, each tubelet normalised by its own mean and spread (VideoMAE's target), with an MSE
loss; its student then serves a second run as a frozen teacher.

Why the dense loss (Mur-Labadia et al. 2026, V-JEPA 2.1): with a loss on hidden tokens only, nothing asks the
visible tokens to keep what is local to them, and they drift into global aggregators; regressing them too keeps
each token about its own patch. Measured here without it, a small student's tokens lose the people they start
with (`docs/experiments/worldmodel.md`).

Deep self-supervision (V-JEPA 2.1, `levels` > 1): the same losses on several encoder depths at once. The student
hands the predictor its evenly spaced layers' outputs, fused; the teacher's same layers, each layer-normalised,
are the targets; so the early layers are asked to predict too, not only to serve the last one. On a small
student with a frozen random teacher it cost 12 points of the linear probe (`docs/experiments/worldmodel.md`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2Encoder, VJEPA2Predictor, apply_masks

from classroom_mode.model.compute import autocast
from classroom_mode.model.jepa.draws import randint, uniform
from classroom_mode.model.token_grid import TokenGrid

# --- 1. Masks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockMaskSpec:
    """One mask generator: how many blocks, how large, what shape; each block spans every frame."""

    num_blocks: int
    spatial_scale: float
    """Fraction of the frame's token grid one block covers."""
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    """Range of block height / width, sampled uniformly."""

    def __post_init__(self) -> None:
        if self.num_blocks < 1 or not 0 < self.spatial_scale <= 1:
            raise ValueError(f"invalid mask spec {self}")
        if not 0 < self.aspect_ratio[0] <= self.aspect_ratio[1]:
            raise ValueError(f"invalid aspect ratio range {self.aspect_ratio}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def label(self) -> str:
        """`8x0.15`: blocks × spatial scale."""
        return f"{self.num_blocks}x{self.spatial_scale}"


SHORT_RANGE = BlockMaskSpec(num_blocks=8, spatial_scale=0.15)
LONG_RANGE = BlockMaskSpec(num_blocks=2, spatial_scale=0.7)
OFFICIAL_MASKS = (SHORT_RANGE, LONG_RANGE)
"""The official V-JEPA 2 recipe: the two generators applied to every clip."""


@dataclass(frozen=True)
class MaskPair:
    """Context and target token indices for a batch: each (B, n), sorted ascending per row."""

    context: torch.Tensor
    target: torch.Tensor

    def rows(self, rows: slice) -> MaskPair:
        return MaskPair(self.context[rows], self.target[rows])

    def to(self, device: torch.device) -> MaskPair:
        return MaskPair(self.context.to(device), self.target.to(device))


def sample_block_mask(grid: TokenGrid, spec: BlockMaskSpec, generator: torch.Generator) -> torch.Tensor:
    """A (depth, height, width) bool tensor, True where one of `spec.num_blocks` random blocks covers a token."""
    area = int(grid.height * grid.width * spec.spatial_scale)
    ratio = uniform(spec.aspect_ratio, generator)
    block_h = min(max(1, grid.height - 1), max(1, round(math.sqrt(area * ratio))))
    block_w = min(max(1, grid.width - 1), max(1, round(math.sqrt(area / ratio))))
    masked = torch.zeros(grid.depth, grid.height, grid.width, dtype=torch.bool)
    for _ in range(spec.num_blocks):
        y0 = randint(grid.height - block_h + 1, generator)
        x0 = randint(grid.width - block_w + 1, generator)
        masked[:, y0 : y0 + block_h, x0 : x0 + block_w] = True
    return masked


def sample_masks(
    grid: TokenGrid, spec: BlockMaskSpec, batch_size: int, generator: torch.Generator, repeat: int = 1
) -> MaskPair:
    """Context/target indices for a batch from one generator: `batch_size // repeat` masks, each used by
    `repeat` consecutive clips (the windows of one room group share theirs, so their positions line up).

    A mask that would leave no context (or nothing to predict) is resampled, so both index sets are non-empty.
    Every clip keeps the same number of context and target tokens (trimmed to the batch's minimum, as the
    official collator does), so the masks are dense (B, n) tensors.
    """
    contexts: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
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


def distance_to_hidden(grid: TokenGrid, pair: MaskPair) -> torch.Tensor:
    """(B, n): each visible token's Euclidean distance, in token units (tubelet, row, column), to the nearest
    hidden token of its clip; at least 1, since the two sets are disjoint."""

    def coordinates(indices: torch.Tensor) -> torch.Tensor:
        per_frame = grid.height * grid.width
        t, rest = indices // per_frame, indices % per_frame
        return torch.stack([t, rest // grid.width, rest % grid.width], dim=-1).float()

    return torch.cdist(coordinates(pair.context), coordinates(pair.target)).amin(dim=-1)


# --- 2. The three forward passes ----------------------------------------------------------------------------


def level_layers(num_layers: int, levels: int) -> tuple[int, ...]:
    """The layers whose outputs deep self-supervision reads: `levels` of them evenly spaced, the last one last
    (V-JEPA 2.1 reads layers 2, 5, 8 and 11 of a 12-layer encoder; every layer of a 4-layer one)."""
    if not 1 <= levels <= num_layers:
        raise ValueError(f"{levels} levels of deep supervision: the encoder has {num_layers} layers")
    return tuple(num_layers * (i + 1) // levels - 1 for i in range(levels))


def encode_context(
    encoder: VJEPA2Encoder, pixel_values: torch.Tensor, visible: torch.Tensor | None, levels: int = 1
) -> torch.Tensor:
    """Encode only the `visible` tokens (B, n) of `pixel_values` (B, T, C, H, W), or every token when None;
    returns (B, n, levels · D).

    The clip is patch-embedded, the visible tokens gathered, and the encoder layers run on those alone, with
    `position_mask` set to their true indices so RoPE places them correctly. (`VJEPA2Model(x, context_mask=...)`
    instead encodes the whole clip bidirectionally and only then drops tokens, so its "context" has already
    seen the targets.) Patch embedding is a strided Conv3d with stride = kernel, so a visible token's embedding
    depends only on its own tubelet: hidden pixels cannot reach the output.

    With `levels` > 1 (deep self-supervision) the outputs of `level_layers` are concatenated in depth order, each
    layer-normalised without affine parameters, the last through the encoder's own final LayerNorm, so one level
    is exactly the encoder's output.
    """
    tokens = encoder.embeddings(pixel_values)
    hidden = tokens if visible is None else apply_masks(tokens, [visible])
    read = level_layers(len(encoder.layer), levels)[:-1]
    outputs = []
    for index, layer in enumerate(encoder.layer):
        hidden = layer(hidden, position_mask=visible)[0]
        if index in read:
            outputs.append(layer_normalised(hidden))
    outputs.append(encoder.layernorm(hidden))
    return torch.cat(outputs, dim=-1)


def run_predictor(
    predictor: VJEPA2Predictor,
    context: torch.Tensor,
    visible: torch.Tensor,
    targets: torch.Tensor,
    generator_index: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The predictor on the context outputs (B, n, D) at `visible` and mask tokens at `targets` (B, m).

    Each mask generator has its own learnable mask token, as in the official code (`generator_index`, modulo
    the predictor's `pred_num_mask_tokens`). Returns the predictor's normalised outputs (its own width) at
    `targets` (B, m, ·), which `predictor.proj` reads as the encoder's tokens, and at the visible positions
    (B, n, ·), which the dense loss reads through its own head.
    `VJEPA2Predictor.forward` runs the same modules but keeps only the first, projected; this keeps both.
    """
    hidden, positions = predictor.embeddings(context, [visible], [targets], mask_index=generator_index)
    order = torch.argsort(positions, dim=1)
    hidden, positions = predictor.sort_tokens(hidden, positions, order)
    for layer in predictor.layer:
        hidden = layer(hidden, positions)[0]
    hidden = predictor.unsort_tokens(predictor.layernorm(hidden), order)
    visible_count = context.shape[1]
    return hidden[:, visible_count:], hidden[:, :visible_count]


def teacher_tokens(teacher: VJEPA2Encoder, pixel_values: torch.Tensor, levels: int = 1) -> torch.Tensor:
    """The full clip through the teacher, each of its `levels` layer-normalised without affine parameters:
    (B, N, levels · D)."""
    tokens = encode_context(teacher, pixel_values, None, levels)
    batch, count, width = tokens.shape
    return layer_normalised(tokens.reshape(batch, count, levels, width // levels)).reshape(batch, count, width)


def layer_normalised(hidden: torch.Tensor) -> torch.Tensor:
    """Encoder outputs as regression targets: LayerNorm without affine parameters over the channels."""
    return F.layer_norm(hidden, (hidden.shape[-1],))


def gather_tokens(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Rows `indices` (B, m) of `tokens` (B, N, D): (B, m, D)."""
    return apply_masks(tokens, [indices])


@dataclass(frozen=True)
class Predictions:
    """What the trained networks say about one generator's mask."""

    hidden: torch.Tensor
    """(B, m, D): the predictions at the hidden positions."""
    visible: torch.Tensor | None
    """(B, n, D): the predictions at the visible positions (the dense loss's), or None without it."""


class OnlineNetworks(nn.Module):
    """The trained networks, student then predictor (then the dense loss's, the deep levels' or the pixels'
    heads), as one module: what DistributedDataParallel wraps. One forward covers every mask generator of a
    micro-batch, so a distributed run synchronises its gradients once per backward.

    With `levels` > 1 (V-JEPA 2.1's deep self-supervision) the student's levels are fused into the predictor's
    input by a small MLP (`fuse`, then the predictor's own input projection) and the predictions cover every
    level: `deep_head` the earlier ones, `predictor.proj` the last, so the exported predictor keeps its shape
    (though it learned from the fused levels, not from the last layer alone that inference hands it).
    """

    def __init__(
        self,
        student: VJEPA2Encoder,
        predictor: VJEPA2Predictor,
        *,
        dense: bool = False,
        pixels: int = 0,
        levels: int = 1,
    ) -> None:
        super().__init__()
        self.student, self.predictor, self.levels = student, predictor, levels
        config = predictor.config
        width, predictor_width = config.hidden_size, config.pred_hidden_size
        self.visible_head = nn.Linear(predictor_width, levels * width) if dense else None
        """V-JEPA 2.1's own head for the predictions at visible positions; trained, never exported."""
        self.pixel_head = nn.Linear(width, pixels) if pixels else None
        """With `pixels` values per tubelet, the predictions read as pixels (a run without a teacher); never
        exported."""
        self.fuse = nn.Sequential(nn.Linear(levels * width, width), nn.GELU()) if levels > 1 else None
        self.deep_head = nn.Linear(predictor_width, (levels - 1) * width) if levels > 1 else None

    def forward(self, pixel_values: torch.Tensor, masks: list[MaskPair]) -> list[Predictions]:
        outputs = []
        for index, pair in enumerate(masks):
            context = encode_context(self.student, pixel_values, pair.context, self.levels)
            if self.fuse is not None:
                context = self.fuse(context)
            hidden, visible = run_predictor(self.predictor, context, pair.context, pair.target, index)
            predicted = self.predictor.proj(hidden)
            if self.pixel_head is not None:
                predicted = self.pixel_head(predicted)
            if self.deep_head is not None:
                predicted = torch.cat([self.deep_head(hidden), predicted], dim=-1)
            outputs.append(Predictions(predicted, None if self.visible_head is None else self.visible_head(visible)))
        return outputs


# --- 3. The loss --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DenseLoss:
    """V-JEPA 2.1's dense predictive loss at one step: its weight λ (after the warm-up) and how visible tokens
    are weighted: `distance` (1/√d_min, d_min the distance to the nearest hidden token, as the official code) or
    `uniform`."""

    weight: float
    weighting: str = "distance"


def jepa_loss(  # noqa: PLR0913 -- the batch and its networks, then keyword-only options, each named at the call
    online: nn.Module,
    teacher: VJEPA2Encoder,
    pixel_values: torch.Tensor,
    masks: list[MaskPair],
    grid: TokenGrid,
    *,
    dense: DenseLoss | None = None,
    levels: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch, averaged over generators; also the teacher's last-layer tokens (for collapse
    statistics) and the loss's parts (`l1` on hidden tokens, `dense` on visible ones when the dense loss is on).

    `online` is `OnlineNetworks` (or its DistributedDataParallel wrapper) with the same `levels`; `masks` hold one
    pair per generator. With several levels every term averages over them alike.
    """
    with torch.no_grad(), autocast(pixel_values.device):
        targets = teacher_tokens(teacher, pixel_values, levels).float()
    with autocast(pixel_values.device):
        outputs: list[Predictions] = online(pixel_values, masks)
    hidden_terms, dense_terms = [], []
    for pair, predicted in zip(masks, outputs, strict=True):
        hidden_terms.append((predicted.hidden.float() - gather_tokens(targets, pair.target)).abs().mean())
        if dense is not None and predicted.visible is not None:
            error = (predicted.visible.float() - gather_tokens(targets, pair.context)).abs()
            if dense.weighting == "distance":
                error = error / distance_to_hidden(grid, pair).sqrt().unsqueeze(-1)
            dense_terms.append(error.mean())
    parts = {"l1": torch.stack(hidden_terms).mean()}
    total = parts["l1"]
    if dense_terms and dense is not None:
        parts["dense"] = torch.stack(dense_terms).mean()
        total = total + dense.weight * parts["dense"]
    last_level = targets[..., (levels - 1) * targets.shape[-1] // levels :]
    return total, last_level, parts


def tubelet_pixels(pixel_values: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
    """(B, T, C, H, W) → (B, N, tubelet · patch · patch · C): each token's own pixels, in the token order of the
    encoder's patch embedding (time, then row, then column)."""
    batch, frames, channels, height, width = pixel_values.shape
    tubelet, patch_h, patch_w = frames // grid.depth, height // grid.height, width // grid.width
    cubes = pixel_values.reshape(batch, grid.depth, tubelet, channels, grid.height, patch_h, grid.width, patch_w)
    return cubes.permute(0, 1, 4, 6, 2, 5, 7, 3).reshape(batch, grid.num_tokens, -1)


def normalised_pixels(pixel_values: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
    """Reconstruction targets: each tubelet's pixels minus their mean, over their standard deviation (VideoMAE),
    so a dim corner and a bright one are targets of one scale."""
    cubes = tubelet_pixels(pixel_values.float(), grid)
    mean, var = cubes.mean(dim=-1, keepdim=True), cubes.var(dim=-1, keepdim=True)
    return (cubes - mean) / (var + 1e-6).sqrt()


def pixel_loss(
    online: nn.Module, pixel_values: torch.Tensor, masks: list[MaskPair], grid: TokenGrid
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Masked video modelling, the loss of a run without a teacher: MSE between the predicted and the normalised
    pixels of the hidden tubelets, averaged over generators; also the loss's parts (`pixels`)."""
    targets = normalised_pixels(pixel_values, grid)
    with autocast(pixel_values.device):
        outputs: list[Predictions] = online(pixel_values, masks)
    terms = [
        F.mse_loss(predicted.hidden.float(), gather_tokens(targets, pair.target))
        for pair, predicted in zip(masks, outputs, strict=True)
    ]
    loss = torch.stack(terms).mean()
    return loss, {"pixels": loss}
