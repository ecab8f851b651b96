"""`pretrain` (V-JEPA self-supervised training on a folder of clips) and `surprise` (prediction error)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from classroom_mode.cli.options import ConfigOption, DeviceOption, JsonOption, ModelOption, config_from
from classroom_mode.cli.output import console, info, print_json, print_skipped, progress_bar, styled
from classroom_mode.records import Skipped

if TYPE_CHECKING:
    from classroom_mode.model.jepa.summary import TrainingSummary


# pretrain's longer options, named once so that each parameter of its signature is one line
RecipeOption = Annotated[
    Path | None,
    typer.Option("--recipe", help="YAML file of recipe fields (see recipes/); every field has a default"),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="override one recipe field, NAME=VALUE (YAML value), e.g. --set lr=1e-4 --set teacher=frozen",
    ),
]
ArchOption = Annotated[
    str | None, typer.Option("--arch", help="train from scratch with a named architecture: small, small8")
]
InitOption = Annotated[str | None, typer.Option("--init", help="backbone to adapt: hub id or directory")]
StepsOption = Annotated[int | None, typer.Option("--steps", min=1, help="optimizer steps in the whole run")]
RunSeedOption = Annotated[int | None, typer.Option("--seed", help="seed of the weights, batches, crops and masks")]
EraseRoomFlag = Annotated[
    bool,
    typer.Option(
        "--erase-room",
        help="train on each camera's windows minus its median frame; the model then reads only room-erased clips",
    ),
]
IndicatorRoomsOption = Annotated[
    str | None,
    typer.Option(
        "--indicator-rooms",
        help="simulator room seeds (e.g. 30000-30003) on which to measure whether the tokens encode people",
    ),
]
StopUnlessBetterAtOption = Annotated[
    int | None,
    typer.Option(
        "--stop-unless-better-at", min=1, help="stop here, writing no model, unless the indicator beats step 0"
    ),
]
DtypeOption = Annotated[Literal["float32", "float16"], typer.Option("--dtype", help="weights of the exported model")]
ForceOption = Annotated[
    bool, typer.Option("--force", help="resume with changed options, or start over in a used --out")
]


def register(app: typer.Typer) -> None:
    app.command("pretrain")(pretrain)
    app.command("surprise")(surprise)


def pretrain(  # noqa: PLR0913 -- a Typer command: one parameter per option
    data: Annotated[Path, typer.Option("--data", help="folder of clips, read recursively (labelled or unlabeled/)")],
    out: Annotated[Path, typer.Option("--out", help="run folder: checkpoints, decoded clips, model/")],
    recipe: RecipeOption = None,
    settings: SetOption = None,
    arch: ArchOption = None,
    init: InitOption = None,
    steps: StepsOption = None,
    seed: RunSeedOption = None,
    erase_room: EraseRoomFlag = False,
    old_config: Annotated[str | None, typer.Option("--config", hidden=True)] = None,
    indicator_rooms: IndicatorRoomsOption = None,
    indicator_every: Annotated[int, typer.Option("--indicator-every", min=1)] = 250,
    stop_unless_better_at: StopUnlessBetterAtOption = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps")] = "auto",
    dtype: DtypeOption = "float32",
    resume: Annotated[bool, typer.Option("--resume", help="continue the run saved in --out")] = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Adapt an encoder to unlabeled footage (or train the small one from scratch) with the V-JEPA objective.

    The run's hyperparameters are a recipe (`--recipe FILE`, `--set NAME=VALUE`): lr, batch_size, warmup_steps,
    teacher (ema, frozen or pixels), ema, dense_weight, deep_levels, windows_per_room, checkpoint_every and the
    rest, each with its default. An EMA teacher's run exports the teacher; a frozen teacher's run, or a pixels run
    (no teacher: the hidden tubelets' pixels are the targets), exports the student.
    """
    import torch

    from classroom_mode.cli.output import quiet_unless_main
    from classroom_mode.errors import UserError
    from classroom_mode.model import distributed
    from classroom_mode.model.backbone import resolve_device
    from classroom_mode.model.jepa import pretrain as jepa

    if old_config is not None:
        raise UserError(f"--config {old_config}: pretrain's architecture is now --arch {old_config}")
    overrides = _parse_settings(settings or []) | {"model": arch, "init": init, "steps": steps, "seed": seed}
    run_recipe = jepa.resolve_recipe(recipe, overrides | ({"erase_room": True} if erase_room else {}))
    indicator = None
    if indicator_rooms is not None:
        indicator = jepa.Indicator(
            rooms=_indicator_rooms(indicator_rooms, run_recipe), every=indicator_every, stop_at=stop_unless_better_at
        )
    elif stop_unless_better_at is not None:
        raise UserError("--stop-unless-better-at needs --indicator-rooms (the rooms it measures on)")
    ranks, run_device = distributed.start(resolve_device(device))
    quiet_unless_main(ranks.is_main)
    dtypes = {"float32": torch.float32, "float16": torch.float16}
    with distributed.stopped_cleanly(ranks, f"pretraining (the last checkpoint in {out} stays valid: --resume)"):
        summary = _train(run_device, ranks, run_recipe, data, out, resume, force, dtypes[dtype], indicator)
    if ranks.is_main:
        _report(summary, out, as_json)


