"""`training.json`, a pretraining run's record, as a typed and versioned file: written and read through one model.

The run's `history` stays a list of plain entries (a loss entry every `log_every` steps, an indicator entry
every `indicator_every`): its keys follow the recipe's objective terms, and `benchmarks/bench_jepa.py` plots it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from classroom_mode.errors import UserError
from classroom_mode.model.jepa.recipe import PretrainRecipe

FORMAT: Final = "classroom-mode-training/1"


class IndicatorReading(BaseModel):
    """Does the encoder see people (`indicator.py`): on held-out simulator rooms, against their truth."""

    occupancy_auroc: float
    knn_mode_accuracy: float


class BestReading(IndicatorReading):
    """The reading whose weights `best-indicator/` holds."""

    step: int


class IndicatorVerdict(BaseModel):
    start: IndicatorReading
    last: IndicatorReading
    last_step: int
    above_start: bool
    verdict: str


class TrainingSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["classroom-mode-training/1"] = FORMAT
    recipe: PretrainRecipe
    clips: int
    """Training clips in the bank."""
    masked_fraction: dict[str, float]
    """Mean fraction of tokens each mask generator hides, by its label (`8x0.15`)."""
    final: dict[str, Any] | None
    """The last loss entry of the history."""
    stopped_early: bool
    indicator: IndicatorVerdict | None
    best_indicator: BestReading | None
    clips_per_s: float | None
    device: str
    world_size: int
    effective_batch: int
    history: list[dict[str, Any]]


def indicator_verdict(history: list[dict[str, Any]]) -> IndicatorVerdict | None:
    """The first and the latest indicator readings of a run, and whether the latest beats the first."""
    readings = [h for h in history if "indicator" in h]
    if not readings:
        return None
    start, last = readings[0], readings[-1]
    above = last["step"] > start["step"] and (
        last["indicator"]["occupancy_auroc"] > start["indicator"]["occupancy_auroc"]
    )
    return IndicatorVerdict(
        start=IndicatorReading.model_validate(start["indicator"]),
        last=IndicatorReading.model_validate(last["indicator"]),
        last_step=last["step"],
        above_start=above,
        verdict="tokens locate people better than the starting weights (a screen, not a measure: check the "
        "mode probes with benchmarks/bench_room_probe.py --screen before using the model)"
        if above
        else "NOT above the starting weights: this run learned nothing a probe could use about people",
    )


def best_reading(history: list[dict[str, Any]]) -> BestReading | None:
    """The step and reading `BEST_MODEL_DIR` holds: the highest occupancy AUROC after the start (the earliest
    on ties), or None when no reading was above the starting weights'."""
    readings = [h for h in history if "indicator" in h]
    if not readings:
        return None
    best, top = None, readings[0]["indicator"]["occupancy_auroc"]
    for entry in readings[1:]:
        if entry["indicator"]["occupancy_auroc"] > top:
            best, top = entry, entry["indicator"]["occupancy_auroc"]
    return None if best is None else BestReading.model_validate({"step": best["step"], **best["indicator"]})


def read_training_summary(path: Path) -> TrainingSummary:
    try:
        return TrainingSummary.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UserError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except ValidationError as exc:
        raise UserError(f"{path}: not a training record of this version ({exc.error_count()} problems)") from None
