"""The V-JEPA objective, top to bottom: which tokens are hidden, the three forward passes, the loss.

1. Masks. A generator hides the union of `num_blocks` random space-time blocks; the context is the rest.
2. Passes. The context encoder encodes the visible tokens alone; the predictor fills in the hidden ones from
   the context outputs and learnable mask tokens; the EMA target encoder encodes the whole clip.
3. Loss. L1 between the predictions and the target encoder's tokens (non-affine LayerNorm, stop-gradient),
   averaged over the generators, plus the within-room terms a recipe may add.

Built from `transformers`' VJEPA2 modules; token indices follow their order (time, then row, then column), so
an index tensor is at once the `position_mask` of `VJEPA2Layer` and the `context_mask` / `target_mask` of
`VJEPA2Predictor`. The optimizer, the schedules and the EMA update are the trainer's (`trainer.py`).

Where this follows the official V-JEPA 2 recipe (ViT-L, 256 px, 16 frames) and where it deliberately differs:

- Same: two generators per clip, 8 blocks at spatial scale 0.15 and 2 at 0.7, aspect ratio 0.75–1.5, each
  block spanning every frame; the area truncated to whole tokens; context tokens dropped *before* the encoder
  layers; targets from the full clip through the EMA encoder, non-affine LayerNorm, L1.
- Differs: a block's shape (its aspect ratio) is drawn per mask, the official collator draws one per batch
  and generator: a batch here is 8 clips, too few to share one shape without every step seeing one kind of
  block. A block is at most grid − 1 tokens high and wide (I-JEPA's rule; the official V-JEPA caps at the
  grid): at a 16 × 16 grid this trims only long-range blocks drawn with an aspect ratio above 1.34, and every
  masked fraction and result in `docs/RESULTS.md` was measured with it. The predictor has one mask token
  for all generators (the official code keeps one per generator): `VJEPA2Predictor.forward` takes no
  `mask_index`. Ours only: a generator may hide the last tubelets alone (`FUTURE`), a room-grouped
  batch may centre its targets per room or add VICReg's variance and covariance terms, the targets may be
  erased of their room, and any batch may add LeJEPA's SIGReg beside the EMA target (section 3).
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
"""Ours: two large blocks over the second half of the clip only, predicted from the first half and the rest.

A block spanning every frame hides a person in all of them, so nothing in the context says where they are;
hiding only the last tubelets makes the predictor carry what it saw forward in time: the motion."""
MASK_PRESETS = {"official": OFFICIAL_MASKS, "official+future": (*OFFICIAL_MASKS, FUTURE), "future": (FUTURE,)}
"""`future` alone predicts the second half of a clip from the first: with the room erased, what stays from one
half to the next is the people, so the slow feature left should be them. Measured on erased windows
(docs/RESULTS.md, session 12): the targets collapse instead, a mostly grey half predicting the next one."""


@dataclass(frozen=True)
class MaskPair:
    """Context and target token indices for a batch: each (B, n), sorted ascending per row."""

    context: torch.Tensor
    target: torch.Tensor


def sample_block_mask(grid: TokenGrid, spec: BlockMaskSpec, generator: torch.Generator) -> torch.Tensor:
    """A (depth, height, width) bool tensor, True where one of `spec.num_blocks` random blocks covers a token."""
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


# --- 2. The three forward passes ----------------------------------------------------------------------------


def encode_context(encoder: VJEPA2Encoder, pixel_values: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Encode only the `visible` tokens (B, n) of `pixel_values` (B, T, C, H, W); returns (B, n, D).

    The clip is patch-embedded, the visible tokens gathered, and the encoder layers run on those alone, with
    `position_mask` set to their true indices so RoPE places them correctly. (`VJEPA2Model(x, context_mask=...)`
    instead encodes the whole clip bidirectionally and only then drops tokens, so its "context" has already
    seen the targets.) Patch embedding is a strided Conv3d with stride = kernel, so a visible token's embedding
    depends only on its own tubelet: hidden pixels cannot reach the output.
    """
    tokens = encoder.embeddings(pixel_values)
    hidden = apply_masks(tokens, [visible])
    for layer in encoder.layer:
        hidden = layer(hidden, position_mask=visible)[0]
    return encoder.layernorm(hidden)


def predict(
    predictor: VJEPA2Predictor,
    context: torch.Tensor,
    visible: torch.Tensor,
    targets: torch.Tensor,
    num_tokens: int,
) -> torch.Tensor:
    """Predict the tokens at `targets` (B, m) from the context outputs (B, n, D) at `visible`; returns (B, m, D).

    `VJEPA2Predictor` starts with `apply_masks(states, context_mask)` and so expects full-length states: the
    context outputs are scattered into a full-length tensor at their own indices, which that gather returns
    exactly (the filler at the other positions is never read).
    """
    full = context.new_zeros(context.shape[0], num_tokens, context.shape[-1])
    full = full.scatter(1, visible.unsqueeze(-1).expand(-1, -1, context.shape[-1]), context)
    return predictor(full, context_mask=[visible], target_mask=[targets]).last_hidden_state


