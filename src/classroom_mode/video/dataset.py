"""The labelled-clip layout on disk: `DATA/<mode>/<clip>`, one folder per mode, the folder name is the label.

A folder is the whole database: users add a mode by adding a folder, relabel a clip by moving
it, and nothing needs an index file to stay in sync. `DATA/unlabeled/` holds clips waiting for
a label, and folders starting with `.` or `_` (the labelling page's `.trash/`) are never labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from classroom_mode.errors import UserError
from classroom_mode.records import Skipped

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


def overlooked(data_dir: Path | str) -> list[Skipped]:
    """What the layout leaves out that looks meant as a clip, each with why: a video in a nested folder, a
    link that leads nowhere or in a loop, a name ending like a video that is not a regular file. A batch job
    lists these with its skipped clips, so nothing a user put in the folder disappears without a word."""
    data_dir = _data_dir(data_dir)
    found: list[Skipped] = []
    folders = [f for f in sorted(data_dir.iterdir()) if is_label_dir(f) or f.name == UNLABELED_DIR]
    for folder in folders:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not entry.exists():
                found.append(Skipped(path=str(entry), reason="a link that leads nowhere (or in a loop)"))
            elif entry.is_dir() and entry.is_symlink():
                found.append(
                    Skipped(path=str(entry), reason=f"a link to a folder: clips go directly in {folder.name}/")
                )
            elif entry.is_dir():
                nested = sorted(p for p in _walk(entry) if p.suffix.lower() in VIDEO_EXTENSIONS)
                found.extend(
                    Skipped(path=str(p), reason=f"in a nested folder: clips go directly in {folder.name}/")
                    for p in nested
                )
            elif entry.suffix.lower() in VIDEO_EXTENSIONS and not entry.is_file():
                found.append(Skipped(path=str(entry), reason="not a regular file (a named pipe or a device)"))
    return found


def _walk(folder: Path) -> list[Path]:
    # os.walk does not follow links into folders, so a link loop cannot make this run forever
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names]


def list_unlabeled_clips(data_dir: Path | str) -> list[Path]:
    """Clips in `DATA/unlabeled/`, sorted by file name (timestamped names sort oldest first)."""
    folder = _data_dir(data_dir) / UNLABELED_DIR
    return _clips_in(folder) if folder.is_dir() else []
