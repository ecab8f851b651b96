"""The pretraining recipe: every hyperparameter of a run, in one validated record saved beside its checkpoints.

Defaults follow the official V-JEPA 2 ViT-L 256 px / 16 f recipe where its numbers carry over to a tiny model:
the masks and L1 loss (`objective.py` says where they differ), AdamW with peak lr 5.25e-4 and weight decay 0.04.
Two schedules deliberately differ. The official EMA momentum, a constant 0.99925, averages over ~1,300 steps,
most of a short CPU run, so the target encoder would barely move from its random initialisation; we use
I-JEPA's schedule instead, 0.996 rising to 1.0 over the run (an averaging horizon of ~250 steps early on,
freezing the target at the end). The official learning rate warms up from 1e-4 and is then held constant,
with a separate cool-down phase; ours warms up from `min_lr` and decays by a cosine to `min_lr` within the
run (`schedule.warmup_cosine`), because a run of a few thousand steps has no room for a separate cool-down.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import VJEPA2Config

from classroom_mode.model import erasure
from classroom_mode.model.jepa.objective import OFFICIAL_MASKS, BlockMaskSpec, LossSettings
from classroom_mode.model.schedule import warmup_cosine
from classroom_mode.model.token_grid import FRAMES_PER_CLIP, clip_frames


class MaskSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_blocks: int = Field(ge=1)
    spatial_scale: float = Field(gt=0, le=1)
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    temporal_scale: float = Field(1.0, gt=0, le=1)
    anchor: Literal["anywhere", "end"] = "anywhere"

    def spec(self) -> BlockMaskSpec:
        return BlockMaskSpec(self.num_blocks, self.spatial_scale, self.aspect_ratio, self.temporal_scale, self.anchor)


def _official_masks() -> list[MaskSetting]:
    return [MaskSetting(**spec.to_dict()) for spec in OFFICIAL_MASKS]


class PretrainRecipe(BaseModel):
    """Optimisation and objective settings of one pretraining run (the model geometry lives in `model`)."""

    model_config = ConfigDict(extra="forbid")

    model: dict[str, Any] = Field(description="VJEPA2Config fields of the encoder and predictor")
    init: str | None = Field(None, description="backbone whose weights the run starts from; None: random init")
    masks: list[MaskSetting] = Field(default_factory=_official_masks, min_length=1)
    steps: int = Field(ge=1)
    batch_size: int = Field(8, ge=1)
    accumulation: int = Field(1, ge=1, description="micro-batches per optimizer step")
    world_size: int = Field(1, ge=1, description="ranks the run is trained on (torchrun); recorded, may change")
    lr: float = Field(5.25e-4, gt=0)
    min_lr: float = Field(1e-6, ge=0)
    warmup_steps: int = Field(40, ge=0)
    weight_decay: float = Field(0.04, ge=0)
    ema_start: float = Field(0.996, ge=0, le=1)
    ema_end: float = Field(1.0, ge=0, le=1)
    random_resized_crop: tuple[float, float] = Field(
        (0.3, 1.0), description="area range of the training crop (official video augmentation)"
    )
    windows_per_room: int = Field(
        1, ge=1, description="windows of one camera per batch, sharing a crop and a mask (1: independent clips)"
    )
    target_centring: Literal["none", "room"] = Field(
        "none", description="room: targets minus their room group's mean token at each position (see objective.py)"
    )
    target_erasure: Literal["none", "room"] = Field(
        "none",
        description="room: the target encoder reads each window minus its camera's median frame, the context "
        "encoder the plain window (see objective.py); the model reads plain clips",
    )
    variance_weight: float = Field(0.0, ge=0, description="within-room VICReg variance term on context tokens")
    covariance_weight: float = Field(0.0, ge=0, description="within-room VICReg covariance term on context tokens")
    sigreg_weight: float = Field(0.0, ge=0, description="LeJEPA's SIGReg on context tokens")
    sigreg_scope: Literal["batch", "room"] = Field(
        "batch", description="room: SIGReg on each context token's deviation from its room group (see objective.py)"
    )
    seed: int = 0
    checkpoint_every: int = Field(100, ge=1)
    log_every: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.batch_size % self.windows_per_room:
            raise ValueError(
                f"batch size {self.batch_size} is not a whole number of {self.windows_per_room}-window rooms"
            )
        grouped = (
            self.target_centring != "none"
            or self.variance_weight
            or self.covariance_weight
            or (self.sigreg_weight and self.sigreg_scope == "room")
        )
        if grouped and self.windows_per_room < 2:
            raise ValueError(
                "target centring, the variance-covariance terms and SIGReg within rooms need windows_per_room of 2 "
                "or more"
            )
        if self.erases_targets and self.erases_room:
            raise ValueError("the room is erased at the input, so from the targets too: target erasure adds nothing")
        crop, patch = self.model.get("crop_size", 256), self.model.get("patch_size", 16)
        if crop % patch:
            raise ValueError(f"patch size {patch} does not divide the crop size {crop}")
        return self

    def model_config_object(self) -> VJEPA2Config:
        return VJEPA2Config(**self.model)

    @property
    def erases_room(self) -> bool:
        """Whether the run trains on room-erased windows (`model.erasure`); the exported config says so too."""
        return self.model.get(erasure.CONFIG_KEY) == erasure.ERASED_INPUT

    @property
    def erases_targets(self) -> bool:
        """Whether only the target encoder reads room-erased windows (`target_erasure`)."""
        return self.target_erasure == "room"

    @property
    def clip_frames(self) -> int:
        """Frames per training clip: what the backbone feeds the model at inference (at most 16; the official
        checkpoints' `frames_per_clip` of 64 is their pretraining length, not what a 3 s camera clip gets)."""
        return clip_frames(self.model.get("frames_per_clip", FRAMES_PER_CLIP), self.model.get("tubelet_size", 2))

    def loss_settings(self) -> LossSettings:
        return LossSettings(
            windows_per_room=self.windows_per_room,
            centre_targets=self.target_centring == "room",
            variance_weight=self.variance_weight,
            covariance_weight=self.covariance_weight,
            sigreg_weight=self.sigreg_weight,
            sigreg_within_room=self.sigreg_scope == "room",
        )

    def lr_at(self, step: int) -> float:
        """Linear warm-up from `min_lr` to `lr`, then cosine decay back to `min_lr` at `steps`."""
        return self.min_lr + (self.lr - self.min_lr) * warmup_cosine(step, self.steps, self.warmup_steps)

    def ema_at(self, step: int) -> float:
        """EMA momentum, linear from `ema_start` to `ema_end` over the run."""
        return self.ema_start + (self.ema_end - self.ema_start) * min(1.0, step / max(1, self.steps))

    @property
    def effective_batch(self) -> int:
        """Clips per optimizer step: per-rank batch × ranks × accumulation."""
        return self.batch_size * self.world_size * self.accumulation

    def identity(self) -> dict[str, Any]:
        """The fields that must match to resume a run: everything but bookkeeping cadences and how a step is
        spread over ranks and micro-batches (a run resumes at any world size; its per-rank batch must match)."""
        return self.model_dump(mode="json", exclude={"checkpoint_every", "log_every", "world_size", "accumulation"})


SMALL_MODEL: dict[str, Any] = {
    "crop_size": 128,
    "frames_per_clip": 8,
    "tubelet_size": 2,
    "patch_size": 16,
    "hidden_size": 192,
    "num_hidden_layers": 6,
    "num_attention_heads": 3,
    "mlp_ratio": 4.0,
    "pred_hidden_size": 128,
    "pred_num_hidden_layers": 4,
    "pred_num_attention_heads": 4,
    "pred_mlp_ratio": 4.0,
    "pred_num_mask_tokens": 2,
    "num_pooler_layers": 1,
}
"""`--config small`: the project's own model (ViT-Ti width, 6 layers; 128 px, 8 frames → 4×8×8 = 256 tokens).

Eight frames rather than sixteen halves the tokens, so the model trains in about half an hour on two shared CPU
cores; a clip still spans the same ~3 s of the camera, sampled at ~2.7 frames per second."""

SMALL8_MODEL: dict[str, Any] = {
    "crop_size": 128,
    "frames_per_clip": 4,
    "tubelet_size": 2,
    "patch_size": 8,
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "mlp_ratio": 4.0,
    "pred_hidden_size": 96,
    "pred_num_hidden_layers": 3,
    "pred_num_attention_heads": 4,
    "pred_mlp_ratio": 4.0,
    "pred_num_mask_tokens": 2,
    "num_pooler_layers": 1,
}
"""`--config small8`: 8 px patches, so a person at 128 px spans several tokens rather than one or two
(LeJEPA's small recipe uses 8 px at 128 px); 4 frames → 2×16×16 = 512 tokens, and a narrower, shallower
network so a step costs about what `small`'s does."""

PRESETS: dict[str, dict[str, Any]] = {"small": SMALL_MODEL, "small8": SMALL8_MODEL}
