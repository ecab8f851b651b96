"""`pretrain` (V-JEPA self-supervised training on a folder of clips) and `surprise` (prediction error)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer

from classroom_mode.cli.common import (
    ConfigOption,
    JsonOption,
    config_from,
    console,
    info,
    print_json,
    print_skipped,
    progress_bar,
    styled,
)
from classroom_mode.records import Skipped

if TYPE_CHECKING:
    from classroom_mode.model.jepa.summary import TrainingSummary


def register(app: typer.Typer) -> None:
    app.command("pretrain")(pretrain)
    app.command("surprise")(surprise)


def pretrain(
    data: Annotated[Path, typer.Option("--data", help="folder of clips, read recursively (labelled or unlabeled/)")],
    out: Annotated[Path, typer.Option("--out", help="run folder: checkpoints, decoded clips, model/")],
    steps: Annotated[int, typer.Option("--steps", min=1, help="optimizer steps in the whole run")],
    init: Annotated[str | None, typer.Option("--init", help="backbone to adapt: hub id or directory")] = None,
    preset: Annotated[
        str | None,
        typer.Option("--config", help="train from scratch with a named architecture: small, small8"),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="clips per micro-batch")] = 8,
    accumulation: Annotated[int, typer.Option("--accumulation", min=1, help="micro-batches per step")] = 1,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="peak learning rate (official: 5.25e-4)")] = 5.25e-4,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="warm-up steps")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="seed of the weights, batches, crops and masks")] = 0,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=1)] = 100,
    windows_per_room: Annotated[
        int,
        typer.Option(
            "--windows-per-room", min=1, help="windows of one camera (folder) per batch, sharing crop and mask"
        ),
    ] = 1,
    target_centring: Annotated[
        str, typer.Option("--target-centring", help="none, or room: predict each window's deviation from its room")
    ] = "none",
    erase_room: Annotated[
        bool,
        typer.Option(
            "--erase-room",
            help="train on each camera's windows minus its median frame; the model then reads only room-erased clips",
        ),
    ] = False,
    erase_targets: Annotated[
        bool,
        typer.Option(
            "--erase-targets",
            help="erase each camera's median frame from what the target encoder reads only; the model reads "
            "plain clips",
        ),
    ] = False,
    variance_weight: Annotated[
        float, typer.Option("--variance-weight", min=0.0, help="within-room VICReg variance term")
    ] = 0.0,
    covariance_weight: Annotated[
        float, typer.Option("--covariance-weight", min=0.0, help="within-room VICReg covariance term")
    ] = 0.0,
    sigreg_weight: Annotated[
        float,
        typer.Option("--sigreg-weight", min=0.0, help="LeJEPA's SIGReg: context tokens towards an isotropic Gaussian"),
    ] = 0.0,
    sigreg_scope: Annotated[
        str,
        typer.Option("--sigreg-scope", help="batch, or room: SIGReg on each token's deviation from its room's windows"),
    ] = "batch",
    masks: Annotated[
        str,
        typer.Option(
            "--masks", help="official, official+future (adds blocks hiding the last tubelets), or future (those alone)"
        ),
    ] = "official",
    ema: Annotated[
        tuple[float, float], typer.Option("--ema", help="EMA momentum at the start and at the end of the run")
    ] = (0.996, 1.0),
    indicator_rooms: Annotated[
        str | None,
        typer.Option(
            "--indicator-rooms",
            help="simulator room seeds (e.g. 30000-30003) on which to measure whether the tokens encode people",
        ),
    ] = None,
    indicator_every: Annotated[int, typer.Option("--indicator-every", min=1)] = 250,
    stop_unless_better_at: Annotated[
        int | None,
        typer.Option(
            "--stop-unless-better-at", min=1, help="stop here, writing no model, unless the indicator beats step 0"
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps")] = "auto",
    dtype: Annotated[
        Literal["float32", "float16"], typer.Option("--dtype", help="weights of the exported model")
    ] = "float32",
    resume: Annotated[bool, typer.Option("--resume", help="continue the run saved in --out")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="resume with changed options, or start over in a used --out")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Adapt an encoder to unlabeled footage (or train the small one from scratch) with the V-JEPA objective."""
    import torch
    from pydantic import ValidationError

    from classroom_mode.cli.common import quiet_unless_main
    from classroom_mode.config import validation_message
    from classroom_mode.errors import ClassroomModeError, UserError
    from classroom_mode.model import distributed
    from classroom_mode.model.backbone import resolve_device
    from classroom_mode.model.erasure import CONFIG_KEY, ERASED_INPUT
    from classroom_mode.model.jepa import pretrain as jepa
    from classroom_mode.model.jepa.indicator import indicator_rooms as indicator_rooms_for
    from classroom_mode.model.jepa.objective import MASK_PRESETS
    from classroom_mode.model.jepa.recipe import MaskSetting, PretrainRecipe
    from classroom_mode.sim.footage import parse_seeds

    dtypes = {"float32": torch.float32, "float16": torch.float16}
    if masks not in MASK_PRESETS:
        raise UserError(f"--masks {masks}: known are {', '.join(MASK_PRESETS)}")
    try:
        recipe = PretrainRecipe(
            model=jepa.model_settings(init, preset) | ({CONFIG_KEY: ERASED_INPUT} if erase_room else {}),
            init=init,
            masks=[MaskSetting(**spec.to_dict()) for spec in MASK_PRESETS[masks]],
            steps=steps,
            batch_size=batch_size,
            accumulation=accumulation,
            lr=lr,
            warmup_steps=min(warmup, steps),
            ema_start=ema[0],
            ema_end=ema[1],
            seed=seed,
            checkpoint_every=checkpoint_every,
            windows_per_room=windows_per_room,
            target_centring=target_centring,
            target_erasure="room" if erase_targets else "none",
            variance_weight=variance_weight,
            covariance_weight=covariance_weight,
            sigreg_weight=sigreg_weight,
            sigreg_scope=sigreg_scope,
        )
    except ValidationError as exc:
        raise UserError(f"pretraining options: {validation_message(exc)}") from None
    indicator = None
    if indicator_rooms is not None:
        config = recipe.model_config_object()
        indicator = jepa.Indicator(
            rooms=indicator_rooms_for(
                parse_seeds(indicator_rooms, "--indicator-rooms"),
                num_frames=recipe.clip_frames,
                crop_size=config.crop_size,
                patch=cast(int, config.patch_size),  # V-JEPA 2 patches are square: one int
                tubelet=config.tubelet_size,
                erase_room=recipe.erases_room,
            ),
            every=indicator_every,
            stop_at=stop_unless_better_at,
        )
    elif stop_unless_better_at is not None:
        raise UserError("--stop-unless-better-at needs --indicator-rooms (the rooms it measures on)")
    ranks, run_device = distributed.start(resolve_device(device))
    quiet_unless_main(ranks.is_main)
    with distributed.stopped_cleanly(ranks, f"pretraining (the last checkpoint in {out} stays valid: --resume)"):
        summary = _train(run_device, ranks, recipe, data, out, resume, force, dtypes[dtype], indicator)
    if not ranks.is_main:
        return
    final = summary.final or {}
    if as_json:
        print_json(summary.model_dump(mode="json", exclude={"history"}) | {"model": str(out / jepa.MODEL_DIR)})
        return
    verdict = summary.indicator
    if verdict is not None:
        start, last = verdict.start, verdict.last
        console.print(
            f"indicator at step {verdict.last_step}: occupancy AUROC {last.occupancy_auroc:.3f} "
            f"(start {start.occupancy_auroc:.3f}), kNN mode accuracy {last.knn_mode_accuracy:.2f} "
            f"(start {start.knn_mode_accuracy:.2f}): {verdict.verdict}"
        )
    best = summary.best_indicator
    if best is not None:
        console.print(
            f"best indicator reading: step {best.step}, occupancy AUROC {best.occupancy_auroc:.3f}; "
            f"its weights: {out / jepa.BEST_MODEL_DIR}"
        )
    if summary.stopped_early:
        raise ClassroomModeError(
            f"stopped at step {final.get('step')}: the tokens are not above the starting weights; "
            f"no model written (see {out / jepa.TRAINING_FILE})"
        )
    console.print(
        f"model: {out / jepa.MODEL_DIR}  loss {final.get('loss', float('nan')):.4f}  "
        f"effective rank {final.get('effective_rank', float('nan')):.1f}  "
        f"{summary.clips_per_s or 0:.1f} clips/s"
    )


