"""A whole pretraining run: find and decode the clips, build or resume the trainer, step, checkpoint, export.

The CLI's `pretrain` verb is a thin call into `resolve_recipe`, `prepare_run` and `train`. Decisions that
protect a user's work live here: an output folder that already holds a run is only continued with `resume`,
and only with the same recipe unless `force`; a diverging loss stops the run with its last good checkpoint
untouched; a run whose early indicator (`indicator.py`) is not above its starting weights by the step it was
given stops there and writes no model, and one that finishes without beating them says so in `training.json`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import VJEPA2Config, VJEPA2Model

from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.files import write_json
from classroom_mode.model import erasure
from classroom_mode.model.distributed import Ranks
from classroom_mode.model.jepa.checkpoint import (
    checkpoint_recipe,
    checkpoints_dir,
    export_pretrained,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from classroom_mode.model.jepa.data import ClipBank, files_fingerprint
from classroom_mode.model.jepa.indicator import IndicatorRoom, measure
from classroom_mode.model.jepa.objective import measure_masked_fraction
from classroom_mode.model.jepa.recipe import PretrainRecipe, read_recipe_file
from classroom_mode.model.jepa.summary import (
    HistoryEntry,
    IndicatorEntry,
    LossEntry,
    TrainingSummary,
    best_reading,
    indicator_verdict,
)
from classroom_mode.model.jepa.trainer import DivergedError, JEPATrainer, StepResult
from classroom_mode.records import Skipped
from classroom_mode.video.dataset import is_video

log = logging.getLogger(__name__)

ARCHITECTURE_FIELDS = tuple(VJEPA2Config.__annotations__)
"""The VJEPA2Config fields that define the encoder and predictor (not transformers' bookkeeping)."""
BANK_FILE = "clips.safetensors"
MODEL_DIR = "model"
BEST_MODEL_DIR = "best-indicator"
"""Where a run with an indicator keeps the weights of its best reading: a run can peak and fall back, and only
the two newest checkpoints survive, so the peak would otherwise be lost."""
TRAINING_FILE = "training.json"


def architecture(config: VJEPA2Config) -> dict[str, Any]:
    return {name: getattr(config, name) for name in ARCHITECTURE_FIELDS}


def find_clips(data: Path) -> list[Path]:
    """Every video file under `data`, labelled or `unlabeled/`, skipping hidden folders such as `.trash/`."""
    if not data.is_dir():
        raise UserError(f"{data}: data folder not found")
    return sorted(
        p
        for p in data.rglob("*")
        if is_video(p) and not any(part.startswith(".") for part in p.relative_to(data).parts)
    )


def initial_model(recipe: PretrainRecipe) -> VJEPA2Model:
    """The starting weights: the `init` backbone's encoder and predictor, or a seeded random model; its config says
    whether it reads room-erased clips as this run trains it to, whatever the `init` model read."""
    if recipe.init is not None:
        from classroom_mode.model.backbone import load_backbone

        model = load_backbone(recipe.init, device="cpu").model
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)
            model = VJEPA2Model(recipe.model_config_object())
    if recipe.erase_room:
        setattr(model.config, erasure.CONFIG_KEY, erasure.ERASED_INPUT)
    elif hasattr(model.config, erasure.CONFIG_KEY):
        delattr(model.config, erasure.CONFIG_KEY)
    return model


def resolve_recipe(path: Path | None, overrides: dict[str, Any]) -> PretrainRecipe:
    """A run's recipe: the YAML file's fields, then `overrides` (None values left out); an `init` backbone given
    without a `model` lends its own architecture. A bad value is a UserError naming its field."""
    from pydantic import ValidationError

    from classroom_mode.config import validation_message

    fields = (read_recipe_file(path) if path is not None else {}) | {
        k: v for k, v in overrides.items() if v is not None
    }
    if fields.get("init") is not None:
        if "model" in fields:
            raise UserError("pretrain: an architecture (--arch, model:) or a backbone to adapt (--init), not both")
        from classroom_mode.model.backbone import load_backbone

        fields["model"] = architecture(load_backbone(fields["init"], device="cpu").config)
    if "model" not in fields:
        raise UserError("pretrain: give an architecture (--arch small8, or model: in --recipe) or --init BACKBONE")
    try:
        return PretrainRecipe.model_validate(fields)
    except ValidationError as exc:
        where = f"{path}: " if path is not None else ""
        raise UserError(f"{where}pretraining recipe: {validation_message(exc)}") from None


def _differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [
        f"{key}: {saved.get(key)!r} → {wanted.get(key)!r}" for key in sorted(wanted) if saved.get(key) != wanted[key]
    ]


