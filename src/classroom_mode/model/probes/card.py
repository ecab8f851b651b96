"""A probe's card: how it was made and how well it did, as `train` writes it into the probe's sidecar.

One typed record, so the trainer, the sidecar, the `train --json` output and the dashboard's probe page all
read the same fields instead of each re-checking a dict. Every field is optional: a probe fitted in code
(`fit_probe`) has no card until `train_probe` writes one, and sidecars written before a field existed still
load. A score is `(mean, std)` over the cross-validation folds, std None where there is one pooled score
(leave-one-out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from classroom_mode.model.preprocess import PREPROCESS_VERSION
from classroom_mode.records import Skipped

if TYPE_CHECKING:
    from classroom_mode.model.backbone import Backbone

Score = tuple[float, float | None]
"""(mean, std) over folds; std None when there is a single pooled score."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class Preprocessing(_Part):
    version: str
    crop_size: int = Field(gt=0)
    frames_per_clip: int = Field(gt=0)
    token_grid: tuple[int, int, int]
    tokens: str


class BackboneRecord(_Part):
    """The features the probe was trained on; `fingerprint` is checked again whenever the probe is loaded."""

    model_id: str
    revision: str | None = None
    fingerprint: str
    random_weights: bool = False
    preprocessing: Preprocessing | None = None

    @classmethod
    def of(cls, backbone: Backbone) -> BackboneRecord:
        return cls(
            model_id=backbone.model_id,
            revision=backbone.revision,
            fingerprint=backbone.plain_fingerprint,
            random_weights=backbone.random_weights,
            preprocessing=Preprocessing(
                version=PREPROCESS_VERSION,
                crop_size=backbone.crop_size,
                frames_per_clip=backbone.frames_per_clip,
                token_grid=backbone.grid,
                tokens="time-averaged",
            ),
        )


class Confusion(_Part):
    """Counts over all folds, rows the true modes and columns the predicted ones."""

    classes: list[str] = Field(min_length=1)
    matrix: list[list[int]]

    @model_validator(mode="after")
    def _square(self) -> Self:
        size = len(self.classes)
        if len(self.matrix) != size or any(len(row) != size for row in self.matrix):
            raise ValueError(f"the confusion matrix must be {size} × {size}, one row and column per mode")
        return self

    def text(self) -> str:
        """The matrix as aligned text (rows true, columns predicted)."""
        width = max(8, *(len(c) for c in self.classes)) + 1
        lines = ["true \\ predicted".ljust(width) + "".join(c.rjust(width) for c in self.classes)]
        for name, row in zip(self.classes, self.matrix, strict=True):
            lines.append(name.ljust(width) + "".join(str(v).rjust(width) for v in row))
        return "\n".join(lines)


class ModeScores(_Part):
    precision: Score
    recall: Score
    clips: int = Field(ge=0)


class Calibration(_Part):
    """The temperature the probe's probabilities are divided by (in log space), fitted on the held-out folds of its
    cross-validation (`calibration.calibrate`), with the held-out negative log-likelihood before and after it."""

    temperature: float = Field(gt=0)
    clips: int = Field(ge=1)
    """Held-out predictions it was fitted on."""
    nll: float = Field(ge=0)
    calibrated_nll: float = Field(ge=0)


class CVSummary(_Part):
    """A cross-validation report as the card keeps it; `evaluate.CVReport` is the same with every field set."""

    scheme: str
    """How the clips were split, e.g. `stratified 5-fold` or `leave-one-out`."""
    kinds: list[str] = []
    """The probe type each fold trained (what `auto` chose inside that fold)."""
    accuracy: Score
    macro_f1: Score
    per_class: dict[str, ModeScores] = {}
    confusion: Confusion | None = None
    uncertain_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    warnings: list[str] = []
    calibration: Calibration | None = None
    """None in cards written before probes were calibrated: their probabilities are used as the head gives them."""


class CurvePoint(_Part):
    """One point of a learning curve: the cross-validated scores with n training clips of every mode per fold."""

    clips_per_mode: int = Field(gt=0)
    scheme: str
    accuracy: Score
    macro_f1: Score


class DataSummary(_Part):
    folder: str
    clips: int = Field(ge=0)
    per_mode: dict[str, int]
    skipped: list[Skipped] = []


class RoomErasure(_Part):
    """The probe's clips were erased of the room (`model.erasure`): the reference is in the probe's tensors."""

    mode: str
    """The mode whose clips the reference is the per-pixel median of (the room with nobody in it)."""
    clips: int = Field(gt=0)


class ProbeCard(_Part):
    display_names: dict[str, str] = {}
    backbone: BackboneRecord | None = None
    erasure: RoomErasure | None = None
    privacy_mask: str | None = None
    """The fingerprint of the privacy mask its clips were recorded under (`video.mask.fingerprint`, `none` for no
    mask); a card written before masks were recorded has None, read as no mask."""
    created: AwareDatetime | None = None
    seed: int | None = None
    data: DataSummary | None = None
    cv: CVSummary | None = None
    """None when training skipped cross-validation (folds 0, or a mode with fewer than 2 clips)."""
    learning_curve: list[CurvePoint] | None = None
