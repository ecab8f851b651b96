"""`record`, `auto-record` and `label`: collecting and labelling a dataset of clips from a camera."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from classroom_mode.cli.options import ConfigOption, DataOption, JsonOption, SessionOption, config_from, parse_duration
from classroom_mode.cli.output import info, print_json
from classroom_mode.config import CameraConfig, Config, SimSourceConfig
from classroom_mode.errors import UserError
from classroom_mode.service.api.ports import LABEL_PORT
from classroom_mode.video.factory import open_source
from classroom_mode.video.live import StatusCallback
from classroom_mode.video.recorder import Retention, auto_record, check_label, known_labels, record_labelled
from classroom_mode.video.source import FrameSource


def _sim_builder(camera_id: str, camera: CameraConfig, on_status: StatusCallback | None) -> FrameSource:
    from classroom_mode.sim.camera import SimCamera

    assert isinstance(camera.source, SimSourceConfig)
    return SimCamera.from_config(camera_id, camera.source)


def open_camera(config: Config, camera_id: str) -> tuple[FrameSource, CameraConfig]:
    """A configured camera's source (its privacy mask applied), its status changes reported on stderr."""
    _, camera = config.camera(camera_id)
    on_status: StatusCallback = lambda cid, status, reason: info(  # noqa: E731
        f"camera {cid}: {status}" + (f" ({reason})" if reason else "")
    )
    return open_source(camera_id, camera, on_status=on_status, builders={"sim": _sim_builder}), camera


def register(app: typer.Typer) -> None:
    app.command("record")(record)
    app.command("auto-record")(auto_record_cmd)
    app.command("label")(label)


def record(  # noqa: PLR0913 -- a Typer command: one parameter per option
    camera: Annotated[str, typer.Option("--camera", help="camera name from the config")],
    label: Annotated[str, typer.Option("--label", help="the mode being shown: clips go to DATA/<mode>/")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="clips to record back to back")] = 1,
    countdown: Annotated[float, typer.Option("--countdown", min=0, help="seconds to get in place")] = 3.0,
    session: SessionOption = "",
    data: DataOption = None,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record labelled clips from a camera into DATA/<mode>/, named CAMERA__SESSION__TIME.mp4."""
    config = config_from(config_path)
    data_dir = data or config.paths.data
    labels = known_labels(data_dir, list(config.modes))
    if check_label(label) not in labels:
        raise UserError(
            f"--label {label!r}: not a configured mode ({', '.join(labels)}); add it under modes: "
            f"in the config or create {data_dir / label}/ first"
        )
    source, settings = open_camera(config, camera)
    written = record_labelled(
        source, settings.clip, data_dir, label, session=session, count=count, countdown_s=countdown, notify=info
    )
    if as_json:
        print_json({"camera": camera, "label": label, "session": session, "clips": written})


def auto_record_cmd(  # noqa: PLR0913 -- a Typer command: one parameter per option
    camera: Annotated[str, typer.Option("--camera", help="camera name from the config")],
    every: Annotated[str, typer.Option("--every", help="time between clip starts, e.g. 30s, 5m")] = "30s",
    count: Annotated[int, typer.Option("--count", "-n", min=0, help="stop after this many clips (0: never)")] = 0,
    keep_days: Annotated[
        float | None,
        typer.Option("--keep-days", help="delete unlabeled clips older than this (default: retention.unlabeled_days)"),
    ] = None,
    keep_gb: Annotated[
        float | None,
        typer.Option("--keep-gb", help="keep DATA/unlabeled/ under this size (default: retention.unlabeled_gb)"),
    ] = None,
    session: SessionOption = "",
    data: DataOption = None,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record unlabeled clips every interval into DATA/unlabeled/ under a retention (needed; only that folder)."""
    every_s = parse_duration(every, "--every")  # a mistyped interval is refused before the config is read
    config = config_from(config_path)
    rule = Retention(
        days=keep_days if keep_days is not None else config.retention.unlabeled_days,
        gb=keep_gb if keep_gb is not None else config.retention.unlabeled_gb,
    ).required()
    source, settings = open_camera(config, camera)
    written = auto_record(
        source,
        settings.clip,
        data or config.paths.data,
        every_s=every_s,
        session=session,
        count=count or None,
        retention=rule,
        notify=info,
    )
    if as_json:
        print_json({"camera": camera, "session": session, "clips": written})


def label(
    data: Annotated[Path, typer.Argument(help="dataset folder holding unlabeled/ and one folder per mode")],
    host: Annotated[str, typer.Option("--host", help="address to serve on (keep it local)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="port (0: any free one)")] = LABEL_PORT,
    config_path: ConfigOption = None,
) -> None:
    """Label unlabeled clips in a local web page: one key per mode, skip, undo, delete to trash.

    A room with `phase_labels` gets each clip recorded during a mapped lesson phase suggested as that mode
    (Enter accepts), from the phases the history database holds.
    """
    from classroom_mode.service.api.labelling import PhaseSuggestions, Suggest, no_suggestions, serve_labelling
    from classroom_mode.store import HistoryStore

    config = config_from(config_path)
    if not data.is_dir():
        raise UserError(f"{data}: data folder not found")
    database = config.paths.database
    with contextlib.ExitStack() as opened:
        suggest: Suggest = no_suggestions
        if any(room.phase_labels for room in config.rooms.values()):
            if database.is_file():
                suggest = PhaseSuggestions(config, opened.enter_context(HistoryStore(database)))
            else:
                info(f"no history database at {database} yet: no phase suggestions")
        serve_labelling(data, known_labels(data, list(config.modes)), host=host, port=port, announce=info,
                        suggest=suggest)  # fmt: skip