@dataclass
class Run:
    """A trainer ready to step, its data and where it writes."""

    out: Path
    trainer: JEPATrainer
    bank: ClipBank
    history: list[HistoryEntry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    resumed_from: int | None = None


def prepare_run(  # noqa: PLR0913 -- keyword-only options, each named at the call
    recipe: PretrainRecipe,
    data: Path,
    out: Path,
    *,
    resume: bool,
    force: bool,
    device: torch.device,
    read: Callable[[Path, int], Any],
    on_decode: Callable[[int], Callable[[], None]] = lambda total: lambda: None,
    ranks: Ranks | None = None,
) -> Run:
    """Check the output folder against `resume`/`force`, decode the clips (or reuse the saved bank), build the trainer.

    `read(path, num_frames)` returns (T, H, W, 3) uint8 frames; `on_decode(total)` returns a per-clip tick. Under
    torchrun rank 0 decodes and saves the bank and the other ranks load it; the recipe records the world size.
    """
    ranks = ranks or Ranks()
    recipe = recipe.model_copy(update={"world_size": ranks.world_size})
    checkpoint = _checkpoint_to_continue(recipe, out, resume=resume, force=force, ranks=ranks)
    out.mkdir(parents=True, exist_ok=True)
    skipped: list[Skipped] = []
    bank = _clip_bank(recipe, data, out, read, on_decode, skipped, ranks)
    trainer = JEPATrainer(recipe, initial_model(recipe), device, ranks)
    history: list[HistoryEntry] = []
    if checkpoint is not None:
        history = load_checkpoint(checkpoint, trainer)
    return Run(out, trainer, bank, history, skipped, trainer.step if checkpoint is not None else None)


def _checkpoint_to_continue(
    recipe: PretrainRecipe, out: Path, *, resume: bool, force: bool, ranks: Ranks
) -> Path | None:
    """The checkpoint a run continues from, or None for a new run: a used `out` only with `resume` (and the same
    recipe unless `force`), or dropped with `force` alone."""
    checkpoint = latest_checkpoint(out) if out.exists() else None
    if checkpoint is not None and not resume and not force:
        raise UserError(f"{out}: already holds a run (checkpoint {checkpoint.name}); pass --resume to continue it")
    if checkpoint is not None and resume:
        saved = checkpoint_recipe(checkpoint)
        changes = _differences(saved.identity(), recipe.identity())
        if changes and not force:
            raise UserError(
                f"{out}: the saved run used a different configuration ({'; '.join(changes)}); "
                "rerun with the same options, or pass --force to continue with the new ones"
            )
        if saved.model != recipe.model:
            raise UserError(f"{out}: the saved run has a different architecture; --force cannot change it")
        return checkpoint
    if checkpoint is not None:  # --force without --resume: start over, dropping the old run's checkpoints
        ranks.barrier()  # every rank has looked before rank 0 removes them
        if ranks.is_main:
            shutil.rmtree(checkpoints_dir(out))
    elif resume:
        log.warning("%s: no checkpoint to resume, starting a new run", out)
    return None


def _clip_bank(  # noqa: PLR0913 -- the run's inputs and its two callbacks, each used once
    recipe: PretrainRecipe,
    data: Path,
    out: Path,
    read: Callable[[Path, int], Any],
    on_decode: Callable[[int], Callable[[], None]],
    skipped: list[Skipped],
    ranks: Ranks,
) -> ClipBank:
    """The run's decoded clips: the saved bank when it is of these files, else decoded by rank 0 and saved; the
    other ranks load what rank 0 saved. Erased of their rooms when the recipe says so."""
    crop = recipe.model_config_object().crop_size
    paths = find_clips(data)
    if not paths:
        raise UserError(f"{data}: no video files found (looked recursively for .mp4, .mkv, .webm, ...)")
    fingerprint = files_fingerprint(paths, recipe.clip_frames, crop)
    bank = ClipBank.load(out / BANK_FILE, fingerprint) if ranks.is_main else None
    if ranks.is_main and bank is None:
        bank = ClipBank.decode(
            paths,
            num_frames=recipe.clip_frames,
            crop_size=crop,
            read=read,
            on_skip=lambda path, reason: skipped.append(Skipped(path=str(path), reason=reason)),
            root=data,
            on_progress=on_decode(len(paths)),
        )
        if len(bank) == 0:
            raise UserError(f"{data}: no readable clips ({len(skipped)} video files, all unreadable)")
        bank.save(out / BANK_FILE, fingerprint)
    ranks.barrier()
    if bank is None:  # another rank: the bank rank 0 decoded (or found)
        bank = ClipBank.load(out / BANK_FILE, fingerprint)
        if bank is None:
            raise ClassroomModeError(f"rank {ranks.rank}: {out / BANK_FILE} is missing or another run's")
    bank.check_grouping(recipe.windows_per_room)
    if recipe.erase_room:
        log.info("erasing each camera's room (its median frame) from its %d clips", len(bank))
        bank.erase_rooms()
    return bank


@dataclass(frozen=True)
class Indicator:
    """When to measure the early indicator, on which held-out rooms, and by when the run must beat its start."""

    rooms: list[IndicatorRoom]
    every: int
    stop_at: int | None = None
    """The step by which the occupancy AUROC must be above the starting weights', else the run stops there."""

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.stop_at


def _loss_entry(results: list[StepResult]) -> LossEntry:
    """The steps since the previous entry, averaged; the collapse watch of the last one."""
    last, seconds = results[-1], sum(r.seconds for r in results)
    return LossEntry(
        step=last.step,
        loss=sum(r.loss for r in results) / len(results),
        terms={name: sum(r.terms.get(name, 0.0) for r in results) / len(results) for name in last.terms},
        lr=last.lr,
        momentum=last.momentum,
        clips_per_s=sum(r.clips for r in results) / seconds if seconds else None,
        target_std=last.stats.std_mean if last.stats else None,
        effective_rank=last.stats.effective_rank if last.stats else None,
    )


def _checkpoint(run: Run) -> None:
    if run.trainer.ranks.is_main:  # every rank holds the same state; one writes it
        save_checkpoint(run.out, run.trainer, run.history)


def train(
    run: Run,
    *,
    dtype: torch.dtype = torch.float32,
    on_step: Callable[[StepResult], None] = lambda result: None,
    indicator: Indicator | None = None,
) -> TrainingSummary:
    """Train to `recipe.steps`, checkpointing every `checkpoint_every` steps; export and return the summary.

    Each step in nanoGPT's order (`JEPATrainer.train_step`), then what is logged and kept: the loss entry, the
    indicator's reading of the exported encoder (its best weights kept), the checkpoint. A NaN/inf loss raises
    ClassroomModeError naming the last good checkpoint, which stays as it was. With an `indicator`, the starting
    weights are measured first; a run not above them at `indicator.stop_at` stops there and exports no model.
    """
    trainer, recipe = run.trainer, run.trainer.recipe
    if indicator is not None and not any(isinstance(h, IndicatorEntry) for h in run.history):
        start = measure(trainer.exported_encoder, indicator.rooms, trainer.device)
        run.history.insert(0, IndicatorEntry(step=trainer.step, indicator=start))
    window: list[StepResult] = []
    while trainer.step < recipe.steps:
        try:
            result = trainer.train_step(run.bank)
        except DivergedError as exc:
            kept = latest_checkpoint(run.out)
            where = f"the last good checkpoint is {kept}" if kept else "no checkpoint was written yet"
            raise ClassroomModeError(f"training diverged: {exc}; stopped, {where}") from None
        window.append(result)
        on_step(result)
        if result.logged:
            run.history.append(_loss_entry(window))
            window = []
            if result.stats is not None and (message := result.stats.warning()):
                log.warning("%s (step %d)", message, result.step)
        if indicator is not None and indicator.due(trainer.step) and _read_indicator(run, indicator, dtype):
            _checkpoint(run)
            return finish(run, dtype, stopped_early=True)
        if trainer.step % recipe.checkpoint_every == 0 or trainer.step == recipe.steps:
            _checkpoint(run)
    return finish(run, dtype)


def _read_indicator(run: Run, indicator: Indicator, dtype: torch.dtype) -> bool:
    """Measure the exported encoder, keep its weights if this is the best reading yet; whether the run must stop
    (not above its start at `indicator.stop_at`)."""
    trainer = run.trainer
    reading = measure(trainer.exported_encoder, indicator.rooms, trainer.device)
    run.history.append(IndicatorEntry(step=trainer.step, indicator=reading))
    log.info("step %d: indicator %s", trainer.step, reading)
    best = best_reading(run.history)
    if best is not None and best.step == trainer.step and trainer.ranks.is_main:
        export_pretrained(trainer, run.out / BEST_MODEL_DIR, dtype)
    verdict = indicator_verdict(run.history)
    return trainer.step == indicator.stop_at and verdict is not None and not verdict.above_start


def finish(run: Run, dtype: torch.dtype, *, stopped_early: bool = False) -> TrainingSummary:
    """Export the model (weights in `dtype`) unless the run stopped early; write `training.json`: recipe, mask
    fractions, history, final numbers and the indicator's verdict."""
    trainer = run.trainer
    if not stopped_early and trainer.ranks.is_main:
        export_pretrained(trainer, run.out / MODEL_DIR, dtype)
    grid = trainer.grid
    losses = [h for h in run.history if isinstance(h, LossEntry)]
    throughput = [h.clips_per_s for h in losses if h.clips_per_s]
    summary = TrainingSummary(
        recipe=trainer.recipe,
        exported="student" if trainer.recipe.exports_student else "ema-teacher",
        clips=len(run.bank),
        masked_fraction={spec.label(): round(measure_masked_fraction(grid, spec), 4) for spec in trainer.mask_specs},
        final=losses[-1] if losses else None,
        stopped_early=stopped_early,
        indicator=indicator_verdict(run.history),
        best_indicator=best_reading(run.history),
        clips_per_s=sum(throughput) / len(throughput) if throughput else None,
        device=trainer.device.type,
        world_size=trainer.ranks.world_size,
        effective_batch=trainer.recipe.effective_batch,
        history=run.history,
    )
    if trainer.ranks.is_main:
        write_json(run.out / TRAINING_FILE, summary.model_dump(mode="json"))
    trainer.ranks.barrier()  # the model and summary are on disk before any rank reports the run done
    return summary
