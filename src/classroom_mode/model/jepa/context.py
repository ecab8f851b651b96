"""The three forward passes of the JEPA objective, built from `transformers`' VJEPA2 modules.

- `encode_context`: the context encoder sees ONLY the visible tokens. The clip is patch-embedded, the visible
  tokens are gathered, and the encoder layers run on those alone with `position_mask` set to their true
  indices so RoPE places them correctly. (`VJEPA2Model(x, context_mask=...)` instead encodes the whole clip
  bidirectionally and only then drops tokens, so its "context" has already seen the targets.)
  Patch embedding is a strided Conv3d with stride = kernel, so a visible token's embedding depends only on
  its own tubelet: masked-out pixels cannot reach the output.
- `predict`: `VJEPA2Predictor` starts with `apply_masks(states, context_mask)` and so expects full-length
  states; the visible outputs are scattered into a full-length tensor at their own indices, which that gather
  returns exactly (the filler at the other positions is never read). Its forward has no `mask_index`, so every
  mask generator shares one learnable mask token (the official code keeps one per generator).
- `target_tokens`: the (EMA) target encoder on the full clip, then a non-affine LayerNorm, as the official
  recipe builds its regression targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2Encoder, VJEPA2Predictor, apply_masks


def encode_context(encoder: VJEPA2Encoder, pixel_values: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Encode only the `visible` tokens (B, n) of `pixel_values` (B, T, C, H, W); returns (B, n, D)."""
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
    """Predict the tokens at `targets` (B, m) from the context outputs (B, n, D) at `visible`; returns (B, m, D)."""
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
