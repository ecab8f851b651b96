"""`classroom-mode cameras preview`: one current frame of a camera with its privacy mask drawn, to check it by eye."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer

from classroom_mode.cli.groups import add_group
from classroom_mode.cli.options import ConfigOption, JsonOption, config_from
from classroom_mode.cli.output import info, print_json
from classroom_mode.cli.record_cmd import open_camera
from classroom_mode.files import write_bytes


def register(app: typer.Typer) -> None:
    add_group(app, "cameras", "Check the configured cameras.", {"preview": preview})


def preview(
    camera: Annotated[str, typer.Argument(help="camera name from the config")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write")] = Path("preview.png"),
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="seconds to wait for a frame")] = 30.0,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write one current frame of CAMERA as PNG, masked as everything else sees it, with the mask outlined."""
    from classroom_mode.video.clips import ClipBuilder
    from classroom_mode.video.mask import draw_outline, fingerprint

    config = config_from(config_path)
    source, settings = open_camera(config, camera)
    with ClipBuilder(source, settings.clip) as builder:
        builder.wait_for_first_frame(timeout)
        frame = builder.newest_frame()
    assert frame is not None  # wait_for_first_frame raised otherwise
    picture = io.BytesIO()
    draw_outline(frame.image, settings.privacy_masks).save(picture, format="PNG")
    write_bytes(out, picture.getvalue())
    mask = fingerprint(settings.privacy_masks)
    height, width = frame.image.shape[:2]
    if as_json:
        print_json({"camera": camera, "out": out, "width": width, "height": height, "privacy_mask": mask})
    else:
        polygons = len(settings.privacy_masks)
        info(f"{out}: camera {camera}, {width}×{height}, {polygons} mask polygon(s) (fingerprint {mask})")
