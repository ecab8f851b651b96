"""The class-folder layout: which files are clips, which folders are labels, and a stable order."""

from __future__ import annotations

from pathlib import Path

import pytest

from classroom_mode.errors import UserError
from classroom_mode.video.dataset import VIDEO_EXTENSIONS, LabelledClip, list_labelled_clips, list_unlabeled_clips


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_folders_are_labels_and_only_video_files_are_clips(tmp_path: Path) -> None:
    for rel in (
        "solo/b.mp4",
        "solo/a.MOV",
        "solo/notes.txt",
        "solo/.a.mp4.partial",
        "group/c.webm",
        "unlabeled/2026-01-01T10-00-00.mp4",
        "unlabeled/2025-12-31T23-00-00.mp4",
        ".trash/solo/old.mp4",
        "_scratch/x.mp4",
    ):
        _touch(tmp_path / rel)
    (tmp_path / "empty-mode").mkdir()
    assert list_labelled_clips(tmp_path) == [
        LabelledClip(tmp_path / "group/c.webm", "group"),
        LabelledClip(tmp_path / "solo/a.MOV", "solo"),
        LabelledClip(tmp_path / "solo/b.mp4", "solo"),
    ]
    assert [p.name for p in list_unlabeled_clips(tmp_path)] == ["2025-12-31T23-00-00.mp4", "2026-01-01T10-00-00.mp4"]
    assert ".gif" in VIDEO_EXTENSIONS and ".txt" not in VIDEO_EXTENSIONS


def test_missing_data_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="data folder not found"):
        list_labelled_clips(tmp_path / "nope")
    assert list_unlabeled_clips(tmp_path) == []
