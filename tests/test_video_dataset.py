"""The class-folder layout: which files are clips, which folders are labels, and a stable order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from classroom_mode.errors import UserError
from classroom_mode.video.dataset import (
    VIDEO_EXTENSIONS,
    LabelledClip,
    list_labelled_clips,
    list_unlabeled_clips,
    overlooked,
)


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


def test_what_the_layout_leaves_out_is_listed_with_why(tmp_path):
    data = tmp_path / "data"
    (data / "solo" / "monday").mkdir(parents=True)
    (data / "unlabeled").mkdir()
    (data / "solo" / "ok.mp4").write_bytes(b"x")
    (data / "solo" / "monday" / "nested.mp4").write_bytes(b"x")
    (data / "solo" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (data / "solo" / "loop-a.mp4").symlink_to(data / "solo" / "loop-b.mp4")
    (data / "solo" / "loop-b.mp4").symlink_to(data / "solo" / "loop-a.mp4")
    (data / "solo" / "dir-loop").symlink_to(data / "solo", target_is_directory=True)
    os.mkfifo(data / "unlabeled" / "pipe.mp4")
    found = {Path(s.path).name: s.reason for s in overlooked(data)}
    assert found["nested.mp4"] == "in a nested folder: clips go directly in solo/"
    assert "leads nowhere" in found["gone.mp4"] and "leads nowhere" in found["loop-a.mp4"]
    assert found["pipe.mp4"].startswith("not a regular file")
    assert found["dir-loop"] == "a link to a folder: clips go directly in solo/"
    assert "ok.mp4" not in found
    assert [c.path.name for c in list_labelled_clips(data)] == ["ok.mp4"]
