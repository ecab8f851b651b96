"""Luxonis OAK cameras through depthai 3.x (optional extra `oak`), imported only when an OAK is used.

Device discovery takes about half a second, so a missing camera is reported at construction,
immediately, instead of after depthai's own multi-second connection timeout. `replay` runs the
same pipeline on depthai's host-side `ReplayVideo` node from a file, which is how this source is
tested without hardware.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from classroom_mode.errors import ClassroomModeError, NotAvailableError
from classroom_mode.video.live import Backoff, ReconnectingSource, StatusCallback

FRAME_SIZE = (640, 480)


def _depthai() -> Any:
    try:
        import depthai
    except ImportError:
        raise NotAvailableError(
            "OAK cameras need depthai 3.x: pip install -e '.[oak]' in the classroom-mode folder"
        ) from None
    if not depthai.__version__.startswith("3."):
        raise NotAvailableError(f"OAK cameras need depthai 3.x, found {depthai.__version__}")
    return depthai


class OakSource(ReconnectingSource):
    """The colour camera of an OAK device (first found, or by MX id / IP), or a file through host-side replay."""

    def __init__(  # noqa: PLR0913 -- keyword-only options, each named at the call
        self,
        camera_id: str,
        *,
        device_id: str | None = None,
        fps: float = 15.0,
        read_timeout_s: float = 5.0,
        replay: Path | str | None = None,
        on_status: StatusCallback | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._dai = _depthai()
        super().__init__(camera_id, on_status, backoff, rng)
        self.device_id, self.fps, self.read_timeout_s = device_id, fps, read_timeout_s
        self.replay = Path(replay) if replay is not None else None
        if self.replay is None:
            self._find_device()

    def _find_device(self) -> Any:
        found = self._dai.Device.getAllAvailableDevices()
        if self.device_id is not None:
            found = [d for d in found if self.device_id in (d.getDeviceId(), d.name)]
        if not found:
            which = f" {self.device_id!r}" if self.device_id else ""
            raise NotAvailableError(f"camera {self.camera_id}: no OAK device{which} attached (USB or network)")
        return found[0]

    def _pipeline(self) -> tuple[Any, Any]:
        dai = self._dai
        if self.replay is not None:
            pipeline = dai.Pipeline(False)  # host only: no device
            node = pipeline.create(dai.node.ReplayVideo)
            node.setReplayVideoFile(str(self.replay))
            node.setOutFrameType(dai.ImgFrame.Type.RGB888i)
            node.setLoop(False)
            node.setFps(self.fps)
            return pipeline, node.out.createOutputQueue()
        pipeline = dai.Pipeline(dai.Device(self._find_device()))
        camera = pipeline.create(dai.node.Camera).build()
        output = camera.requestOutput(FRAME_SIZE, dai.ImgFrame.Type.RGB888i, fps=self.fps)
        return pipeline, output.createOutputQueue()

    def _connect(self) -> Iterator[np.ndarray]:
        try:
            pipeline, queue = self._pipeline()
            pipeline.start()
        except RuntimeError as exc:
            raise ClassroomModeError(f"camera {self.camera_id}: cannot start the OAK pipeline ({exc})") from None
        try:
            last = time.monotonic()
            while pipeline.isRunning() and not self.closed:
                message = queue.tryGet()
                if message is None:
                    if time.monotonic() - last > self.read_timeout_s:
                        raise ClassroomModeError(f"camera {self.camera_id}: no frame for {self.read_timeout_s:g} s")
                    self._stop.wait(0.005)
                    continue
                last = time.monotonic()
                yield np.ascontiguousarray(message.getFrame())  # RGB888i: (H, W, 3) interleaved RGB
        except RuntimeError as exc:
            raise ClassroomModeError(f"camera {self.camera_id}: OAK connection lost ({exc})") from None
        finally:
            pipeline.stop()
