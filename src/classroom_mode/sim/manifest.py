"""The simulator's `manifest.json` files, typed and versioned: written and read through these models.

Two generators write one: `generate_dataset` (independent clips, each with its full ground truth) and
`generate_room_dataset` (one room recorded in sessions). Each clip's truth keeps the world's own description
(room, camera, light, ...) as extra fields beside the typed ones every consumer reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from classroom_mode.errors import UserError
from classroom_mode.files import write_json
from classroom_mode.records import Skipped

MANIFEST = "manifest.json"
MANIFEST_VERSION: Final = 1
DATASET_GENERATOR: Final = "classroom_mode.sim"
RECORDING_GENERATOR: Final = "classroom_mode.sim.room_dataset"
"""The manifest's `generator`: how a later run knows the clips are the simulator's own, and which kind."""


class ClipTruth(BaseModel):
    """What one rendered clip shows (`render_clip`'s truth)."""

    model_config = ConfigDict(extra="allow")

    mode: str
    seed: int
    seconds: float
    fps: float
    frames: int
    size: tuple[int, int]
    num_people: int
    people: list[dict[str, Any]]
    """Each person's id, role, group, height and per-frame track."""
    changes: list[dict[str, Any]]
    """Changes that happen in any mode (a new slide, the door), so change alone says nothing."""


class DatasetClip(ClipTruth):
    """One clip of a dataset: its truth, and where its file is."""

    path: str
    """Relative to the dataset folder: `MODE/MODE-0000.mp4`."""
    index: int


class DatasetParams(BaseModel):
    clips_per_mode: int
    seconds: float
    fps: float
    size: tuple[int, int]
    seed: int


class _Manifest(BaseModel):
    """What both kinds of manifest begin with."""

    version: Literal[1] = MANIFEST_VERSION
    created: datetime
    modes: list[str]


class DatasetManifest(_Manifest):
    generator: Literal["classroom_mode.sim"] = DATASET_GENERATOR
    params: DatasetParams
    clips: list[DatasetClip]
    skipped: list[Skipped]


class RecordingParams(DatasetParams):
    """A dataset's parameters, and how the room was visited."""

    visit_s: float
    settle_s: float
    settled_only: bool


class RecordedClip(BaseModel):
    path: str
    mode: str
    session: str
    """The visit the clip was cut from: what cross-validation groups by."""
    start: float
    """Seconds into the recording."""
    num_people: int | None = None
    """People in the room when the clip was cut: what a perfect person counter would read (None in recordings
    made before it was kept, which stay valid so that a re-recording still finds and removes their clips)."""


class RoomRecording(_Manifest):
    generator: Literal["classroom_mode.sim.room_dataset"] = RECORDING_GENERATOR
    params: RecordingParams
    room: dict[str, Any]
    """The stream's description: camera, room, the visits played (`timeline`), duration and frames."""
    clips: list[RecordedClip]


def write_manifest(out_dir: Path, manifest: DatasetManifest | RoomRecording) -> Path:
    """Write the manifest atomically, last: a run killed halfway leaves the previous one or none."""
    return write_json(out_dir / MANIFEST, manifest.model_dump(mode="json"), indent=None)


def load_manifest(path: Path | str) -> DatasetManifest:
    """Read a dataset's manifest (a directory or the file itself); UserError if missing or not one."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no manifest (generate one with `classroom-mode simulate`)") from None
    except OSError as exc:
        raise UserError(f"{path}: not a readable manifest ({exc.strerror or exc})") from None
    try:
        return DatasetManifest.model_validate_json(raw)
    except ValidationError as exc:
        raise UserError(
            f"{path}: not a simulator dataset manifest of this version ({exc.error_count()} problems)"
        ) from None


def previous_recording(out_dir: Path | str) -> RoomRecording | None:
    """The manifest a one-room recording left in `out_dir`, or None when there is none (or another kind)."""
    try:
        raw = (Path(out_dir) / MANIFEST).read_bytes()
        if json.loads(raw).get("generator") != RECORDING_GENERATOR:
            return None
        return RoomRecording.model_validate_json(raw)
    except (OSError, ValueError, AttributeError):  # ValidationError is a ValueError
        return None


def recorded_with(manifest: RoomRecording | None, params: RecordingParams) -> bool:
    """Whether a recording was made with exactly `params`, so its clips can stand in for a new one."""
    return manifest is not None and manifest.params == params