def surprise(
    clips: Annotated[list[Path] | None, typer.Argument(help="clips to score (one energy each)")] = None,
    stream: Annotated[
        Path | None, typer.Option("--stream", help="slide a window over this video file, one line per window")
    ] = None,
    every: Annotated[float, typer.Option("--every", min=0.05, help="seconds between window starts")] = 1.0,
    window: Annotated[
        float | None, typer.Option("--window", min=0.1, help="seconds per window (default: config clip length)")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="hub id, save_pretrained folder or config:NAME")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps (default: from config)")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Score clips, or a video file window by window, by the world model's prediction error (surprise).

    The energy is the predictor's error on the last frames' tokens given the first frames alone. A stream is
    calibrated against its own rolling baseline into a score and a level (thresholds.surprise in the config).
    """

    from classroom_mode.config import ClipSettings
    from classroom_mode.errors import UserError
    from classroom_mode.model.backbone import backbone_from_config
    from classroom_mode.model.surprise import SurpriseModel

    if bool(clips) == (stream is not None):
        raise UserError("give clips to score, or --stream FILE (not both)")
    cfg = config_from(config)
    backbone = backbone_from_config(cfg.backbone, model=model, device=device)
    info(f"backbone: {backbone.describe()}")
    scorer = SurpriseModel(backbone)
    if stream is not None:
        _stream(scorer, stream, every, window or ClipSettings().seconds, cfg.thresholds.surprise, as_json)
    else:
        _score_clips(scorer, clips or [], as_json)


def _score_clips(scorer, paths: list[Path], as_json: bool) -> None:
    from rich.table import Table

    from classroom_mode.errors import ClassroomModeError, UserError
    from classroom_mode.video.decode import sample_clip

    results, skipped = [], []
    for path in paths:
        try:
            clip = sample_clip(path, scorer.backbone.frames_per_clip)
        except ClassroomModeError as exc:
            skipped.append(Skipped(path=str(path), reason=str(exc).removeprefix(f"{path}: ")))
            continue
        results.append({"clip": str(path), "energy": scorer.energy([clip])[0]})
    if as_json:
        print_json({"clips": results, "skipped": skipped})
    else:
        table = Table("clip", "energy")
        for row in results:
            table.add_row(row["clip"], f"{row['energy']:.4f}")
        console.print(table)
        print_skipped(skipped)
    if not results:
        raise UserError("no readable clips to score")


def _stream(scorer, path: Path, every: float, window: float, thresholds, as_json: bool) -> None:
    """Score overlapping windows of a file in order, each calibrated against the windows before it."""
    import json
    from datetime import UTC, datetime, timedelta

    from classroom_mode.errors import UserError
    from classroom_mode.model.surprise import SurpriseCalibrator
    from classroom_mode.video.decode import VideoFile

    with VideoFile(path) as video:  # indexed once, decoded forward window after window
        duration = video.info().duration
        if duration < window:
            raise UserError(f"{path}: {duration:.1f} s long, shorter than one {window:.1f} s window")
        calibrator = SurpriseCalibrator(thresholds)
        started = datetime.now(UTC)
        start = 0.0
        while start + window <= duration + 1e-6:
            clip = video.clip(scorer.backbone.frames_per_clip, start=start, end=start + window)
            reading = calibrator.update(path.name, scorer.energy([clip])[0], started + timedelta(seconds=start))
            if as_json:
                typer.echo(json.dumps({"t": round(start, 3)} | reading.model_dump(mode="json")))
            else:
                colour = {"normal": "green", "unusual": "yellow", "anomaly": "bold red"}[reading.level]
                line = f"{start:7.1f} s  energy {reading.energy:.4f}  score {reading.score:+7.2f}"
                console.print(styled(f"{line}  ", (reading.level, colour)), highlight=False)
            start += every


def _train(
    device, ranks, recipe, data: Path, out: Path, resume: bool, force: bool, dtype, indicator
) -> TrainingSummary:
    """Decode (or reuse) the clips, build or resume the trainer, train with progress bars; the run's summary."""
    from classroom_mode.model.jepa import pretrain as jepa
    from classroom_mode.video.decode import sample_clip

    with ExitStack() as stack:

        def on_decode(total: int):
            # the bar appears only when clips are decoded (not for a refused --out or a reused bank)
            progress, task = stack.enter_context(progress_bar("decoding clips", total))
            return lambda: progress.advance(task)

        run = jepa.prepare_run(
            recipe,
            data,
            out,
            resume=resume,
            force=force,
            device=device,
            read=lambda path, n: sample_clip(path, n).frames,
            on_decode=on_decode,
            ranks=ranks,
        )
    print_skipped(run.skipped)
    start = run.trainer.step
    where = (
        f" on {ranks.world_size} ranks ({run.trainer.recipe.effective_batch} clips a step)" if ranks.distributed else ""
    )
    info(
        f"{len(run.bank)} clips; "
        + (f"resuming at step {start}" if run.resumed_from is not None else "starting a new run")
        + where
    )
    with progress_bar("pretraining", recipe.steps) as (progress, task):
        progress.update(task, completed=start)

        def on_step(result) -> None:
            progress.update(task, completed=result.step, description=f"pretraining  loss {result.loss:.4f}")

        return jepa.train(run, dtype=dtype, on_step=on_step, indicator=indicator)
