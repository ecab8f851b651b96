"""The labelled-clip layout on disk: `DATA/<mode>/<clip>`, one folder per mode, the folder name is the label.

A folder is the whole database: users add a mode by adding a folder, relabel a clip by moving
it, and nothing needs an index file to stay in sync. `DATA/unlabeled/` holds clips waiting for
a label, and folders starting with `.` or `_` (the labelling page's `.trash/`) are never labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from classroom_mode.errors import UserError

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ts"})
"""File endings treated as clips (compared lower-case)."""
UNLABELED_DIR = "unlabeled"
TRASH_DIR = ".trash"


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    label: str


def is_video(path: Path) -> bool:
    """A visible regular file with a video extension (hidden files such as `.x.mp4.partial` are not clips)."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in VIDEO_EXTENSIONS


def is_label_dir(path: Path) -> bool:
    """A folder whose name is a mode: not `unlabeled`, not hidden, not `_private`."""
    return path.is_dir() and path.name != UNLABELED_DIR and not path.name.startswith((".", "_"))


def _data_dir(data_dir: Path | str) -> Path:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: data folder not found (expected DATA/<mode>/<clip> folders)")
    return data_dir


def _clips_in(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if is_video(p)), key=lambda p: p.name)


def list_labelled_clips(data_dir: Path | str) -> list[LabelledClip]:
    """Every clip under `DATA/<mode>/`, sorted by (label, file name) so runs are reproducible."""
    data_dir = _data_dir(data_dir)
    return [
        LabelledClip(path, folder.name)
        for folder in sorted(data_dir.iterdir(), key=lambda p: p.name)
        if is_label_dir(folder)
        for path in _clips_in(folder)
    ]


def list_unlabeled_clips(data_dir: Path | str) -> list[Path]:
    """Clips in `DATA/unlabeled/`, sorted by file name (timestamped names sort oldest first)."""
    folder = _data_dir(data_dir) / UNLABELED_DIR
    return _clips_in(folder) if folder.is_dir() else []
