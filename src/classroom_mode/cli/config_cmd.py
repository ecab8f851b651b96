"""`classroom-mode config check|example`: validate a config file, or print a commented example."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from classroom_mode.cli.groups import add_group
from classroom_mode.cli.options import JsonOption
from classroom_mode.cli.output import console, print_json, styled
from classroom_mode.config import DEFAULT_CONFIG_FILE, load_config


def example_text() -> str:
    return files("classroom_mode").joinpath("example-config.yaml").read_text(encoding="utf-8")


def register(app: typer.Typer) -> None:
    add_group(app, "config", "Check a config file or print an example one.", {"check": check, "example": example})


def check(
    file: Annotated[
        Path, typer.Argument(help=f"config file, or - for standard input (default: {DEFAULT_CONFIG_FILE})")
    ] = Path(DEFAULT_CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Validate a config file: every problem on its own line with the field path (exit 2 if any)."""
    config = load_config(file)
    cameras = sum(len(room.cameras) for room in config.rooms.values())
    if as_json:
        print_json(config.redacted_dump())
    else:
        console.print(
            styled(
                ("ok", "green"),
                f": {file} — {len(config.rooms)} room(s), {cameras} camera(s), "
                f"{len(config.modes)} modes: {', '.join(config.modes)}; backbone {config.backbone.model}",
            )
        )


def example() -> None:
    """Print a commented example config (write it with `classroom-mode config example > classroom-mode.yaml`)."""
    typer.echo(example_text(), nl=False)
