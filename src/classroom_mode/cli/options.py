"""The options several commands share, defined once so each reads and documents the same way everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classroom_mode.config import Config, load_config

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


def config_from(path: Path | None) -> Config:
    return load_config(path)
