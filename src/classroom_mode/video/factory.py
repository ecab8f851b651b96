"""Build the right `FrameSource` for a configured camera.

The simulator sits below the video layer, so video cannot import it; the `sim` kind (and any
kind a caller adds) comes in through `builders`, a mapping from a source kind to a function
that builds it. Everything else is built here, importing optional extras only when used.

This is the one place a camera's frames enter the program (the live loop, `record`, `auto-record` and
`cameras preview` all open cameras here), so it is where the camera's privacy mask is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from classroom_mode.config import (
    CameraConfig,
    FileSourceConfig,
    OakSourceConfig,
    StreamSourceConfig,
    WebcamSourceConfig,
)
from classroom_mode.errors import NotAvailableError
from classroom_mode.video import file_source, oak, stream, webcam
from classroom_mode.video.live import StatusCallback
from classroom_mode.video.mask import MaskedSource
from classroom_mode.video.source import FrameSource

Builder = Callable[[str, CameraConfig, StatusCallback | None], FrameSource]


def open_source(
    camera_id: str,
    camera: CameraConfig,
    *,
    on_status: StatusCallback | None = None,
    builders: Mapping[str, Builder] | None = None,
) -> FrameSource:
    """The source for `camera`, its privacy mask applied to every frame; `builders` adds or overrides kinds (the
    live loop passes the simulator's)."""
    source = _unmasked(camera_id, camera, on_status, builders)
    return MaskedSource(source, camera.privacy_masks) if camera.privacy_masks else source


def _unmasked(
    camera_id: str, camera: CameraConfig, on_status: StatusCallback | None, builders: Mapping[str, Builder] | None
) -> FrameSource:
    settings = camera.source
    if builders and settings.kind in builders:
        return builders[settings.kind](camera_id, camera, on_status)
    match settings:
        case FileSourceConfig():
            return file_source.FileSource(camera_id, settings.path, loop=settings.loop, on_status=on_status)
        case StreamSourceConfig():
            return stream.StreamSource(
                camera_id,
                settings.url,
                open_timeout_s=settings.open_timeout_s,
                read_timeout_s=settings.read_timeout_s,
                on_status=on_status,
            )
        case WebcamSourceConfig():
            return webcam.WebcamSource(
                camera_id, settings.index, width=settings.width, height=settings.height, on_status=on_status
            )
        case OakSourceConfig():
            return oak.OakSource(camera_id, device_id=settings.device_id, fps=settings.fps, on_status=on_status)
    raise NotAvailableError(
        f"camera {camera_id}: source kind {settings.kind!r} is built by its own layer; pass builders={{...}} for it"
    )
