"""Decoding: a codec matrix of self-indexing footage, sampled exactly by timestamp, and every kind of bad file."""

from __future__ import annotations

import bisect
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from classroom_mode.errors import UserError
from classroom_mode.video.decode import VideoFile, probe_video, sample_clip
from video_helpers import cfr_times, index_frame, read_index, write_indexed

CODECS = {
    "h264.mp4": {"codec": "libx264"},
    "hevc.mp4": {"codec": "libx265", "options": {"x265-params": "log-level=error"}},
    "vp8.webm": {"codec": "libvpx"},
    "vp9.webm": {"codec": "libvpx-vp9"},
    "av1.mkv": {"codec": "libsvtav1"},
    "mpeg4.avi": {"codec": "mpeg4"},
    "mjpeg.avi": {"codec": "mjpeg", "pix_fmt": "yuvj420p"},
    "h264.mkv": {"codec": "libx264"},
    "anim.gif": {"codec": "gif", "pix_fmt": "rgb8"},
    # a browser recording: WebM written live, so no duration and no cues in the header
    "browser.webm": {"codec": "libvpx-vp9", "container_options": {"live": "1"}},
    # long GOP with B-frames: sampling must decode from the right keyframe and reorder
    "bframes.mp4": {"codec": "libx264", "options": {"g": "12", "bf": "3"}},
}


def expected_indices(times_ms: list[int], n: int, window: tuple[float, float]) -> list[int]:
    """The reference rule: the frame on screen at the centre of each of n equal segments of the window."""
    lo, hi = window
    centres = [lo + (i + 0.5) * (hi - lo) / n for i in range(n)]
    return [bisect.bisect_right(times_ms, c * 1000 + 1e-6) - 1 for c in centres]


def _available(codec: str) -> bool:
    return codec in av.codecs_available


@pytest.mark.parametrize("name", list(CODECS))
def test_codec_matrix_samples_exact_frames(tmp_path: Path, name: str) -> None:
    spec = CODECS[name]
    if not _available(spec["codec"]):
        pytest.skip(f"this FFmpeg build has no {spec['codec']} encoder")
    times = cfr_times(30, 10)
    path = write_indexed(tmp_path / name, times, **spec)
    info = probe_video(path)
    assert (info.num_frames, info.width, info.height, info.rotation) == (30, 128, 64, 0)
    assert info.duration == pytest.approx(3.0, abs=1e-3)
    assert not info.variable_frame_rate
    clip = sample_clip(path, 16, camera_id="cam")
    assert clip.frames.shape == (16, 64, 128, 3) and clip.frames.dtype == np.uint8
    got = [read_index(f) for f in clip.frames]
    assert got == expected_indices(times, 16, (0.0, 3.0))
    np.testing.assert_allclose(clip.timestamps, [times[i] / 1000 for i in got], atol=1e-3)
    assert clip.camera_id == "cam" and clip.source == str(path)


def test_variable_frame_rate_is_sampled_by_time_not_by_frame_number(tmp_path: Path) -> None:
    # a burst of frames, a long hold, another burst: frame numbers and time disagree badly
    times = [0, 40, 80, 120, 160, 1500, 1520, 1540, 1560, 2900, 2950, 3000]
    path = write_indexed(tmp_path / "vfr.mp4", times)
    info = probe_video(path)
    assert info.variable_frame_rate and info.num_frames == len(times)
    clip = sample_clip(path, 8, start=0.0, end=3.0)
    got = [read_index(f) for f in clip.frames]
    assert got == expected_indices(times, 8, (0.0, 3.0))
    assert got[:3] == [4, 4, 4]  # the frame held from 0.16 s to 1.5 s fills three segments
    np.testing.assert_allclose(clip.timestamps, [times[i] / 1000 for i in got], atol=1e-3)


def test_window_on_a_long_gop_file_seeks_to_the_right_frames(tmp_path: Path) -> None:
    times = cfr_times(240, 20)  # 12 s, keyframe every 25 frames
    path = write_indexed(tmp_path / "long.mp4", times, options={"g": "25", "bf": "2"})
    clip = sample_clip(path, 16, start=7.0, end=9.4)
    got = [read_index(f) for f in clip.frames]
    assert got == expected_indices(times, 16, (7.0, 9.4))
    # timestamps count from the window start, not from the file start
    np.testing.assert_allclose(clip.timestamps, [times[i] / 1000 - 7.0 for i in got], atol=1e-3)
    assert clip.timestamps[0] >= 0


