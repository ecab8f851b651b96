"""`train`, `evaluate` and `classify`: the mode probe on frozen V-JEPA features, from the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from classroom_mode.cli.options import ConfigOption, JsonOption, ModelOption, config_from
from classroom_mode.cli.output import console, info, print_json, print_skipped, progress_bar, styled, warn
from classroom_mode.config import Config
from classroom_mode.errors import UserError
from classroom_mode.files import write_bytes
from classroom_mode.model.probe_settings import ProbeSettings
from classroom_mode.records import GroupBy, ProbeKind

if TYPE_CHECKING:
    from classroom_mode.model.backbone import Backbone
    from classroom_mode.model.probes.clip_files import ClipClassifier
    from classroom_mode.model.probes.dataset import LabelledFeatures
    from classroom_mode.model.probes.evaluate import CVReport
    from classroom_mode.model.probes.training import ProbeTraining
    from classroom_mode.records import Embedding, Prediction

ProbeOption = Annotated[ProbeKind, typer.Option("--probe", "-p", help="auto chooses by how many clips each mode has")]
FoldsOption = Annotated[
    int, typer.Option("--folds", "-k", help="cross-validation folds (leave-one-out if fewer clips)")
]
SeedOption = Annotated[int, typer.Option("--seed", help="seed for splits, initialisation and shuffling")]
EraseRoomOption = Annotated[
    str | None,
    typer.Option(
        "--erase-room",
        metavar="MODE",
        help="subtract the room from every clip: the per-pixel median of MODE's clips (e.g. empty); automatic "
        "(empty) for a model pretrained with --erase-room",
    ),
]
GroupChoice = Literal["auto", "session", "camera", "none"]
GroupByOption = Annotated[
    GroupChoice,
    typer.Option(
        "--group-by",
        help="keep one session's or camera's clips in one fold (CAMERA__SESSION__NAME files); auto: by session "
        "whenever the names allow it",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("classify")(classify)


def train(  # noqa: PLR0913 -- a Typer command: one parameter per option
    data_dir: Annotated[Path, typer.Argument(help="data folder: DATA/<mode>/<clip>")],
    out: Annotated[Path, typer.Option("--out", "-o", help="probe to write: OUT.safetensors + OUT.json")],
    probe: ProbeOption = ProbeSettings.kind,
    model: ModelOption = None,
    folds: Annotated[
        int, typer.Option("--folds", "-k", help="cross-validate first with K folds; 0 to skip")
    ] = ProbeSettings.folds,
    group_by: GroupByOption = "auto",
    seed: SeedOption = ProbeSettings.seed,
    curve: Annotated[
        bool, typer.Option("--learning-curve", help="also cross-validate on 3 / 5 / 10 / 20 / 40 clips per mode")
    ] = False,
    erase_room: EraseRoomOption = None,
    camera: Annotated[
        str | None,
        typer.Option(
            "--camera",
            help="the camera whose privacy mask the clips were recorded under (default: the cameras their names give)",
        ),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Train a mode probe on labelled clips (cross-validated first, then fitted on every clip)."""
    from classroom_mode.model.probes import save_probe
    from classroom_mode.model.probes.masks import mask_of_clips

    cfg = config_from(config)
    if camera is not None:
        cfg.camera(camera)  # an unknown camera is refused before anything is embedded
    backbone, data = labelled_features(data_dir, model, cfg, erase_room)
    privacy_mask = mask_of_clips(cfg, data.paths, camera)
    info(f"privacy mask the clips were recorded under: {privacy_mask}")
    grouping = chosen_grouping(data, group_by) if folds else None
    settings = ProbeSettings(cfg.thresholds.uncertain_below, kind=probe, folds=folds, group_by=grouping, seed=seed)
    result = fit_room_probe(
        data, backbone, cfg, settings, data_dir=data_dir, with_curve=curve, privacy_mask=privacy_mask
    )
    trained = result.probe
    tensors_path, sidecar_path = save_probe(trained, out)
    if as_json:
        card = trained.card.model_dump(mode="json")
        print_json({"probe": str(sidecar_path), "tensors": str(tensors_path), "kind": trained.kind, **card})
        return
    if result.report:
        print_report(result.report)
    info(f"{trained.kind} probe for {', '.join(trained.classes)} written to {tensors_path} + {sidecar_path.name}")
    print_skipped(data.skipped)


