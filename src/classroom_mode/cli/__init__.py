"""The `classroom-mode` command line: one verb per job, each a thin call into the layers."""

from __future__ import annotations

from typing import Annotated

import typer

from classroom_mode import __version__
from classroom_mode.cli import bot_cmd as bot_cmd
from classroom_mode.cli import (
    cameras_cmd,
    clips_cmd,
    config_cmd,
    demo_cmd,
    embed_cmd,
    live_cmd,
    outputs_cmd,
    privacy_cmd,
    probe_cmd,
    record_cmd,
    simulate_cmd,
    worldmodel_cmd,
)
from classroom_mode.cli.groups import ErrorMappingGroup
from classroom_mode.cli.output import setup_logging

app = typer.Typer(
    name="classroom-mode",
    cls=ErrorMappingGroup,
    help="Tell what a room is being used for, from a camera, with a V-JEPA 2 video world model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"classroom-mode {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="more log output (-vv for debug)")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only errors")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    setup_logging(verbose, quiet)


for module in (
    simulate_cmd,
    record_cmd,
    clips_cmd,
    cameras_cmd,
    embed_cmd,
    probe_cmd,
    worldmodel_cmd,
    live_cmd,
    bot_cmd,
    demo_cmd,
    config_cmd,
    privacy_cmd,
    outputs_cmd,
):
    module.register(app)


def main() -> None:
    app()
