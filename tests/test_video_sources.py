"""File, webcam and OAK sources: pacing, looping, closing from another thread, and failing clearly."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from classroom_mode.config import CameraConfig, FileSourceConfig, WebcamSourceConfig
from classroom_mode.errors import NotAvailableError, UserError
from classroom_mode.video import file_source
from classroom_mode.video.factory import open_source
from classroom_mode.video.live import Backoff
from video_helpers import cfr_times, read_index, write_indexed


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_indexed(tmp_path / "clip.mp4", cfr_times(10, 20))  # 0.5 s at 20 fps


def test_file_played_once_as_fast_as_possible_gives_every_frame_with_its_timestamp(clip: Path) -> None:
    events: list[str] = []
    source = file_source.FileSource("f", clip, realtime=False, on_status=lambda c, s, r: events.append(f"{s}:{r}"))
    frames = list(source.frames())
    assert [read_index(f.image) for f in frames] == list(range(10))
    assert [round(f.timestamp, 3) for f in frames] == [i / 20 for i in range(10)]
    assert events == ["online:None", "offline:end of file"] and source.status == "offline"


def test_looping_file_is_paced_in_real_time_and_time_keeps_increasing(clip: Path) -> None:
    source = open_source("loop", CameraConfig(source=FileSourceConfig(path=clip, loop=True)))
    started = time.monotonic()
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 25:
            source.close()
    elapsed = time.monotonic() - started
    assert [read_index(f.image) for f in frames] == [i % 10 for i in range(25)]
    assert [round(f.timestamp, 3) for f in frames] == [i / 20 for i in range(25)]  # no jump back at the loop
    assert 1.1 <= elapsed < 5.0  # 24 frame intervals of 50 ms, not as fast as decoding
    assert source.status == "offline"


def test_close_from_another_thread_ends_frames(clip: Path) -> None:
    source = file_source.FileSource("f", clip, loop=True)
    threading.Timer(0.3, source.close).start()
    started = time.monotonic()
    count = sum(1 for _ in source.frames())
    assert 0 < count < 15 and time.monotonic() - started < 1.5


def test_a_bad_file_is_refused_when_the_source_is_built(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="empty file"):
        file_source.FileSource("f", (tmp_path / "empty.mp4").touch() or tmp_path / "empty.mp4")


def test_webcam_without_opencv_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if opencv were not installed
    with pytest.raises(NotAvailableError, match=r"pip install -e '\.\[camera\]'"):
        open_source("desk", CameraConfig(source=WebcamSourceConfig(index=0)))


def test_missing_webcam_is_reported_offline_and_retried() -> None:
    pytest.importorskip("cv2", reason="webcam sources need the camera extra (opencv-python-headless)")
    source = open_source("desk", CameraConfig(source=WebcamSourceConfig(index=97)))
    source.backoff = Backoff(0.05, 0.1)
    thread = threading.Thread(target=lambda: sum(1 for _ in source.frames()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while source.last_error is None and time.monotonic() < deadline:
        time.sleep(0.02)
    source.close()
    thread.join(timeout=5)
    assert source.status == "offline" and "webcam 97: cannot open the device" in (source.last_error or "")


def test_oak_without_a_device_fails_at_once_and_replays_a_file_on_the_host(clip: Path) -> None:
    pytest.importorskip("depthai", reason="OAK sources need the oak extra (depthai 3.x)")
    from classroom_mode.video.oak import OakSource

    started = time.monotonic()
    with pytest.raises(NotAvailableError, match="no OAK device attached"):
        OakSource("oak")
    assert time.monotonic() - started < 5

    source = OakSource("oak", replay=clip, fps=20)
    frames = []
    for frame in source.frames():
        frames.append(read_index(frame.image))
        if len(frames) == 12:
            source.close()
    # depthai's host-side ReplayVideo node, through the same reconnecting source a real device uses
    assert frames[:10] == list(range(10)) and frames[10:] == [0, 1] and source.connections == 2


def test_http_stream_plays_and_reconnects_when_the_server_closes_it(clip: Path) -> None:
    import functools
    import http.server

    from classroom_mode.config import StreamSourceConfig

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    source = open_source("http", CameraConfig(source=StreamSourceConfig(url=url, read_timeout_s=2)))
    source.backoff = Backoff(0.05, 0.1)
    try:
        got = []
        for frame in source.frames():
            got.append(read_index(frame.image))
            if len(got) == 15:
                source.close()
    finally:
        server.shutdown()
    # the file is a finite HTTP response: it ends, the source reports it and connects again
    assert got == [*range(10), *range(5)] and source.connections == 2
    assert source.last_error == "stream ended"
