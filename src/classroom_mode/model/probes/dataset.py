"""A labelled data folder → features, labels and groups, through the cached backbone.

The modes are the folders (`DATA/<mode>/`), including empty ones, so training can refuse a mode
with no usable clips instead of quietly learning one class fewer. Clips that cannot be embedded
are skipped and returned with the reason.

Grouping (for `evaluate --group-by`): a clip's file name may carry its camera and recording
session as `CAMERA__SESSION__anything.ext` (fields separated by a double underscore; `record` writes
them, `video.sessions`). Clips of the same camera (`--group-by camera`) or the same camera and
session (`--group-by session`) are kept on one side of every split, so near-duplicates from the same
minute never straddle a fold. `default_group_by` is what `train` and `evaluate` use unless told.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from classroom_mode.errors import UserError
from classroom_mode.model.backbone import Backbone
from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.embed import embed_paths
from classroom_mode.model.erasure import reference_frame
from classroom_mode.model.probes.card import DataSummary
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.records import GroupBy, Skipped
from classroom_mode.video.dataset import is_label_dir, list_labelled_clips, overlooked
from classroom_mode.video.decode import sample_clip
from classroom_mode.video.sessions import SEPARATOR, session_of


@dataclass(frozen=True)
class RoomReference:
    reference: torch.Tensor
    """(3, crop, crop) in 0–255."""
    mode: str
    """The mode whose clips it is the median of."""
    clips: int


@dataclass
class LabelledFeatures:
    features: FeatureSet
    labels: list[str]
    classes: list[str]
    """Every mode folder, also those whose clips all failed (training refuses those by name)."""
    paths: list[Path]
    skipped: list[Skipped] = field(default_factory=list)
    erasure: RoomReference | None = None
    """The room subtracted from every clip before embedding; None: plain clips."""

    def summary(self, folder: Path) -> DataSummary:
        """Clip counts per mode and what was skipped, for the probe's card."""
        per_mode = {name: self.labels.count(name) for name in self.classes}
        return DataSummary(folder=str(folder), clips=len(self.labels), per_mode=per_mode, skipped=self.skipped)


def load_labelled_features(
    data_dir: Path | str,
    backbone: Backbone,
    cache: EmbeddingCache | None,
    *,
    erase_with: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> LabelledFeatures:
    """Embed (or read from the cache) every labelled clip of a data folder.

    With `erase_with` (a mode with nobody in the room, e.g. `empty`), every clip is first erased of the room: its
    frames minus the per-pixel median of that mode's clips (`model.erasure`), which the features then carry.
    """
    data_dir = Path(data_dir)
    clips = list_labelled_clips(data_dir)
    classes = sorted(p.name for p in data_dir.iterdir() if is_label_dir(p))
    if not clips:
        raise UserError(f"{data_dir}: no labelled clips (expected DATA/<mode>/<clip> folders)")
    erasure = None
    if erase_with is not None:
        erasure = room_reference([c.path for c in clips if c.label == erase_with], backbone, erase_with)
        backbone = backbone.with_reference(erasure.reference)
    result = embed_paths([c.path for c in clips], backbone, cache, progress=progress)
    kept = [c for c in clips if c.path in result.embeddings]
    if not kept:
        raise UserError(f"{data_dir}: none of the {len(clips)} clips could be embedded")
    features = FeatureSet.from_embeddings([result.embeddings[c.path] for c in kept])
    skipped = [*overlooked(data_dir), *result.skipped]
    return LabelledFeatures(features, [c.label for c in kept], classes, [c.path for c in kept], skipped, erasure)


def room_reference(paths: Sequence[Path], backbone: Backbone, mode: str) -> RoomReference:
    """The per-pixel median of the clips' frames, cropped as `backbone` crops them: the room with nobody in it."""
    frames = []
    for path in paths:
        with contextlib.suppress(UserError):  # an unreadable clip is skipped (and reported) by the embedding pass
            frames.append(backbone.centre_crop(sample_clip(path, backbone.frames_per_clip).frames))
    if not frames:
        raise UserError(f"--erase-room: the room's reference is the clips of mode {mode!r}, and there are none")
    return RoomReference(reference_frame(torch.stack(frames)), mode, len(frames))


def group_of(path: Path, by: GroupBy) -> str:
    """The clip's camera, or camera + session, from its `CAMERA__SESSION__rest` file name."""
    found = session_of(path)
    if found is None:
        raise UserError(
            f"{path}: --group-by {by} needs file names like CAMERA{SEPARATOR}SESSION{SEPARATOR}NAME{path.suffix}"
        )
    camera, session = found
    return camera if by == "camera" else f"{camera}{SEPARATOR}{session}"


def default_group_by(data: LabelledFeatures) -> tuple[GroupBy | None, str]:
    """`session` when the clips' names carry recording sessions that cross-validation can keep apart (every mode
    recorded in two sessions or more, so each fold still trains on every mode), else None; with the sentence that
    says which, and why."""
    sessions: dict[str, set[str]] = {}
    for path, label in zip(data.paths, data.labels, strict=True):
        found = session_of(path)
        if found is None:
            return None, (
                f"clip names such as {path.name} carry no recording session (CAMERA{SEPARATOR}SESSION"
                f"{SEPARATOR}NAME): cross-validation is ungrouped and optimistic, as near-duplicate clips of one "
                "recording can sit on both sides of a fold (`classroom-mode clips sessions DATA --gap 10m` names "
                "sessions by time gaps)"
            )
        sessions.setdefault(label, set()).add(SEPARATOR.join(found))
    single = sorted(mode for mode, found in sessions.items() if len(found) < 2)
    if single:
        return None, (
            f"{', '.join(single)} recorded in one session only: cross-validation is ungrouped and optimistic, as "
            "grouping by session would leave a fold nothing of that mode to train on (record each mode in two "
            "sessions or more)"
        )
    count = len(set().union(*sessions.values()))
    return "session", f"cross-validation grouped by recording session ({count} sessions, from the file names)"


def groups_of(data: LabelledFeatures, group_by: GroupBy | None) -> list[str] | None:
    """Each clip's session or camera (from its file name), so cross-validation never splits one; None without
    `group_by`."""
    return [group_of(path, group_by) for path in data.paths] if group_by else None
