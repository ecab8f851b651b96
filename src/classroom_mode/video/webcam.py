"""USB webcams through OpenCV (optional extra `camera`), imported only when a webcam is used."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from classroom_mode.errors import ClassroomModeError, NotAvailableError
from classroom_mode.video.live import Backoff, ReconnectingSource, StatusCallback


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise NotAvailableError(
            "webcam sources need OpenCV: pip install -e '.[camera]' in the classroom-mode folder"
        ) from None
    return cv2


class WebcamSource(ReconnectingSource):
    """A V4L2/DirectShow/AVFoundation camera by index; a pulled cable is an offline spell, then a reconnect."""

    def __init__(  # noqa: PLR0913 -- keyword-only options, each named at the call
        self,
        camera_id: str,
        index: int = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        on_status: StatusCallback | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._cv = _cv2()  # fail at construction, with the install hint, not inside the worker
        super().__init__(camera_id, on_status, backoff, rng)
        self.index, self.width, self.height = index, width, height

    def _connect(self) -> Iterator[np.ndarray]:
        cv2 = self._cv
        capture = cv2.VideoCapture(self.index)
        try:
            if not capture.isOpened():
                raise ClassroomModeError(f"webcam {self.index}: cannot open the device")
            if self.width:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            if self.height:
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            while not self.closed:
                ok, bgr = capture.read()
                if not ok:
                    raise ClassroomModeError(f"webcam {self.index}: no frame (unplugged or in use)")
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()