def test_one_open_file_cuts_every_window_as_a_fresh_open_would_in_any_order(tmp_path: Path) -> None:
    """`surprise --stream` indexes a file once and cuts window after window (forward, and back when asked)."""
    times = cfr_times(240, 20)
    path = write_indexed(tmp_path / "long.mp4", times, options={"g": "25", "bf": "2"})
    windows = [(0.0, 2.0), (0.5, 2.5), (1.0, 3.0), (7.0, 9.4), (2.0, 4.0)]
    with VideoFile(path) as video:
        assert video.info() == probe_video(path)
        for start, end in windows:
            got = [read_index(f) for f in video.clip(8, start=start, end=end).frames]
            assert got == expected_indices(times, 8, (start, end)), (start, end)


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    path = write_indexed(tmp_path / "portrait.mp4", cfr_times(20, 10), rotation=90)
    info = probe_video(path)
    assert (info.rotation, info.width, info.height) == (90, 64, 128)
    clip = sample_clip(path, 4)
    assert clip.frames.shape == (4, 128, 64, 3)
    # 90 degrees counter-clockwise for display: turning back clockwise restores the written frame
    upright = [np.rot90(f, k=-1) for f in clip.frames]
    assert [read_index(f) for f in upright] == expected_indices(cfr_times(20, 10), 4, (0.0, 2.0))


def test_more_samples_than_frames_repeats_frames_as_a_player_would(tmp_path: Path) -> None:
    path = write_indexed(tmp_path / "short.gif", cfr_times(4, 4), codec="gif", pix_fmt="rgb8")
    got = [read_index(f) for f in sample_clip(path, 8).frames]
    assert got == [0, 0, 1, 1, 2, 2, 3, 3]


def test_animated_png_is_read_as_an_image_sequence_with_its_frame_delays(tmp_path: Path) -> None:
    stills = [Image.fromarray(index_frame(i)) for i in range(12)]
    path = tmp_path / "anim.png"
    stills[0].save(path, save_all=True, append_images=stills[1:], duration=[100] * 6 + [300] * 6, loop=0)
    info = probe_video(path)
    assert (info.codec, info.num_frames, info.variable_frame_rate) == ("apng", 12, True)
    times = [100 * i for i in range(6)] + [600 + 300 * i for i in range(6)]
    got = [read_index(f) for f in sample_clip(path, 8).frames]
    assert got == expected_indices(times, 8, (0.0, info.duration))


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _unknown_codec(path: Path) -> Path:
    avi = write_indexed(path.with_suffix(".src.avi"), cfr_times(5, 10), codec="mpeg4").read_bytes()
    path.write_bytes(avi.replace(b"FMP4", b"ZQZQ"))  # a FourCC no decoder knows
    return path


def _truncated(path: Path) -> Path:
    data = write_indexed(path.with_suffix(".src.mp4"), cfr_times(30, 10)).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _huge(path: Path) -> Path:
    Image.new("P", (10_000, 10_000)).save(path)  # palette GIF: tiny on disk, 300 MB as RGB
    return path


BAD_FILES = {
    "zero-byte.mp4": (lambda p: p.write_bytes(b"") and p, "empty file"),
    "truncated.mp4": (_truncated, "truncated"),
    "text.mp4": (lambda p: p.write_text("not a video\n" * 50) and p, "not a video file"),
    "audio.m4a": (_audio_only, "no video stream (audio only)"),
    "unknown.avi": (_unknown_codec, "cannot be decoded"),
    "single.mp4": (lambda p: write_indexed(p, [0]), "single frame"),
    "huge.gif": (_huge, "10000x10000 is too large"),
    "missing.mp4": (lambda p: p, "file not found"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_get_one_clear_error_naming_the_file(tmp_path: Path, name: str) -> None:
    make, reason = BAD_FILES[name]
    path = tmp_path / name
    make(path)
    for call in (lambda: sample_clip(path, 16), lambda: probe_video(path)):
        with pytest.raises(UserError) as caught:
            call()
        assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value)


def test_too_long_is_refused_from_the_header_and_from_the_packets_when_the_header_is_silent(tmp_path: Path) -> None:
    two_hours = list(range(0, 7_200_000, 60_000))
    with_header = write_indexed(tmp_path / "two-hours.mp4", two_hours)
    no_header = write_indexed(tmp_path / "two-hours.webm", two_hours, codec="libvpx", container_options={"live": "1"})
    for path in (with_header, no_header):
        with pytest.raises(UserError, match="allowed here"):
            sample_clip(path, 16, max_seconds=60)
    assert sample_clip(with_header, 2).num_frames == 2  # no limit: fine


def test_windows_outside_the_video_are_refused(tmp_path: Path) -> None:
    path = write_indexed(tmp_path / "clip.mp4", cfr_times(30, 10))
    with pytest.raises(UserError, match="outside the video"):
        sample_clip(path, 4, start=5.0)
    with pytest.raises(UserError, match="not after its start"):
        sample_clip(path, 4, start=2.0, end=1.0)
    assert sample_clip(path, 4, start=2.0, end=99.0).timestamps[-1] < 1.0  # end clamped to the file's end


def test_a_truncated_tail_is_read_up_to_where_the_data_ends(tmp_path: Path) -> None:
    data = write_indexed(tmp_path / "full.mkv", cfr_times(40, 10)).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # Matroska has no index at the end: the head stays readable
    info = probe_video(cut)
    assert 2 <= info.num_frames < 40
    got = [read_index(f) for f in sample_clip(cut, 8).frames]
    assert got == sorted(got) and max(got) < 40