def _parse_settings(settings: list[str]) -> dict[str, Any]:
    """`--set NAME=VALUE` options as recipe fields, each value read as YAML (numbers, lists, true/false)."""
    import yaml

    from classroom_mode.errors import UserError

    fields: dict[str, Any] = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--set {setting}: expected NAME=VALUE, e.g. --set lr=1e-4")
        try:
            fields[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"--set {setting}: {value!r} is not a value") from None
    return fields


def _indicator_rooms(seeds: str, recipe) -> list:
    """The indicator's held-out simulator rooms, rendered at the model's geometry (room-erased if it reads so)."""
    from typing import cast

    from classroom_mode.model.jepa.indicator import indicator_room
    from classroom_mode.sim.footage import occupancy_windows, parse_seeds

    config = recipe.model_config_object()
    rooms = []
    for room in parse_seeds(seeds, "--indicator-rooms"):
        windows = occupancy_windows(room, num_frames=recipe.clip_frames, window_s=3.0, side=config.crop_size)
        rooms.append(
            indicator_room(
                windows.frames,
                windows.people,
                windows.modes,
                windows.visits,
                patch=cast(int, config.patch_size),  # V-JEPA 2 patches are square: one int
                tubelet=config.tubelet_size,
                erase_room=recipe.erase_room,
            )
        )
    return rooms


def _report(summary: TrainingSummary, out: Path, as_json: bool) -> None:
    """The run's outcome: the exported model and its last numbers, the indicator's verdict, or why no model."""
    from classroom_mode.errors import ClassroomModeError
    from classroom_mode.model.jepa import pretrain as jepa

    final = summary.final
    if as_json:
        print_json(summary.model_dump(mode="json", exclude={"history"}) | {"model": str(out / jepa.MODEL_DIR)})
        return
    verdict = summary.indicator
    if verdict is not None:
        start, last = verdict.start, verdict.last
        console.print(
            f"indicator ({summary.exported}) at step {verdict.last_step}: occupancy AUROC "
            f"{last.occupancy_auroc:.3f} (start {start.occupancy_auroc:.3f}), kNN mode accuracy "
            f"{last.knn_mode_accuracy:.2f} (start {start.knn_mode_accuracy:.2f}): {verdict.verdict}"
        )
    best = summary.best_indicator
    if best is not None:
        console.print(
            f"best indicator reading: step {best.step}, occupancy AUROC {best.occupancy_auroc:.3f}; "
            f"its weights: {out / jepa.BEST_MODEL_DIR}"
        )
    if summary.stopped_early:
        raise ClassroomModeError(
            f"stopped at step {final.step if final else 0}: the tokens are not above the starting weights; "
            f"no model written (see {out / jepa.TRAINING_FILE})"
        )
    loss = f"loss {final.loss:.4f}  effective rank {final.effective_rank or float('nan'):.1f}  " if final else ""
    console.print(
        f"model ({summary.exported} encoder): {out / jepa.MODEL_DIR}  {loss}{summary.clips_per_s or 0:.1f} clips/s"
    )


def surprise(  # noqa: PLR0913 -- a Typer command: one parameter per option
    clips: Annotated[list[Path] | None, typer.Argument(help="clips to score (one energy each)")] = None,
    stream: Annotated[
        Path | None, typer.Option("--stream", help="slide a window over this video file, one line per window")
    ] = None,
    every: Annotated[float, typer.Option("--every", min=0.05, help="seconds between window starts")] = 1.0,
    window: Annotated[
        float | None, typer.Option("--window", min=0.1, help="seconds per window (default: config clip length)")
    ] = None,
    model: ModelOption = None,
    device: DeviceOption = None,
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


def _train(  # noqa: PLR0913 -- the run as `pretrain` resolved it, passed on once
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