def fit_room_probe(  # noqa: PLR0913 -- keyword-only options, each named at the call
    data: LabelledFeatures,
    backbone: Backbone,
    cfg: Config,
    settings: ProbeSettings,
    *,
    data_dir: Path,
    with_curve: bool = False,
    privacy_mask: str | None = None,
) -> ProbeTraining:
    """`train_probe` with this config's display names for the modes, its cross-validation shown as a progress bar;
    `privacy_mask` is the fingerprint of the mask the clips were recorded under (default: none)."""
    from classroom_mode.model.probes.evaluate import LEARNING_CURVE_SIZES
    from classroom_mode.model.probes.training import can_cross_validate, train_probe
    from classroom_mode.video.mask import NO_MASK

    enough = can_cross_validate(data, settings.folds)
    if settings.folds and not enough:
        warn("a mode has fewer than 2 clips: too few to cross-validate; training without a CV report")
    if with_curve and enough:
        sizes = " / ".join(map(str, LEARNING_CURVE_SIZES))
        info(f"learning curve: cross-validating on {sizes} training clips per mode (as far as the folds allow)")
    with _fold_progress(data, settings if enough else replace(settings, folds=0)) as on_fold:
        result = train_probe(
            data,
            backbone,
            settings,
            data_dir=data_dir,
            display_names={name: mode.display_name for name, mode in cfg.modes.items()},
            with_curve=with_curve,
            on_fold=on_fold,
            privacy_mask=privacy_mask or NO_MASK,
        )
    for reason in result.curve_left_out:
        info(styled(("learning curve:", "yellow"), f" left out {reason}"))
    return result


