"""Recording end to end: the `record` and `auto-record` verbs on a looping file and on the simulator's camera; a
live window read as the recording of its frames."""

from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from classroom_mode.config import ClipSettings
from classroom_mode.records import Clip
from classroom_mode.video.clips import ClipBuilder, clip_from_frames
from classroom_mode.video.decode import probe_video, sample_clip
from classroom_mode.video.file_source import FileSource
from classroom_mode.video.recorder import Retention, apply_retention, save_clip
from classroom_mode.video.sessions import session_of
from classroom_mode.video.source import Frame, HeldFrames
from video_helpers import cfr_times, read_index, write_indexed


def _config(tmp_path: Path, source: str, seconds: float = 1.0) -> Path:
    path = tmp_path / "classroom-mode.yaml"
    path.write_text(
        f"""
rooms:
  lab:
    cameras:
      cam:
        source: {source}
        clip: {{frames: 8, seconds: {seconds}}}
paths:
  data: {tmp_path / "data"}
"""
    )
    return path


@pytest.fixture
def looping_file(tmp_path: Path) -> Path:
    return write_indexed(tmp_path / "feed.mp4", cfr_times(20, 20))  # 1 s at 20 fps, looped


def test_record_writes_labelled_clips_into_the_mode_folder(cli, tmp_path: Path, looping_file: Path) -> None:
    config = _config(tmp_path, f"{{kind: file, path: {looping_file}}}")
    result = cli("record", "--camera", "cam", "--label", "group", "--count", "2", "--countdown", "0", "-c", config)
    assert result.exit_code == 0, result.stderr
    clips = sorted((tmp_path / "data" / "group").iterdir())
    assert len(clips) == 2 and all(p.suffix == ".mp4" for p in clips)
    assert len({session_of(p) for p in clips}) == 1 and session_of(clips[0])[0] == "cam"  # one session per run
    for path in clips:
        info = probe_video(path)
        assert info.codec == "h264" and info.duration == pytest.approx(1.0, abs=0.15)
        # a real-time recording of the looping feed: consecutive frames of the file, wrapping at its end
        got = [read_index(f) for f in sample_clip(path, 8).frames]
        steps = {(b - a) % 20 for a, b in itertools.pairwise(got)}
        assert steps <= {2, 3, 4}, got


def test_record_refuses_unknown_modes_and_cameras(cli, tmp_path: Path, looping_file: Path) -> None:
    config = _config(tmp_path, f"{{kind: file, path: {looping_file}}}")
    result = cli("record", "--camera", "cam", "--label", "dancing", "--countdown", "0", "-c", config)
    assert result.exit_code == 2 and "not a configured mode" in result.stderr
    result = cli("record", "--camera", "nope", "--label", "group", "-c", config)
    assert result.exit_code == 2 and "unknown camera 'nope'" in result.stderr
    result = cli("record", "--camera", "cam", "--label", "../x", "-c", config)
    assert result.exit_code == 2 and "mode name" in result.stderr


def test_record_from_a_bad_file_camera_names_the_file(cli, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_text("not video")
    result = cli(
        "record", "--camera", "cam", "--label", "solo", "-c", _config(tmp_path, f"{{kind: file, path: {bad}}}")
    )
    assert result.exit_code == 2 and f"{bad}: not a video file" in result.stderr


def test_record_from_the_simulators_real_time_camera(cli, tmp_path: Path) -> None:
    config = _config(tmp_path, "{kind: sim, timeline: 'solo:60', fps: 8, width: 96, height: 96}")
    started = time.monotonic()
    result = cli("record", "--camera", "cam", "--label", "solo", "--countdown", "0", "--json", "-c", config)
    assert result.exit_code == 0, result.stderr
    assert time.monotonic() - started >= 1.0  # paced in real time, not rendered ahead
    (path,) = (tmp_path / "data" / "solo").iterdir()
    info = probe_video(path)
    assert (info.width, info.height) == (96, 96) and 6 <= info.num_frames <= 10
    assert str(path) in result.stdout


def test_auto_record_fills_unlabeled_with_timestamped_clips(cli, tmp_path: Path, looping_file: Path) -> None:
    config = _config(tmp_path, f"{{kind: file, path: {looping_file}}}", seconds=0.5)
    args = ("auto-record", "--camera", "cam", "--every", "1s", "--count", "2", "--keep-days", "7", "-c", config)
    result = cli(*args, "--session", "day_1")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "data" / "unlabeled").iterdir())
    assert len(names) == 2 and all(n.startswith("cam__day_1__") for n in names)
    stamps = [datetime.strptime(n.split("__")[2].removesuffix("Z.mp4"), "%Y%m%dT%H%M%S.%f") for n in names]
    assert 0.3 < (stamps[1] - stamps[0]).total_seconds() < 3.0  # one --every apart, give or take a busy CI core
    assert cli(*args, "--every", "soon").exit_code == 2
    bad = cli(*args, "--session", "a__b")
    assert bad.exit_code == 2 and "--session 'a__b'" in bad.stderr


