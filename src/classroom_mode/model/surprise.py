"""Surprise: the world model's own prediction error, calibrated per camera.

Energy E = mean |LN(s_target) − Pred(s_context)|₁ over the tokens of the last frames. The context is the first
`context_tubelets` tubelets of the clip (the first half by default), and only those frames are fed to the
encoder, so nothing from the future can reach the context tokens or the prediction; the predictor fills in
the last frames' tokens from them; the target is the encoder's full-clip output at those positions, under the
same non-affine LayerNorm the JEPA objective regresses. A high energy means the last frames were not what the
model expected from the first ones.

Raw energy depends on the scene (a busy room is harder to predict than an empty one), so each camera keeps a
rolling baseline of its recent energies and a reading is scored as a robust z-score against it (median and
MAD, so a burst of events does not move the baseline much), then given a level from config thresholds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from statistics import median
from typing import Protocol

import torch
from transformers import VJEPA2Model

from classroom_mode.config import SurpriseThresholds
from classroom_mode.model.jepa.objective import (
    encode_context,
    gather_tokens,
    layer_normalised,
    run_predictor,
    teacher_tokens,
)
from classroom_mode.model.token_grid import TokenGrid
from classroom_mode.records import Clip, SurpriseLevel, SurpriseReading

LONG_RANGE_MASK_TOKEN = 1
"""The predictor's mask token for the long-range generator (large blocks over every frame), the one
`VJEPA2Predictor.forward` uses: the last frames hidden from the first are a large region too."""
MAD_TO_STD = 1.4826
"""Scales the median absolute deviation to a standard deviation for normally distributed energies."""
RELATIVE_SCALE_FLOOR = 0.02
"""The scale never drops below this fraction of the baseline median: a baseline with (almost) no spread, such as
the first few readings, would otherwise turn a 1 % change in energy into a huge score."""


class BackboneLike(Protocol):
    """What SurpriseModel needs of `classroom_mode.model.backbone.Backbone`."""

    model: VJEPA2Model
    device: torch.device
    frames_per_clip: int

    def preprocess(self, clips: list[Clip]) -> torch.Tensor: ...


class SurpriseModel:
    """Energies of clips under a V-JEPA 2 model (its encoder as both context and target encoder, and its predictor)."""

    def __init__(self, backbone: BackboneLike, context_tubelets: int | None = None) -> None:
        self.backbone = backbone
        self.model = backbone.model
        config = self.model.config
        self.tubelet = config.tubelet_size
        grid = TokenGrid.for_config(config, backbone.frames_per_clip)
        self.depth = grid.depth
        self.tokens_per_tubelet = grid.height * grid.width
        self.context_tubelets = context_tubelets if context_tubelets is not None else self.depth // 2
        if not 0 < self.context_tubelets < self.depth:
            raise ValueError(f"context_tubelets must be in 1..{self.depth - 1}, got {self.context_tubelets}")

    @property
    def context_frames(self) -> int:
        return self.context_tubelets * self.tubelet

    def energy(self, inputs: torch.Tensor | Sequence[Clip], encoded: torch.Tensor | None = None) -> list[float]:
        """One energy per clip, from preprocessed pixel values (B, T, C, H, W) or from `Clip`s.

        `encoded` is the encoder's output on the same full clips (B, N, D), when the caller already has it (the
        live loop embeds every window anyway): the targets are then read from it instead of a second pass.
        """
        pixel_values = inputs if isinstance(inputs, torch.Tensor) else self.backbone.preprocess(list(inputs))
        return self.token_errors(pixel_values, encoded).mean(dim=(1, 2)).tolist()

    @torch.inference_mode()
    def token_errors(self, pixel_values: torch.Tensor, encoded: torch.Tensor | None = None) -> torch.Tensor:
        """|target − prediction| for every last-frame token and channel: (B, M, D) float32."""
        predicted, targets = self.predict_future(pixel_values, encoded)
        return (predicted - targets).abs()

    @torch.inference_mode()
    def predict_future(
        self, pixel_values: torch.Tensor, encoded: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, target) of the last frames' tokens, each (B, M, D) float32; the targets come from
        `encoded` (the encoder's full-clip output) when given, else from a pass of the encoder here."""
        pixel_values = pixel_values.to(self.backbone.device)
        batch = pixel_values.shape[0]
        device = pixel_values.device
        num_tokens = self.depth * self.tokens_per_tubelet
        split = self.context_tubelets * self.tokens_per_tubelet
        visible = torch.arange(split, device=device).expand(batch, -1)
        future = torch.arange(split, num_tokens, device=device).expand(batch, -1)
        context = self.context_tokens(pixel_values)
        hidden, _ = run_predictor(self.model.predictor, context, visible, future, LONG_RANGE_MASK_TOKEN)
        predicted = self.model.predictor.proj(hidden)
        full = (
            layer_normalised(encoded.to(device))
            if encoded is not None
            else teacher_tokens(self.model.encoder, pixel_values)
        )
        targets = gather_tokens(full, future)
        return predicted.float(), targets.float()

    @torch.inference_mode()
    def context_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The context frames, and only they, through the encoder: (B, context_tubelets·h·w, D)."""
        context_clip = pixel_values[:, : self.context_frames]
        count = self.context_tubelets * self.tokens_per_tubelet
        visible = torch.arange(count, device=pixel_values.device).expand(pixel_values.shape[0], -1)
        return encode_context(self.model.encoder, context_clip, visible)


class SurpriseCalibrator:
    """Per-camera rolling baselines that turn raw energies into robust z-scores and levels."""

    def __init__(self, thresholds: SurpriseThresholds | None = None) -> None:
        self.thresholds = thresholds or SurpriseThresholds()
        self._history: dict[str, deque[float]] = {}

    def update(self, camera_id: str, energy: float, at: datetime) -> SurpriseReading:
        """Score `energy` against the camera's baseline (before it), then add it to the baseline."""
        if not math.isfinite(energy):
            raise ValueError(f"energy must be finite, got {energy}")
        history = self._history.setdefault(camera_id, deque(maxlen=self.thresholds.baseline_window))
        score, centre = robust_score(energy, list(history))
        ready = len(history) >= self.thresholds.min_baseline
        history.append(energy)
        return SurpriseReading(
            camera_id=camera_id,
            at=at,
            energy=energy,
            score=score,
            level=self.level(score) if ready else "normal",
            baseline=centre if ready else None,
        )

    def level(self, score: float) -> SurpriseLevel:
        if score >= self.thresholds.anomaly:
            return "anomaly"
        if score >= self.thresholds.unusual:
            return "unusual"
        return "normal"


def robust_score(value: float, baseline: Sequence[float]) -> tuple[float, float | None]:
    """(robust z-score of `value`, baseline median); (0, None) for an empty baseline."""
    if not baseline:
        return 0.0, None
    centre = median(baseline)
    spread = MAD_TO_STD * median(abs(v - centre) for v in baseline)
    scale = max(spread, RELATIVE_SCALE_FLOOR * abs(centre), 1e-12)
    return (value - centre) / scale, centre