def evaluate(  # noqa: PLR0913 -- a Typer command: one parameter per option
    data_dir: Annotated[Path, typer.Argument(help="data folder: DATA/<mode>/<clip>")],
    probe: ProbeOption = ProbeSettings.kind,
    model: ModelOption = None,
    folds: FoldsOption = ProbeSettings.folds,
    group_by: GroupByOption = "auto",
    confusion: Annotated[Path | None, typer.Option("--confusion", help="write the confusion matrix as PNG")] = None,
    seed: SeedOption = ProbeSettings.seed,
    erase_room: EraseRoomOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Cross-validate a probe on labelled clips: accuracy, macro-F1, per-mode precision/recall, confusion."""
    from classroom_mode.model.probes.plots import confusion_png
    from classroom_mode.model.probes.training import evaluate_probe

    cfg = config_from(config)
    _, data = labelled_features(data_dir, model, cfg, erase_room)
    grouping = chosen_grouping(data, group_by)
    settings = ProbeSettings(cfg.thresholds.uncertain_below, kind=probe, folds=folds, group_by=grouping, seed=seed)
    with _fold_progress(data, settings) as on_fold:
        report = evaluate_probe(data, settings, on_fold=on_fold)
    if confusion is not None:
        write_bytes(confusion, confusion_png(report.confusion, title=f"{probe} probe, {report.scheme}"))
    if as_json:
        skipped = [s.model_dump() for s in data.skipped]
        print_json({"probe": probe, **report.model_dump(mode="json"), "skipped": skipped})
        return
    print_report(report)
    if confusion is not None:
        info(f"confusion matrix written to {confusion}")
    print_skipped(data.skipped)


def classify(
    clips: Annotated[list[Path], typer.Argument(help="clip files to classify")],
    probe: Annotated[Path, typer.Option("--probe", "-p", help="a trained probe (NAME.safetensors + NAME.json)")],
    model: ModelOption = None,
    explain: Annotated[
        Path | None,
        typer.Option("--explain", help="PNG of the middle frame with the attentive probe's attention (-CLIP per clip)"),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Classify clips with a trained probe: label (or uncertain), confidence and every mode's probability."""
    from classroom_mode.model.cache import EmbeddingCache
    from classroom_mode.model.probes.clip_files import load_clip_classifier

    cfg = config_from(config)
    classifier = load_clip_classifier(probe, cfg.backbone, model=model)
    trained = classifier.probe
    if explain is not None and trained.kind != "attentive":
        raise UserError(f"--explain: the {trained.kind} probe has no attention to draw; train with --probe attentive")
    with EmbeddingCache(cfg.paths.cache) as cache, progress_bar("embedding", total=len(clips)) as (bar, task):
        result = classifier.classify_files(
            clips, cache, uncertain_below=cfg.thresholds.uncertain_below, progress=lambda n: bar.advance(task, n)
        )
    explained: dict[Path, str] = {}
    if explain is not None:
        for path, prediction in result.predictions.items():
            target = explain if len(clips) == 1 else explain.with_name(f"{explain.stem}-{path.stem}{explain.suffix}")
            explained[path] = _explain(path, result.embeddings[path], classifier, prediction.label, target)
    if as_json:
        print_json(
            {
                "probe": str(probe),
                "classified": [
                    {
                        "clip": str(p),
                        **pred.model_dump(mode="json", exclude={"camera_id", "at"}),
                        "explain": explained.get(p),
                    }
                    for p, pred in result.predictions.items()
                ],
                "skipped": result.skipped,
            }
        )
    else:
        _print_predictions(result.predictions, trained.classes)
        for clip_path, picture in explained.items():
            info(f"{clip_path.name}: attention written to {picture}")
    print_skipped(result.skipped)
    if not result.predictions:
        raise UserError("no clip could be classified")


def labelled_features(
    data_dir: Path, model: str | None, cfg: Config, erase_room: str | None = None
) -> tuple[Backbone, LabelledFeatures]:
    """The backbone `cfg` describes (or `model`) and the folder's labelled clips embedded with it (cached), erased of
    the room when `erase_room` names a mode or the model was pretrained on room-erased clips."""
    from classroom_mode.model.backbone import backbone_from_config
    from classroom_mode.model.cache import EmbeddingCache
    from classroom_mode.model.probes.dataset import load_labelled_features
    from classroom_mode.video.dataset import list_labelled_clips

    backbone = backbone_from_config(cfg.backbone, model=model)
    info(f"backbone: {backbone.describe()}")
    if backbone.random_weights:
        warn("RANDOM weights: these features are for tests only, not a trained model")
    if erase_room is None and backbone.erases_room:
        erase_room = "empty"
    if erase_room is not None:
        info(f"erasing the room: every clip minus the per-pixel median of the {erase_room!r} clips")
    total = len(list_labelled_clips(data_dir))
    with EmbeddingCache(cfg.paths.cache) as cache, progress_bar("embedding", total=total) as (bar, task):
        data = load_labelled_features(
            data_dir, backbone, cache, erase_with=erase_room, progress=lambda n: bar.advance(task, n)
        )
    return backbone, data


def chosen_grouping(data: LabelledFeatures, choice: GroupChoice) -> GroupBy | None:
    """What `--group-by` asks for, with `auto` resolved from the clips' names and said in one line."""
    from classroom_mode.model.probes.dataset import default_group_by

    if choice == "none":
        warn("cross-validation is ungrouped (--group-by none) and optimistic")
        return None
    if choice != "auto":
        return choice
    grouping, why = default_group_by(data)
    (info if grouping else warn)(why)
    return grouping


@contextmanager
def _fold_progress(data: LabelledFeatures, settings: ProbeSettings) -> Iterator[Callable[[], None]]:
    """A progress bar over the cross-validation's folds (none when `settings.folds` is 0); yields what advances
    it."""
    from classroom_mode.model.probes.training import fold_splits

    total = len(fold_splits(data, settings)) if settings.folds else 0
    with progress_bar("cross-validating", total=total) as (bar, task):
        yield lambda: bar.advance(task)


def _explain(path: Path, embedding: Embedding, classifier: ClipClassifier, label: str, target: Path) -> str:
    from classroom_mode.model.probes.plots import attention_png
    from classroom_mode.video.decode import sample_clip

    clip = sample_clip(path, classifier.backbone.frames_per_clip)
    attention = classifier.probe.attention_map(embedding)
    assert attention is not None  # classify only explains attentive probes
    write_bytes(target, attention_png(clip.frames[len(clip.frames) // 2], attention, caption=f"{path.name}: {label}"))
    return str(target)


def _fmt(value: tuple[float, float | None]) -> str:
    mean, std = value
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def print_report(report: CVReport) -> None:
    kinds = ", ".join(sorted(set(report.kinds)))
    console.print(styled((report.scheme, "bold"), f" ({kinds} probe)"))
    console.print(
        f"accuracy {_fmt(report.accuracy)}   macro-F1 {_fmt(report.macro_f1)}   "
        f"would be uncertain: {report.uncertain_rate:.1%}"
    )
    calibration = report.calibration
    console.print(
        f"calibration: temperature {calibration.temperature:.2f} on the {calibration.clips} held-out predictions "
        f"(their negative log-likelihood {calibration.nll:.3f} → {calibration.calibrated_nll:.3f})"
    )
    table = Table()
    for column in ("mode", "clips", "precision", "recall"):
        table.add_column(column)
    for name, scores in report.per_class.items():
        table.add_row(name, str(scores.clips), _fmt(scores.precision), _fmt(scores.recall))
    console.print(table)
    console.print(report.confusion.text(), highlight=False)
    for warning in report.warnings:
        warn(warning)


def _print_predictions(predictions: dict[Path, Prediction], classes: list[str]) -> None:
    table = Table()
    table.add_column("clip")
    table.add_column("label")
    table.add_column("confidence")
    for name in classes:
        table.add_column(name)
    for path, prediction in predictions.items():
        label = prediction.label if not prediction.uncertain_reason else f"uncertain ({prediction.uncertain_reason})"
        table.add_row(
            path.name, label, f"{prediction.confidence:.2f}", *(f"{prediction.probabilities[n]:.2f}" for n in classes)
        )
    console.print(table)
