"""`training.json`, a pretraining run's record, as a typed and versioned file: written and read through one model.

The run's history is a list of typed entries: a loss entry every `log_every` steps, an indicator entry every
`indicator_every`; `benchmarks/bench_jepa.py` plots it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from classroom_mode.errors import UserError
from classroom_mode.model.jepa.recipe import PretrainRecipe

FORMAT: Final = "classroom-mode-training/2"


class IndicatorReading(BaseModel):
    """Does the encoder see people (`indicator.py`): on held-out simulator rooms, against their truth."""

    occupancy_auroc: float
    knn_mode_accuracy: float


class LossEntry(BaseModel):
    """The training signals averaged over the steps since the previous entry."""

    model_config = ConfigDict(extra="forbid")

    step: int
    loss: float
    terms: dict[str, float]
    """The loss's parts: `l1` on hidden tokens, `dense` on visible ones when the dense loss is on."""
    lr: float
    momentum: float
    """The EMA momentum of the step (1: the teacher did not move)."""
    clips_per_s: float | None
    target_std: float | None = None
    """Collapse watch on the teacher's tokens (`collapse.py`): mean per-dimension std, effective rank."""
    effective_rank: float | None = None


class IndicatorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: int
    indicator: IndicatorReading


HistoryEntry = LossEntry | IndicatorEntry
_HISTORY = TypeAdapter(list[HistoryEntry])


def read_history(entries: list[Any]) -> list[HistoryEntry]:
    return _HISTORY.validate_python(entries)


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

    format: Literal["classroom-mode-training/2"] = FORMAT
    recipe: PretrainRecipe
    exported: Literal["student", "ema-teacher"]
    """Which encoder `model/` holds (`PretrainRecipe.exports_student`); the indicator measured the same one."""
    clips: int
    """Training clips in the bank."""
    masked_fraction: dict[str, float]
    """Mean fraction of tokens each mask generator hides, by its label (`8x0.15`)."""
    final: LossEntry | None
    """The last loss entry of the history."""
    stopped_early: bool
    indicator: IndicatorVerdict | None
    best_indicator: BestReading | None
    clips_per_s: float | None
    device: str
    world_size: int
    effective_batch: int
    history: list[HistoryEntry]


def indicator_readings(history: list[HistoryEntry]) -> list[IndicatorEntry]:
    return [entry for entry in history if isinstance(entry, IndicatorEntry)]


def indicator_verdict(history: list[HistoryEntry]) -> IndicatorVerdict | None:
    """The first and the latest indicator readings of a run, and whether the latest beats the first."""
    readings = indicator_readings(history)
    if not readings:
        return None
    start, last = readings[0], readings[-1]
    above = last.step > start.step and last.indicator.occupancy_auroc > start.indicator.occupancy_auroc
    return IndicatorVerdict(
        start=start.indicator,
        last=last.indicator,
        last_step=last.step,
        above_start=above,
        verdict="tokens locate people better than the starting weights (a screen, not a measure: check the "
        "mode probes with benchmarks/bench_room_probe.py --screen before using the model)"
        if above
        else "NOT above the starting weights: this run learned nothing a probe could use about people",
    )


def best_reading(history: list[HistoryEntry]) -> BestReading | None:
    """The step and reading `BEST_MODEL_DIR` holds: the highest occupancy AUROC after the start (the earliest
    on ties), or None when no reading was above the starting weights'."""
    readings = indicator_readings(history)
    if not readings:
        return None
    best, top = None, readings[0].indicator.occupancy_auroc
    for entry in readings[1:]:
        if entry.indicator.occupancy_auroc > top:
            best, top = entry, entry.indicator.occupancy_auroc
    return None if best is None else BestReading(step=best.step, **best.indicator.model_dump())


def read_training_summary(path: Path) -> TrainingSummary:
    try:
        return TrainingSummary.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UserError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except ValidationError as exc:
        raise UserError(f"{path}: not a training record of this version ({exc.error_count()} problems)") from None
