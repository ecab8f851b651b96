"""Recording sessions in clip file names: `CAMERA__SESSION__NAME.mp4`, and naming them after the fact by time gaps.

Clips recorded in one sitting are near-duplicates of each other (the same people, the same light, seconds
apart). Cross-validation that puts some of them on the training side and the others on the test side
measures memory, not the probe; keeping each recording session on one side is what makes it honest. The
session travels in the file name, so moving a clip between mode folders (labelling) keeps it, and no index
file has to stay in sync with the folder.

`record` and `auto-record` write `CAMERA__SESSION__<UTC time>.mp4`, one session per invocation unless one is
named. Older folders hold `<camera>_<UTC time>.mp4`; `assign_sessions` renames those in place, starting a
new session wherever a camera's clips are more than a gap apart. It only renames (never overwrites, never
deletes), inside the folder each clip already sits in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from classroom_mode.errors import UserError
from classroom_mode.files import move_new
from classroom_mode.records import Skipped
from classroom_mode.video.dataset import UNLABELED_DIR, is_label_dir, is_video

SEPARATOR = "__"
"""Between the camera, the session and the rest of a clip's file name."""
_SESSION = re.compile(r"^[A-Za-z0-9.-]+(?:_[A-Za-z0-9.-]+)*$")
_STAMP = "%Y%m%dT%H%M%S"
_RECORDED_AT = re.compile(r"^(?P<stamp>\d{8}T\d{6})\.(?P<ms>\d{3})Z(?:-\d+)*$")
"""The last field of a `record` / `auto-record` clip's name: when it began (UTC), maybe with a `-1` for a twin."""
_FLAT = re.compile(r"^(?P<camera>.+)_(?P<stamp>\d{8}T\d{6})\.(?P<ms>\d{3})Z(?:-\d+)*$")
"""The names `record` wrote before sessions: `<camera>_<UTC time>.mp4`."""


def check_session(name: str) -> str:
    """A session name fit for a file name's middle field: letters, digits, `.`, `-` and single `_`."""
    if len(name) > 64 or not _SESSION.match(name):
        raise UserError(
            f"--session {name!r}: a session is 1 to 64 letters, digits, '.', '-' or single '_' "
            f"(no '{SEPARATOR}', not at either end)"
        )
    return name


def new_session(at: datetime | None = None) -> str:
    """The session of a recording started at `at` (now by default): its UTC start time, e.g. 20261201T101500Z."""
    return f"{(at or datetime.now(UTC)).astimezone(UTC):{_STAMP}}Z"


def camera_field(camera_id: str) -> str:
    """A camera name as the first field of a file name: no `__` (it would shift the fields), no leading `.` or
    `_` (a hidden file is not a clip), nothing but letters, digits, `_ . -`."""
    safe = re.sub(r"_{2,}", "_", re.sub(r"[^A-Za-z0-9_.-]", "-", camera_id)).strip("_").lstrip(".")
    return safe or "camera"


def clip_name(camera_id: str, session: str, started_at: datetime | None) -> str:
    """`CAMERA__SESSION__<UTC time>.mp4`: names sort by time, and say which camera and which recording."""
    at = (started_at or datetime.now(UTC)).astimezone(UTC)
    return f"{camera_field(camera_id)}{SEPARATOR}{session}{SEPARATOR}{at:{_STAMP}}.{at.microsecond // 1000:03d}Z.mp4"


def session_of(path: Path) -> tuple[str, str] | None:
    """(camera, session) from a `CAMERA__SESSION__NAME` file name; None for a name without them."""
    fields = path.stem.split(SEPARATOR)
    if len(fields) < 3 or not all(fields[:2]):
        return None
    return fields[0], fields[1]


def recorded_at(path: Path) -> datetime | None:
    """When a `CAMERA__SESSION__<UTC time>` clip began, from its name; None for a name without that time."""
    fields = path.stem.split(SEPARATOR)
    found = _RECORDED_AT.match(fields[2]) if len(fields) == 3 else None
    if found is None:
        return None
    at = datetime.strptime(found["stamp"], _STAMP).replace(tzinfo=UTC)
    return at.replace(microsecond=int(found["ms"]) * 1000)


@dataclass(frozen=True)
class Renaming:
    old: Path
    new: Path


@dataclass(frozen=True)
class SessionPlan:
    renamings: list[Renaming]
    sessions: dict[str, int]
    """Each new `CAMERA__SESSION` and how many clips it holds."""
    already: int
    """Clips whose names carried a session already (left as they are)."""
    skipped: list[Skipped]


def _clips(data_dir: Path) -> list[Path]:
    """Clips in the folder itself and in its mode folders and `unlabeled/` (one level, as the dataset layout)."""
    folders = [data_dir, *(p for p in sorted(data_dir.iterdir()) if is_label_dir(p) or p.name == UNLABELED_DIR)]
    return [p for folder in folders for p in sorted(folder.iterdir()) if is_video(p) and not p.is_symlink()]


def plan_sessions(data_dir: Path, gap_s: float, camera: str | None = None) -> SessionPlan:
    """The renamings that give every clip without a session one: per camera, clips in time order, a new session
    after each gap longer than `gap_s`.

    A clip named `<camera>_<UTC time>` gives its camera and time; any other clip takes `camera` (or is skipped
    when there is none) and its file's modification time.
    """
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: folder not found")
    timed: dict[str, list[tuple[datetime, Path, str]]] = {}
    already, skipped = 0, []
    for path in _clips(data_dir):
        if session_of(path) is not None:
            already += 1
            continue
        flat = _FLAT.match(path.stem)
        if flat:
            at = datetime.strptime(flat["stamp"], _STAMP).replace(tzinfo=UTC, microsecond=int(flat["ms"]) * 1000)
            cam, rest = flat["camera"], path.stem[len(flat["camera"]) + 1 :]
        elif camera is not None:
            at, cam, rest = datetime.fromtimestamp(path.stat().st_mtime, UTC), camera, path.stem
        else:
            skipped.append(Skipped(path=str(path), reason="its name gives no camera: pass --camera NAME"))
            continue
        timed.setdefault(camera_field(cam), []).append((at, path, rest))
    renamings: list[Renaming] = []
    sessions: dict[str, int] = {}
    for cam, clips in sorted(timed.items()):
        previous: datetime | None = None
        session = ""
        for at, path, rest in sorted(clips, key=lambda c: (c[0], c[1].name)):
            if previous is None or (at - previous).total_seconds() > gap_s:
                session = new_session(at)
            previous = at
            key = f"{cam}{SEPARATOR}{session}"
            sessions[key] = sessions.get(key, 0) + 1
            renamings.append(Renaming(path, path.with_name(f"{key}{SEPARATOR}{rest}{path.suffix}")))
    return SessionPlan(renamings, sessions, already, skipped)


def apply_plan(plan: SessionPlan) -> list[Renaming]:
    """Rename each clip in its own folder (atomically, never over another file); returns the names given."""
    return [Renaming(r.old, move_new(r.old, r.old.parent, r.new.name)) for r in plan.renamings]