def test_auto_record_stores_nothing_without_a_retention(cli, tmp_path: Path, looping_file: Path) -> None:
    config = _config(tmp_path, f"{{kind: file, path: {looping_file}}}", seconds=0.5)
    result = cli("auto-record", "--camera", "cam", "--count", "1", "-c", config)
    assert result.exit_code == 2 and "only under a retention" in result.stderr
    for option, value in (("--keep-days", "0"), ("--keep-gb", "-1")):
        result = cli("auto-record", "--camera", "cam", "--count", "1", option, value, "-c", config)
        assert result.exit_code == 2 and f"{option} {value}: a retention must be more than 0" in result.stderr
    config.write_text(config.read_text() + "retention: {unlabeled_days: 0}\n")
    result = cli("auto-record", "--camera", "cam", "--count", "1", "-c", config)
    assert result.exit_code == 2 and "retention.unlabeled_days" in result.stderr
    assert not (tmp_path / "data").exists()


def test_retention_only_ever_touches_unlabeled(tmp_path: Path) -> None:
    data = tmp_path / "data"
    now = datetime.now(UTC)
    for folder, name, age_days, size in [
        ("unlabeled", "old.mp4", 10, 100),
        ("unlabeled", "mid.mp4", 2, 600),
        ("unlabeled", "new.mp4", 0, 600),
        ("unlabeled", "notes.txt", 30, 10),
        ("solo", "ancient.mp4", 400, 10_000),
    ]:
        path = data / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        stamp = (now - timedelta(days=age_days)).timestamp()
        os.utime(path, (stamp, stamp))
    assert apply_retention(data, Retention()) == []
    assert [p.name for p in apply_retention(data, Retention(days=5), now)] == ["old.mp4"]
    assert [p.name for p in apply_retention(data, Retention(gb=1e-6), now)] == ["mid.mp4"]  # 1 kB: oldest go first
    assert sorted(p.name for p in (data / "unlabeled").iterdir()) == ["new.mp4", "notes.txt"]
    assert (data / "solo" / "ancient.mp4").exists()


def test_clip_builder_cuts_timestamp_sampled_clips_from_a_live_source(looping_file: Path) -> None:
    with ClipBuilder(FileSource("cam", looping_file, loop=True), ClipSettings(frames=4, seconds=0.5)) as builder:
        clip = builder.latest(timeout=5)
    assert clip is not None and clip.num_frames == 4 and clip.camera_id == "cam"
    assert clip.started_at is not None and clip.ended_at is not None and clip.started_at <= clip.ended_at
    got = [read_index(f) for f in clip.frames]
    # segment centres 1.25, 3.75, 6.25 and 8.75 frames into the last 10 frames: steps of 2, 3, 2
    assert [(b - a) % 20 for a, b in itertools.pairwise(got)] == [2, 3, 2]


def test_durations_read_like_people_write_them() -> None:
    from classroom_mode.cli.options import parse_duration
    from classroom_mode.errors import UserError

    assert [parse_duration(t, "--every") for t in ("30s", "5m", "1.5h", "90", "250ms")] == [30, 300, 5400, 90, 0.25]
    for bad in ("", "0s", "-3s", "3 days", "s"):
        with pytest.raises(UserError, match="--every"):
            parse_duration(bad, "--every")


def test_a_live_window_reads_as_the_recording_of_the_same_frames(tmp_path: Path) -> None:
    """The probe learns from recorded files and reads live windows: the two must be the same clip to the model.
    What is left between them is H.264's own loss, a fraction of what the colour conversion alone would cost."""
    from classroom_mode.config import SHIPPED_MODEL_ID
    from classroom_mode.model.backbone import load_backbone
    from classroom_mode.sim.room_dataset import SettledClips

    backbone = load_backbone(SHIPPED_MODEL_ID, device="cpu")
    scene = next(iter(SettledClips(1, seed=1, seconds=3.0, fps=8.0, size=(128, 128))))
    images = [*scene.frames, scene.frames[-1]]  # one frame past the window, so both cuts can end
    settings = ClipSettings(frames=backbone.frames_per_clip, seconds=3.0)
    with ClipBuilder(HeldFrames("cam", images, 8.0), settings) as builder:
        recorded = sample_clip(save_clip(builder.record(0.0, timeout=10), tmp_path, "s1"), backbone.frames_per_clip)
    with ClipBuilder(HeldFrames("cam", images, 8.0), settings) as builder:
        live = builder.latest(timeout=10)
    assert live is not None
    frames = [Frame(image, i / 8.0, datetime.now(UTC)) for i, image in enumerate(images)]
    unconverted = clip_from_frames(frames, 0.0, 3.0, backbone.frames_per_clip, "cam")

    def pixels(a: Clip, b: Clip) -> float:
        return float(np.abs(a.frames.astype(float) - b.frames.astype(float)).mean())

    assert pixels(live, recorded) < 0.8 * pixels(unconverted, recorded)
    pooled = {name: backbone.embed([clip])[0].pooled for name, clip in (("recorded", recorded), ("live", live),
                                                                          ("unconverted", unconverted))}  # fmt: skip
    live_gap = float(np.linalg.norm(pooled["live"] - pooled["recorded"]))
    assert live_gap < 0.5 * float(np.linalg.norm(pooled["unconverted"] - pooled["recorded"]))