def target_tokens(encoder: VJEPA2Encoder, pixel_values: torch.Tensor) -> torch.Tensor:
    """The full clip through the target encoder, layer-normalised without affine parameters: (B, N, D)."""
    return layer_normalised(encoder(pixel_values).last_hidden_state)


def layer_normalised(hidden: torch.Tensor) -> torch.Tensor:
    """Encoder outputs as regression targets: LayerNorm without affine parameters over the channels."""
    return F.layer_norm(hidden, (hidden.shape[-1],))


def gather_tokens(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Rows `indices` (B, m) of `tokens` (B, N, D): (B, m, D)."""
    return apply_masks(tokens, [indices])


class OnlineNetworks(nn.Module):
    """The trained pair, context encoder then predictor, as one module: what DistributedDataParallel wraps.

    One forward covers every mask generator of a micro-batch, so a distributed run synchronises its
    gradients once per backward.
    """

    def __init__(self, encoder: nn.Module, predictor: nn.Module, num_tokens: int) -> None:
        super().__init__()
        self.encoder, self.predictor, self.num_tokens = encoder, predictor, num_tokens

    def forward(self, pixel_values: torch.Tensor, masks: list[MaskPair]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        outputs = []
        for pair in masks:
            context = encode_context(self.encoder, pixel_values, pair.context)  # type: ignore[arg-type]
            predicted = predict(self.predictor, context, pair.context, pair.target, self.num_tokens)  # type: ignore[arg-type]
            outputs.append((context, predicted))
        return outputs


# --- 3. The loss --------------------------------------------------------------------------------------------
#
# A room-grouped batch is R rooms × G windows (room after room), and the G windows of a room share their crop
# and their mask, so token position p shows the same piece of the same room in each of them. Two of our levers
# use that structure against the slow-feature shortcut (a JEPA encoding the room, constant within a clip, and
# dropping the few patches of people, the part that is hard to predict):
#
# - centring the targets per room: each window's deviation from its room at every position (the people, their
#   pose and place, the light) is what is left to predict, so predicting the furniture lowers the loss no more;
# - VICReg's variance and covariance terms (Bardes et al. 2022) on context tokens centred the same way, so the
#   encoder can neither give every window of a room the same tokens nor spend its dimensions on one direction.
#
# Erasing the room from the targets only (`target_pixel_values`) takes the room out of what is predicted without
# taking it out of what the model reads: the target encoder sees each window minus its camera's median frame,
# the context encoder the plain window, so the furniture is worth nothing to the loss, and a model that reads
# plain clips (no room reference needed in the live loop) must find the people in them to predict their tokens.
# Measured (docs/RESULTS.md, session 12): at the official learning rate the erased targets collapse to ~10
# directions and the probes lose 10-15 points to random weights; at a tenth of it the model ties them.
#
# A fourth lever needs no room structure: LeJEPA's SIGReg (Balestriero & LeCun 2025, arXiv 2511.08544) pulls
# the context tokens towards an isotropic Gaussian, the distribution it shows minimises a downstream linear
# probe's risk, where the EMA target alone lets a small run settle on ~20 directions of 128 (`collapse.py`).
# Over a batch of different rooms the easiest Gaussian to make is one of rooms; within room groups
# (`sigreg_within_room`) it is asked of each token's deviation from its room's windows at the same position,
# what the people and the light make, so the room's furniture cannot satisfy it. Measured (docs/RESULTS.md,
# session 15): at weight 1 a token's within-room deviation outgrows its room's mean and both probes fall to
# or near chance; SIGReg over the batch with no EMA (`--ema 0 0`, LeJEPA's form) stays 3.6 points below the
# random twin's attentive probe (three seeds).


@dataclass(frozen=True)
class LossSettings:
    """The recipe's objective options (`PretrainRecipe.loss_settings()`)."""

    windows_per_room: int = 1
    centre_targets: bool = False
    variance_weight: float = 0.0
    covariance_weight: float = 0.0
    sigreg_weight: float = 0.0
    sigreg_within_room: bool = False


def jepa_loss(
    online: nn.Module,
    target_encoder: VJEPA2Encoder,
    pixel_values: torch.Tensor,
    masks: list[MaskPair],
    settings: LossSettings,
    directions: torch.Tensor | None = None,
    target_pixel_values: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch, averaged over generators; also the targets (for collapse statistics) and its parts.

    `online` is `OnlineNetworks` (or its DistributedDataParallel wrapper); `masks` hold one pair per generator;
    `directions` (D, slices) are SIGReg's for this step, required when `settings.sigreg_weight` is set.
    `target_pixel_values`, the same clips as the target encoder should see them (erased of their room), replace
    `pixel_values` there: the context encoder still reads the clips as they are.
    """
    group = settings.windows_per_room
    with torch.no_grad(), autocast(pixel_values.device):
        seen = pixel_values if target_pixel_values is None else target_pixel_values
        targets = target_tokens(target_encoder, seen).float()
    regression = centre_per_room(targets, group) if settings.centre_targets else targets
    with autocast(pixel_values.device):
        outputs = online(pixel_values, masks)
    terms: dict[str, list[torch.Tensor]] = {"l1": [], "variance": [], "covariance": [], "sigreg": []}
    for pair, (context, predicted) in zip(masks, outputs, strict=True):
        terms["l1"].append((predicted.float() - gather_tokens(regression, pair.target)).abs().mean())
        if settings.variance_weight or settings.covariance_weight:
            variance, covariance = variance_covariance(context, group)
            terms["variance"].append(variance)
            terms["covariance"].append(covariance)
        if settings.sigreg_weight:
            if directions is None:
                raise ValueError("a SIGReg weight needs this step's directions")
            samples = room_deviations(context, group) if settings.sigreg_within_room else context
            terms["sigreg"].append(sigreg(samples.reshape(-1, context.shape[-1]), directions))
    parts = {name: torch.stack(values).mean() for name, values in terms.items() if values}
    total = parts["l1"]
    if "variance" in parts:
        total = total + settings.variance_weight * parts["variance"] + settings.covariance_weight * parts["covariance"]
    if "sigreg" in parts:
        total = total + settings.sigreg_weight * parts["sigreg"]
    return total, targets, parts


def by_room(tokens: torch.Tensor, windows_per_room: int) -> torch.Tensor:
    """(R·G, ..., D) → (R, G, ..., D): the windows of each room together."""
    return tokens.reshape(tokens.shape[0] // windows_per_room, windows_per_room, *tokens.shape[1:])


def centre_per_room(tokens: torch.Tensor, windows_per_room: int) -> torch.Tensor:
    """(R·G, N, D) tokens minus the mean over each room's G windows at every token position."""
    grouped = by_room(tokens, windows_per_room)
    return (grouped - grouped.mean(dim=1, keepdim=True)).reshape(tokens.shape)


def room_deviations(tokens: torch.Tensor, windows_per_room: int) -> torch.Tensor:
    """(R·G, n, D) tokens centred per room and position, scaled by √(G / (G − 1)) so that deviations of
    windows drawn independently keep the windows' own variance (each room's mean takes one degree of freedom)."""
    scale = math.sqrt(windows_per_room / (windows_per_room - 1))
    return centre_per_room(tokens.float(), windows_per_room) * scale


def variance_covariance(tokens: torch.Tensor, windows_per_room: int) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg's (variance, covariance) terms of (R·G, n, D) tokens, within rooms and positions.

    Tokens are layer-normalised without gain (unit scale per token, so the hinge at 1 means "as varied within
    a room as a token is across its own dimensions"), centred per room and position, then pooled over rooms,
    windows and positions: variance = mean over dimensions of relu(1 − std); covariance = sum of squared
    off-diagonal entries of the covariance matrix / D.
    """
    normed = F.layer_norm(tokens.float(), (tokens.shape[-1],))
    centred = centre_per_room(normed, windows_per_room).reshape(-1, tokens.shape[-1])
    # each room and position loses one degree of freedom to its own mean
    dof = max(1, centred.shape[0] - centred.shape[0] // windows_per_room)
    covariance = centred.T @ centred / dof
    std = torch.sqrt(covariance.diagonal() + 1e-4)
    off_diagonal = covariance - torch.diag(covariance.diagonal())
    return F.relu(1.0 - std).mean(), off_diagonal.pow(2).sum() / tokens.shape[-1]


SIGREG_SLICES = 256
"""Random directions SIGReg tests per step, twice the `small8` width; drawn afresh every step from the run's
generator, so over a run they cover every direction of the token space."""
SIGREG_KNOTS = torch.linspace(0.0, 3.0, 17)
"""Where the characteristic functions are compared: |t| ≤ 3 covers what the Gaussian weight leaves (e^-4.5)."""


def sigreg_directions(dim: int, generator: torch.Generator) -> torch.Tensor:
    """(dim, SIGREG_SLICES) unit columns, uniform on the sphere: the slices of one step."""
    directions = torch.randn(dim, SIGREG_SLICES, generator=generator)
    return directions / directions.norm(dim=0, keepdim=True)


def sigreg(samples: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """SIGReg of (N, D) samples: the Epps–Pulley distance of each 1-D projection to N(0, 1), averaged over slices.

    By Cramér–Wold, samples whose every projection is standard normal are isotropic Gaussian. Each slice
    compares the empirical characteristic function, mean(e^{itx}), with the Gaussian's e^{-t²/2}, weighted by
    e^{-t²/2} and integrated by the trapezoid rule over t in [0, 3] (the integrand is even in t). Left
    unscaled by N, unlike the test statistic, so its weight does not depend on the batch size.
    """
    knots = SIGREG_KNOTS.to(samples.device)
    phases = (samples.float() @ directions.to(samples.device)).unsqueeze(-1) * knots  # (N, slices, knots)
    gaussian = torch.exp(-0.5 * knots.square())
    distance = (phases.cos().mean(dim=0) - gaussian).square() + phases.sin().mean(dim=0).square()
    return torch.trapezoid(distance * gaussian, knots, dim=-1).mean()
