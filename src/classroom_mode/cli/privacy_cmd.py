"""`classroom-mode privacy`: what the current config makes the program store, where, and for how long.

The statement is computed from the config the program would run with, so it cannot drift from what it does:
the paths, the retentions, the masks, the cameras whose picture the dashboard may show and the outputs are the
configured ones. The README's privacy section says the same for the defaults.
"""

from __future__ import annotations

import typer
from pydantic import BaseModel

from classroom_mode.cli.options import ConfigOption, JsonOption, config_from
from classroom_mode.cli.output import console, print_json, styled
from classroom_mode.config import CameraConfig, Config, RetentionConfig, RoomConfig


class Stored(BaseModel):
    what: str
    where: str
    kept: str


class PrivacyStatement(BaseModel):
    frames: list[str]
    """What happens to the cameras' frames, camera by camera."""
    stored: list[Stored]
    never: list[str]
    shared: list[str]
    """Who receives what, beyond this machine's files."""


NEVER_STORED = (
    "live frames on disk",
    "audio",
    "faces or identities: nothing recognises or tracks a person; the modes describe the room as a whole",
)
"""What no configuration makes the program store."""


def _days(days: float | None, unset: str) -> str:
    return unset if days is None else f"for {days:g} days"


def statement(config: Config) -> PrivacyStatement:
    """The statement for `config`, section by section, each read from the part of the config that decides it."""
    return PrivacyStatement(
        frames=_frames(config), stored=_stored(config), never=list(NEVER_STORED), shared=_shared(config)
    )


def _frames(config: Config) -> list[str]:
    """What becomes of the frames: when each room is watched, and each camera's mask and picture."""
    frames = ["frames are analysed in memory; the live loop writes no frame and no clip to disk"]
    for room_name, room in config.rooms.items():
        frames.append(_room_hours(room_name, room))
        frames.extend(_camera_frames(camera_id, camera, room_name) for camera_id, camera in room.cameras.items())
    return frames


def _room_hours(room_name: str, room: RoomConfig) -> str:
    hours = room.active_hours
    watched = (
        f"only in its active hours ({hours.timezone}; {len(hours.closed)} closed date(s)): outside them its "
        "cameras are released and nothing is encoded or recorded"
        if hours
        else "at all hours (no active_hours set)"
    )
    return f"room {room_name}: watched {watched}; a paused room or camera is released the same way"


def _camera_frames(camera_id: str, camera: CameraConfig, room_name: str) -> str:
    from classroom_mode.video.mask import fingerprint

    masks = camera.privacy_masks
    mask = (
        f"{len(masks)} privacy-mask polygon(s) blacked out before anything sees a frame "
        f"(fingerprint {fingerprint(masks)})"
        if masks
        else "no privacy mask"
    )
    picture = (
        "its latest clip is held in memory for the dashboard's picture"
        if camera.snapshot
        else "no frame is kept after its window is analysed (snapshot: false)"
    )
    return f"camera {camera_id} (room {room_name}): {mask}; {picture}"


def _stored(config: Config) -> list[Stored]:
    """Everything written to disk: where the config puts it and how long its retention keeps it."""
    retention, data = config.retention, config.paths.data
    return [
        Stored(
            what="history: each window's reading per camera (mode, confidence, probabilities), surprise readings, "
            "each room's mode and its changes, camera status and last error, which cameras and rooms are paused, "
            "events waiting for the outputs",
            where=str(config.paths.database),
            kept=f"readings, surprise and events {_days(retention.history_days, 'for ever (history_days: null)')} "
            "(pruned hourly while the live loop runs); current states until replaced; pauses until resumed; output "
            "events until every sink has them",
        ),
        Stored(
            what="clips you record with `record` (masked as the camera's mask says)",
            where=f"{data}/<mode>/",
            kept="until you delete them (the labelling page moves a trashed clip to .trash/)",
        ),
        Stored(
            what="clips `auto-record` takes on a schedule (masked as the camera's mask says)",
            where=f"{data}/unlabeled/",
            kept=_unlabeled_kept(retention),
        ),
        Stored(
            what="features of the clips you embed or train on (numbers, not frames)",
            where=str(config.paths.cache),
            kept="until you delete the folder (always safe)",
        ),
        Stored(
            what="trained probes; one trained with --erase-room holds the median frame of the room's empty clips",
            where=", ".join(str(room.probe) for room in config.rooms.values() if room.probe)
            or str(config.paths.probes),
            kept="until you delete them",
        ),
        Stored(
            what="a clip posted to the HTTP API",
            where="a temporary folder, for that request",
            kept="deleted when the request is answered",
        ),
    ]


def _unlabeled_kept(retention: RetentionConfig) -> str:
    """auto-record's limits in days and gigabytes, or that it records nothing when neither is set."""
    limits = [
        f"at most {retention.unlabeled_days:g} days" if retention.unlabeled_days is not None else None,
        f"at most {retention.unlabeled_gb:g} GB in all, oldest deleted first"
        if retention.unlabeled_gb is not None
        else None,
    ]
    return ", and ".join(limit for limit in limits if limit) or (
        "never recorded: no retention is set, and auto-record refuses to record without one "
        "(retention.unlabeled_days or unlabeled_gb, or --keep-days / --keep-gb)"
    )


def _shared(config: Config) -> list[str]:
    """Who beyond this machine's files receives what: the server's listeners, each output, the bot."""
    return [
        f"the dashboard and the API, to whoever can reach {config.server.host}:{config.server.port}: modes, "
        "readings, surprise, camera status, and the latest frames of cameras with snapshot on",
        *(
            f"output {name} ({sink.kind}): {', '.join(sink.events)} events, never frames"
            for name, sink in config.outputs.items()
        ),
        "the Discord bot, when run: modes, readings, surprise levels and camera status, never frames",
    ]


def register(app: typer.Typer) -> None:
    app.command("privacy")(privacy)


def privacy(config_path: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Print what the current config stores, where and for how long, what it shares, and what it never stores."""
    said = statement(config_from(config_path))
    if as_json:
        print_json(said)
        return
    _print_list("Frames", said.frames)
    console.print(styled(("Stored", "bold")))
    for item in said.stored:
        console.print(f"  - {item.what}", soft_wrap=True)
        console.print(f"      where: {item.where}", soft_wrap=True)
        console.print(f"      kept:  {item.kept}", soft_wrap=True)
    _print_list("Shared", said.shared)
    _print_list("Never stored", said.never)


def _print_list(heading: str, lines: list[str]) -> None:
    console.print(styled((heading, "bold")))
    for line in lines:
        console.print(f"  - {line}", soft_wrap=True)
