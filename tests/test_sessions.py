"""Recording sessions in clip names: how `record` names clips, `clips sessions` renaming an older folder by time
gaps, and `evaluate` grouping by session by default (real simulator clips, real decoding, the tiny backbone)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from classroom_mode.errors import UserError
from classroom_mode.video.sessions import camera_field, check_session, clip_name, session_of
from probe_helpers import labelled_folder

MODEL = ("--model", "config:tiny")


@pytest.fixture(scope="module")
def flat_folder(tmp_path_factory) -> Path:
    """Three clips of each mode renamed as an older `record` named them: `cam_<UTC time>.mp4`, in three sittings
    an hour apart (one clip of every mode in each)."""
    data = labelled_folder(tmp_path_factory.mktemp("sessions") / "data", 3)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    for m, mode in enumerate(sorted(p for p in data.iterdir() if p.is_dir())):
        for i, clip in enumerate(sorted(mode.iterdir())):
            at = start + timedelta(hours=i % 3, seconds=i // 3 + 5 * m)
            clip.rename(clip.with_name(f"cam_{at:%Y%m%dT%H%M%S}.{i:03d}Z.mp4"))
    return data


@pytest.fixture(scope="module", autouse=True)
def _scratch(tmp_path_factory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:  # one embedding cache for the module's tests, in its own folder
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield


def test_clip_names_carry_camera_and_session_in_the_fields_the_probes_read() -> None:
    at = datetime(2026, 12, 1, 10, 15, 3, 123_000, tzinfo=UTC)
    name = clip_name("front door", "20261201T101500Z", at)
    assert name == "front-door__20261201T101500Z__20261201T101503.123Z.mp4"
    assert session_of(Path(name)) == ("front-door", "20261201T101500Z")
    # a camera name can neither shift the fields nor make a hidden file
    assert camera_field("a__b") == "a_b" and camera_field("_x_") == "x" and camera_field(".cam") == "cam"
    assert check_session("lesson_3.b") == "lesson_3.b"
    for bad in ("a__b", "_a", "a_", "", "x/y", "a" * 65):
        with pytest.raises(UserError, match="--session"):
            check_session(bad)


def test_a_flat_folder_warns_and_sessions_by_time_gap_make_it_grouped(cli, flat_folder: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(flat_folder, data)
    before = sorted(p.stat().st_ino for p in data.rglob("*.mp4"))

    flat = cli("evaluate", data, *MODEL, "--probe", "prototype", "--folds", "3", "--json")
    assert flat.exit_code == 0, flat.output
    assert json.loads(flat.stdout)["scheme"] == "stratified 3-fold"
    assert "ungrouped and optimistic" in flat.stderr

    planned = cli("clips", "sessions", data, "--gap", "10m", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    assert sorted(json.loads(planned.stdout)["sessions"].values()) == [4, 4, 4]  # 3 sittings, a clip of each mode
    assert sorted(p.stat().st_ino for p in data.rglob("*.mp4")) == before  # a dry run renames nothing

    done = cli("clips", "sessions", data, "--gap", "10m")
    assert done.exit_code == 0, done.output
    clips = sorted(data.rglob("*.mp4"))
    assert sorted(p.stat().st_ino for p in clips) == before  # the same files, renamed in place
    assert {session_of(p) for p in clips} == {
        ("cam", "20260302T080000Z"),
        ("cam", "20260302T090000Z"),
        ("cam", "20260302T100000Z"),
    }
    again = cli("clips", "sessions", data, "--json")
    assert json.loads(again.stdout)["already_in_a_session"] == 12 and json.loads(again.stdout)["renamed"] == []

    grouped = cli("evaluate", data, *MODEL, "--probe", "prototype", "--folds", "3", "--json")
    assert grouped.exit_code == 0, grouped.output
    assert json.loads(grouped.stdout)["scheme"] == "stratified grouped 3-fold (3 groups)"
    assert "grouped by recording session (3 sessions" in grouped.stderr
    assert "optimistic" not in grouped.stderr
    explicit = cli("evaluate", data, *MODEL, "--probe", "prototype", "--folds", "3", "--group-by", "none", "--json")
    assert json.loads(explicit.stdout)["scheme"] == "stratified 3-fold"


def test_a_mode_recorded_in_one_session_is_evaluated_ungrouped_with_the_reason(cli, flat_folder: Path, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(flat_folder, data)
    for i, clip in enumerate(sorted(data.rglob("*.mp4"))):  # `record --label X` per mode: one session per mode
        clip.rename(clip.with_name(f"cam__{clip.parent.name}__{i:03d}.mp4"))
    result = cli("evaluate", data, *MODEL, "--probe", "prototype", "--folds", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scheme"] == "stratified 3-fold"
    assert "recorded in one session only" in result.stderr and "optimistic" in result.stderr


def test_sessions_by_gap_never_overwrite_and_skip_clips_without_a_camera(cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "solo").mkdir(parents=True)
    (data / "unlabeled").mkdir()
    (data / "solo" / "cam_20260302T080000.000Z.mp4").write_bytes(b"a")
    (data / "unlabeled" / "cam_20260302T080500.000Z.mp4").write_bytes(b"b")  # same sitting, another folder
    taken = data / "solo" / "cam__20260302T080000Z__20260302T080000.000Z.mp4"
    taken.write_bytes(b"already here")
    (data / "solo" / "phone-video.mp4").write_bytes(b"c")

    result = cli("clips", "sessions", data, "--gap", "10m", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sessions"] == {"cam__20260302T080000Z": 2}
    assert sorted(Path(r["to"]).name for r in report["renamed"]) == [
        "cam__20260302T080000Z__20260302T080000.000Z-1.mp4",
        "cam__20260302T080000Z__20260302T080500.000Z.mp4",
    ]
    assert taken.read_bytes() == b"already here"
    assert [Path(s["path"]).name for s in report["skipped"]] == ["phone-video.mp4"]
    assert (data / "unlabeled" / "cam__20260302T080000Z__20260302T080500.000Z.mp4").read_bytes() == b"b"

    os.utime(data / "solo" / "phone-video.mp4", (0, datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp()))
    named = cli("clips", "sessions", data, "--camera", "phone", "--json")
    assert [Path(r["to"]).name for r in json.loads(named.stdout)["renamed"]] == [
        "phone__20260302T090000Z__phone-video.mp4"
    ]
    assert cli("clips", "sessions", tmp_path / "nowhere").exit_code == 2
    assert cli("clips", "sessions", data, "--gap", "soon").exit_code == 2
