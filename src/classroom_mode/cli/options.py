"""The options several commands share, defined once so each reads and documents the same way everywhere, and how
an option's text becomes a value (`--every 5m`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from classroom_mode.config import Config, load_config
from classroom_mode.errors import UserError
from classroom_mode.video.sessions import check_session, new_session

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="config file (default: ./classroom-mode.yaml if present, else built-in defaults)"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable JSON on stdout")]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="backbone: hub id, save_pretrained folder or config:NAME")
]
DeviceOption = Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps (default: from config)")]

DataOption = Annotated[Path | None, typer.Option("--data", "-d", help="dataset folder (default: paths.data)")]


def _session(name: str) -> str:
    """The `--session` a recording runs under: the one given, checked, else a new one."""
    return check_session(name) if name else new_session()


SessionOption = Annotated[
    str,
    typer.Option(
        "--session",
        callback=_session,
        show_default=False,
        help="recording session the clips' names carry (CAMERA__SESSION__TIME.mp4), which cross-validation keeps in "
        "one fold; default: a new one named by the start time",
    ),
]


def config_from(path: Path | None) -> Config:
    return load_config(path)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, option: str) -> float:
    """'30s', '5m', '1.5h' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise UserError(f"{option} {text!r}: expected a positive duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _UNIT_S[match.group(2)]
