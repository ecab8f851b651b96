"""A video file as a camera: played once, or looped and paced in real time like a live feed.

The looping file is how a recorded classroom stands in for a camera in demos and tests: the
live loop, the recorder and the clip builder cannot tell it from a webcam. Timestamps keep
increasing across loops (each pass adds the file's duration) so a clip never runs backwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import av.error

from classroom_mode.errors import UserError
from classroom_mode.video.decode import display_rgb, probe_video, time_base
from classroom_mode.video.live import ReportingSource, StatusCallback
from classroom_mode.video.source import Frame


class FileSource(ReportingSource):
    """Frames of one file; `loop` replays it forever; `realtime` sleeps so frames arrive at their own pace."""

    def __init__(
        self,
        camera_id: str,
        path: Path | str,
        *,
        loop: bool = False,
        realtime: bool = True,
        on_status: StatusCallback | None = None,
    ) -> None:
        super().__init__(camera_id, on_status)
        self.path = Path(path)
        self.info = probe_video(self.path)  # a bad file is refused here, with its reason, not mid-stream
        self.loop = loop
        self.realtime = realtime

    def _one_pass(self) -> Iterator[tuple[float, av.VideoFrame]]:
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                first: float | None = None
                for frame in container.decode(stream):
                    if frame.pts is None:
                        continue
                    t = float(frame.pts * time_base(stream))
                    first = t if first is None else first
                    yield t - first, frame
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: cannot decode video ({exc.strerror or exc})") from None

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        offset = 0.0
        self._set_status("online")
        try:
            while not self.closed:
                for t, frame in self._one_pass():
                    timestamp = offset + t
                    if self.realtime and self._stop.wait(max(0.0, start + timestamp - time.monotonic())):
                        return
                    if self.closed:
                        return
                    yield self._frame(display_rgb(frame), timestamp)
                if not self.loop:
                    return
                offset += self.info.duration
        finally:
            self._set_status("offline", "closed" if self.closed else "end of file")
