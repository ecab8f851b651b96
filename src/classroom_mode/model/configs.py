"""Named V-JEPA 2 architectures that need no weights: `config:tiny` for tests, `config:vitl` for timing.

A named config is loaded with RANDOM weights (seeded, so every process gets the same ones) and the
backbone says so (`Backbone.random_weights`); its features mean nothing and must never train a probe
a user relies on. `tiny` is a few hundred thousand parameters so a test encodes a clip in milliseconds;
`vitl` has the exact shape of `facebook/vjepa2-vitl-fpc64-256`, so its timing is the real model's.
"""

from __future__ import annotations

from transformers import VJEPA2Config

from classroom_mode.errors import UserError

CONFIG_PREFIX = "config:"
RANDOM_SEED = 0
"""Seed of the random weights of a named config: part of its identity (and so of the cache fingerprint)."""


def _tiny() -> VJEPA2Config:
    # 64 px crop with 16 px patches → a 4 × 4 grid; 16 frames / tubelet 2 → 8 × 4 × 4 = 128 tokens.
    # One line per part: the token grid, the encoder, the predictor, the pooler.
    return VJEPA2Config(
        crop_size=64, frames_per_clip=16, patch_size=16, tubelet_size=2,
        hidden_size=64, num_attention_heads=4, num_hidden_layers=2, mlp_ratio=2.0,
        pred_hidden_size=32, pred_num_attention_heads=4, pred_num_hidden_layers=2, pred_mlp_ratio=2.0,
        num_pooler_layers=1,
    )  # fmt: skip


def _vitl() -> VJEPA2Config:
    # transformers' defaults are the ViT-L/16, 256 px, fpc64 checkpoint's architecture.
    return VJEPA2Config()


NAMED_CONFIGS = {"tiny": _tiny, "vitl": _vitl}
"""Name → factory; each call returns a fresh config so callers may edit theirs."""


def named_config(name: str) -> VJEPA2Config:
    """The architecture called `name` (without the `config:` prefix), or a UserError listing the known ones."""
    try:
        return NAMED_CONFIGS[name]()
    except KeyError:
        known = ", ".join(CONFIG_PREFIX + n for n in NAMED_CONFIGS)
        raise UserError(f"{CONFIG_PREFIX}{name}: unknown named config (known: {known})") from None
