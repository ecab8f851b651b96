"""The pretraining recipe: every hyperparameter of a run, in one validated record saved beside its checkpoints.

Every default lives here; `pretrain --recipe FILE` reads a YAML file of these fields and `--set NAME=VALUE`
overrides one. Defaults follow the official V-JEPA 2 ViT-L 256 px / 16 f recipe where its numbers carry over to a
tiny model: the masks and L1 loss (`objective.py` says where they differ), AdamW with peak lr 5.25e-4 and
weight decay 0.04. Two schedules deliberately differ. The official EMA momentum, a constant 0.99925, averages
over ~1,300 steps, most of a short CPU run, so the teacher would barely move from its random initialisation;
we use I-JEPA's schedule instead, 0.996 rising to 1.0 over the run. The official learning rate warms up from
1e-4 and is then held constant, with a separate cool-down phase; ours warms up from `min_lr` and decays by a
cosine to `min_lr` within the run (`schedule.warmup_cosine`), because a run of a few thousand steps has no room
for a separate cool-down.

Four choices are V-JEPA 2.1's and SALT's rather than V-JEPA 2's, all off by default: the dense loss on visible
tokens (`dense_weight`, `objective.py`); the same losses on several encoder depths (`deep_levels`); a teacher
that never moves (`teacher: frozen`); and no teacher at all (`teacher: pixels`), the hidden tubelets' pixels
being the targets, SALT's first stage whose student a second run takes as its frozen `teacher_model`. Without
an EMA teacher the student is what the run exports and measures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from transformers import VJEPA2Config

from classroom_mode.errors import UserError
from classroom_mode.model.jepa.objective import OFFICIAL_MASKS, BlockMaskSpec, DenseLoss
from classroom_mode.model.schedule import warmup_cosine
from classroom_mode.model.token_grid import FRAMES_PER_CLIP, clip_frames

DEFAULT_EMA = (0.996, 1.0)


class MaskSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_blocks: int = Field(ge=1)
    spatial_scale: float = Field(gt=0, le=1)
    aspect_ratio: tuple[float, float] = (0.75, 1.5)

    def spec(self) -> BlockMaskSpec:
        return BlockMaskSpec(self.num_blocks, self.spatial_scale, self.aspect_ratio)


def _official_masks() -> list[MaskSetting]:
    return [MaskSetting(**spec.to_dict()) for spec in OFFICIAL_MASKS]


class PretrainRecipe(BaseModel):
    """Optimisation and objective settings of one pretraining run, and the model geometry it trains."""

    model_config = ConfigDict(extra="forbid")

    model: dict[str, Any] = Field(
        description="VJEPA2Config fields of the encoder and predictor, or a preset's name (small, small8)"
    )
    init: str | None = Field(None, description="backbone whose weights the run starts from; None: random init")
    erase_room: bool = Field(
        False, description="train on each camera's windows minus its median frame; the model then reads erased clips"
    )
    masks: list[MaskSetting] = Field(default_factory=_official_masks, min_length=1)
    steps: int = Field(ge=1)
    batch_size: int = Field(8, ge=1)
    accumulation: int = Field(1, ge=1, description="micro-batches per optimizer step")
    world_size: int = Field(1, ge=1, description="ranks the run is trained on (torchrun); recorded, may change")
    lr: float = Field(5.25e-4, gt=0)
    min_lr: float = Field(1e-6, ge=0)
    warmup_steps: int = Field(40, ge=0)
    weight_decay: float = Field(0.04, ge=0)
    teacher: Literal["ema", "frozen", "pixels"] = Field(
        "ema",
        description="ema: the targets' encoder follows the student (V-JEPA); frozen: it never moves (SALT); "
        "pixels: no teacher, the targets are the hidden tubelets' normalised pixels (SALT's first stage)",
    )
    teacher_model: str | None = Field(
        None, description="a frozen teacher's weights (a model folder); None: the student's own starting weights"
    )
    ema: tuple[float, float] | None = Field(
        None, description="EMA momentum at the start and the end of the run (default 0.996 → 1.0; ema teacher only)"
    )
    dense_weight: float = Field(0.0, ge=0, le=10, description="λ of V-JEPA 2.1's dense loss on visible tokens; 0: off")
    dense_weighting: Literal["distance", "uniform"] = Field(
        "distance", description="distance: each visible token weighted 1/√(distance to the nearest hidden token)"
    )
    dense_warmup: tuple[float, float] = Field(
        (0.05, 0.10), description="fractions of the run: the dense loss is off before the first, full from the second"
    )
    deep_levels: int = Field(
        1,
        ge=1,
        description="encoder depths every loss reads (V-JEPA 2.1's deep self-supervision): evenly spaced layers "
        "ending at the last; 1: the last layer alone",
    )
    random_resized_crop: tuple[float, float] = Field(
        (0.3, 1.0), description="area range of the training crop (official video augmentation)"
    )
    windows_per_room: int = Field(
        1, ge=1, description="windows of one camera per batch, sharing a crop and a mask (1: independent clips)"
    )
    seed: int = 0
    checkpoint_every: int = Field(100, ge=1)
    log_every: int = Field(10, ge=1)

    @field_validator("model", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in PRESETS:
                raise ValueError(f"unknown architecture {value!r} (known: {', '.join(PRESETS)})")
            return dict(PRESETS[value])
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.batch_size % self.windows_per_room:
            raise ValueError(
                f"batch size {self.batch_size} is not a whole number of {self.windows_per_room}-window rooms"
            )
        start, full = self.dense_warmup
        if not 0 <= start <= full <= 1:
            raise ValueError(f"dense_warmup {self.dense_warmup}: two fractions of the run, 0 ≤ off ≤ full ≤ 1")
        crop, patch = self.model.get("crop_size", 256), self.model.get("patch_size", 16)
        if crop % patch:
            raise ValueError(f"patch size {patch} does not divide the crop size {crop}")
        layers = self.model.get("num_hidden_layers", VJEPA2Config().num_hidden_layers)
        if self.deep_levels > layers:
            raise ValueError(f"deep_levels {self.deep_levels}: the encoder has {layers} layers, one level each at most")
        return self

    @model_validator(mode="after")
    def _teacher_fits(self) -> Self:
        """The teacher's settings agree with its kind; an EMA teacher without a schedule gets the default one."""
        if self.teacher == "frozen" and self.ema is not None:
            raise ValueError("a frozen teacher never moves: drop the EMA schedule (ema), or use teacher: ema")
        if self.teacher == "pixels" and self.ema is not None:
            raise ValueError("teacher: pixels has no teacher to move: drop the EMA schedule (ema)")
        if self.teacher == "pixels" and self.dense_weight:
            raise ValueError("the dense loss regresses a teacher's tokens: teacher: pixels has none (dense_weight: 0)")
        if self.teacher == "pixels" and self.deep_levels > 1:
            raise ValueError("deep supervision regresses a teacher's layers: teacher: pixels has none (deep_levels: 1)")
        if self.teacher != "frozen" and self.teacher_model is not None:
            raise ValueError("teacher_model names a frozen teacher: set teacher: frozen")
        if self.teacher == "ema" and self.ema is None:
            self.ema = DEFAULT_EMA
        if self.ema is not None and not all(0 <= m <= 1 for m in self.ema):
            raise ValueError(f"EMA momentum {self.ema}: each end must be within 0–1")
        return self

    def model_config_object(self) -> VJEPA2Config:
        return VJEPA2Config(**self.model)

    @property
    def clip_frames(self) -> int:
        """Frames per training clip: what the backbone feeds the model at inference (at most 16; the official
        checkpoints' `frames_per_clip` of 64 is their pretraining length, not what a 3 s camera clip gets)."""
        return clip_frames(self.model.get("frames_per_clip", FRAMES_PER_CLIP), self.model.get("tubelet_size", 2))

    @property
    def exports_student(self) -> bool:
        """What the run exports and measures: the EMA teacher under V-JEPA (whose target encoder is the one
        kept), the student otherwise (a frozen teacher learned nothing from this run; a pixels run has none)."""
        return self.teacher != "ema"

    def lr_at(self, step: int) -> float:
        """Linear warm-up from `min_lr` to `lr`, then cosine decay back to `min_lr` at `steps`."""
        return self.min_lr + (self.lr - self.min_lr) * warmup_cosine(step, self.steps, self.warmup_steps)

    def ema_at(self, step: int) -> float:
        """EMA momentum, linear from the schedule's start to its end over the run; 1 (no move) for a frozen one."""
        if self.ema is None:
            return 1.0
        start, end = self.ema
        return start + (end - start) * min(1.0, step / max(1, self.steps))

    def dense_at(self, step: int) -> DenseLoss | None:
        """The dense loss at `step`: None when off, its λ ramped linearly over `dense_warmup`."""
        if not self.dense_weight:
            return None
        off, full = (round(f * self.steps) for f in self.dense_warmup)
        ramp = 1.0 if step >= full else max(0.0, (step - off) / max(1, full - off))
        return DenseLoss(self.dense_weight * ramp, self.dense_weighting)

    @property
    def effective_batch(self) -> int:
        """Clips per optimizer step: per-rank batch × ranks × accumulation."""
        return self.batch_size * self.world_size * self.accumulation

    def identity(self) -> dict[str, Any]:
        """The fields that must match to resume a run: everything but bookkeeping cadences and how a step is
        spread over ranks and micro-batches (a run resumes at any world size; its per-rank batch must match)."""
        return self.model_dump(mode="json", exclude={"checkpoint_every", "log_every", "world_size", "accumulation"})


def read_recipe_file(path: Path) -> dict[str, Any]:
    """The fields a YAML recipe file sets (any subset of `PretrainRecipe`'s), unvalidated: the caller merges its
    overrides first and validates the whole."""
    try:
        fields = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(fields, dict):
        raise UserError(f"{path}: a recipe is a mapping of field: value")
    return fields


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
"""`small`: the shipped model's architecture (ViT-Ti width, 6 layers; 128 px, 8 frames → 4×8×8 = 256 tokens).

Eight frames rather than sixteen halves the tokens; a clip still spans the same ~3 s of the camera, sampled at
~2.7 frames per second."""

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
"""`small8`: 8 px patches, so a person at 128 px spans several tokens rather than one or two (LeJEPA's small
recipe uses 8 px at 128 px); 4 frames → 2×16×16 = 512 tokens, and a narrower, shallower network so a step
costs about what `small`'s does."""

PRESETS: dict[str, dict[str, Any]] = {"small": SMALL_MODEL, "small8": SMALL8_MODEL}
