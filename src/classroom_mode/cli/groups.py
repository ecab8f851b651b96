"""How the verbs become one app: the root group that maps every error to one line and its exit code, and the
sub-groups (`models`, `cameras`, `config`, ...).

Commands stay thin: they parse arguments, call into the layers, and print. Errors from the
layers are `ClassroomModeError`s; the root group turns them into one line on stderr and the
exit code the error carries (2 for the user's mistakes, 1 for failures), never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import typer
from typer.core import TyperGroup

from classroom_mode.cli.output import print_error
from classroom_mode.errors import ClassroomModeError, UserError


def add_group(app: typer.Typer, name: str, help: str, commands: Mapping[str, Callable[..., Any]]) -> None:
    """Add `app NAME COMMAND`, one command per entry of `commands`; `app NAME` alone prints the group's help, not an
    error about a missing command."""
    group = typer.Typer(help=help, no_args_is_help=True)
    for command, function in commands.items():
        group.command(command)(function)
    app.add_typer(group, name=name)


PATH_ERRORS = (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError, FileNotFoundError)
"""Errors about a path a user gave (in the config or on the command line): theirs to fix, so one line, exit 2."""


def path_error(exc: OSError) -> UserError:
    """`paths.database: /srv/x/h.db` under a folder that is a file, say: the path and what is wrong with it."""
    where = exc.filename if exc.filename is not None else "a path"
    hint = " (a folder on its way is a file)" if isinstance(exc, (FileExistsError, NotADirectoryError)) else ""
    return UserError(f"{where}: {exc.strerror or type(exc).__name__}{hint}")


class ErrorMappingGroup(TyperGroup):
    """The root group: every ClassroomModeError raised below it becomes one line and its exit code, and so does
    an error about a path the user gave (a parent that is a file, a folder that may not be written)."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except ClassroomModeError as exc:
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except PATH_ERRORS as exc:
            error = path_error(exc)
            print_error(error)
            raise typer.Exit(error.exit_code) from None
