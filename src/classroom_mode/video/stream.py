"""RTSP and HTTP cameras through PyAV (FFmpeg): TCP transport, open and read timeouts, reconnects.

TCP rather than UDP because a lost UDP packet smears a whole GOP into grey blocks, and a
classifier fed corrupted frames answers confidently and wrongly. The read timeout is FFmpeg's
own I/O interrupt, so a camera that stops sending (rather than closing the connection) is
noticed within `read_timeout_s`, not when the OS gives up on the socket minutes later.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import av
import av.error
import numpy as np

from classroom_mode.config import redact_url
from classroom_mode.errors import ClassroomModeError
from classroom_mode.video.decode import display_rgb
from classroom_mode.video.live import Backoff, ReconnectingSource, StatusCallback


class StreamSource(ReconnectingSource):
    """An IP camera stream; reconnects forever with backoff, reporting each online/offline change."""

    def __init__(  # noqa: PLR0913 -- keyword-only options, each named at the call
        self,
        camera_id: str,
        url: str,
        *,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        on_status: StatusCallback | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(camera_id, on_status, backoff, rng)
        self.url = url
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s

    def _connect(self) -> Iterator[np.ndarray]:
        options = {"analyzeduration": "500000"}  # 0.5 s of probing, not FFmpeg's 5 s: a live feed is one stream
        if self.url.startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"
        where = redact_url(self.url)
        try:
            container = av.open(self.url, options=options, timeout=(self.open_timeout_s, self.read_timeout_s))
        except av.error.FFmpegError as exc:
            raise ClassroomModeError(f"{where}: cannot connect ({exc.strerror or exc})") from None
        with container:
            if not container.streams.video:
                raise ClassroomModeError(f"{where}: the stream has no video")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for frame in container.decode(stream):
                    yield display_rgb(frame)
            except av.error.FFmpegError as exc:
                raise ClassroomModeError(f"{where}: stream broke or stopped sending ({exc.strerror or exc})") from None
