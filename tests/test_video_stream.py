"""Live sources against real servers: a GStreamer RTSP server on loopback, paused, killed and restarted."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from classroom_mode.config import CameraConfig, SimSourceConfig, StreamSourceConfig
from classroom_mode.config import redact_url as redact
from classroom_mode.errors import NotAvailableError
from classroom_mode.service.api.ports import free_port
from classroom_mode.video.factory import open_source
from classroom_mode.video.live import Backoff
from classroom_mode.video.stream import StreamSource

SERVER = Path(__file__).with_name("video_rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def _gst_rtsp_missing() -> str | None:
    if not shutil.which(SYSTEM_PYTHON):
        return "no system python3"
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    if subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode != 0:
        return "GStreamer RTSP server missing (apt: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly)"
    return None


pytestmark = pytest.mark.skipif(bool(_gst_rtsp_missing()), reason=_gst_rtsp_missing() or "")


class RtspServer:
    """One GStreamer RTSP server process on 127.0.0.1; `pause`, `kill` and `start` it again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.port), "/cam"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)  # connection stays open, no more bytes: only a read timeout sees it

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def servers() -> Iterator[tuple[RtspServer, RtspServer]]:
    pair = (RtspServer(), RtspServer())
    for server in pair:
        server.start()
    yield pair
    for server in pair:
        server.kill()


class Watcher:
    """Consumes one source on a thread, counting frames and recording status changes with their times."""

    def __init__(self, source: StreamSource) -> None:
        self.source = source
        self.frames = 0
        self.events: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def on_status(self, camera_id: str, status: str, reason: str | None) -> None:
        self.events.append((time.monotonic(), status))

    def _run(self) -> None:
        for _ in self.source.frames():
            self.frames += 1

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def wait(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self.source.close()
        self._thread.join(timeout=10)


def _watch(url: str, camera_id: str) -> Watcher:
    source = StreamSource(
        camera_id, url, open_timeout_s=2.0, read_timeout_s=1.5, backoff=Backoff(0.1, 0.5), rng=random.Random(0)
    )
    watcher = Watcher(source)
    source.on_status = watcher.on_status
    return watcher.start()


def test_a_stalled_then_restarted_server_goes_offline_reconnects_and_resumes_without_touching_others(
    servers: tuple[RtspServer, RtspServer],
) -> None:
    flaky, steady = servers
    a, b = _watch(flaky.url, "a"), _watch(steady.url, "b")
    try:
        assert a.wait(lambda: a.frames >= 10, 15) and b.wait(lambda: b.frames >= 10, 15)
        assert a.source.status == "online"

        flaky.pause()
        paused_at = time.monotonic()
        assert a.wait(lambda: a.source.status == "offline", 10)
        assert time.monotonic() - paused_at < 1.5 + 3.0  # the read timeout, plus slack for 2 shared cores
        b_before = b.frames
        time.sleep(1.0)
        assert b.frames > b_before + 3 and b.source.status == "online"  # the other camera is unaffected

        flaky.kill()
        flaky.start()
        a_before = a.frames
        assert a.wait(lambda: a.source.status == "online" and a.frames > a_before + 5, 20)
        assert a.source.connections == 2
        assert [s for _, s in a.events] == ["online", "offline", "online"]
        assert [s for _, s in b.events] == ["online"]
    finally:
        a.stop()
        b.stop()
    assert a.source.status == "offline" and a.events[-1][1] == "offline"


def test_nothing_listening_is_reported_offline_with_the_reason(tmp_path: Path) -> None:
    watcher = _watch(f"rtsp://user:secret@127.0.0.1:{free_port()}/cam", "nobody")
    try:
        assert watcher.wait(lambda: watcher.source.last_error is not None, 10)
        assert watcher.source.status == "offline" and watcher.frames == 0
        assert "cannot connect" in watcher.source.last_error and "secret" not in watcher.source.last_error
    finally:
        watcher.stop()


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap() -> None:
    backoff, rng = Backoff(base_s=0.5, cap_s=4.0), random.Random(1)
    for attempt in range(8):
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        bound = min(4.0, 0.5 * 2**attempt)
        assert min(delays) >= 0 and max(delays) <= bound and max(delays) > 0.8 * bound


def test_factory_builds_streams_and_names_kinds_it_does_not_build() -> None:
    source = open_source("ip", CameraConfig(source=StreamSourceConfig(url="rtsp://127.0.0.1:1/x", read_timeout_s=1)))
    assert isinstance(source, StreamSource) and source.read_timeout_s == 1
    with pytest.raises(NotAvailableError, match="'sim'"):
        open_source("demo", CameraConfig(source=SimSourceConfig()))
    assert redact("rtsp://admin:hunter2@10.0.0.5/live") == "rtsp://admin:***@10.0.0.5/live"
