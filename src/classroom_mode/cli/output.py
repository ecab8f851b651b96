"""What the commands print, and where: data on stdout (tables, `--json`), people's status lines, warnings,
progress bars, logs and errors on stderr, so a script reading stdout gets the data alone."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.records import Skipped

# Markup is off: a path, room, camera or clip name with `[bold]` or `[/x]` in it is printed as it is, never
# interpreted. Styling is explicit (`Text` with a style, `styled`), so no interpolated value can ever be markup.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)

PIPE_WIDTH = 100_000
"""stdout's width when it is not a terminal. Rich would lay a table out in 80 columns and cut each long cell to
`front-came…`; output read by a script, cron, systemd or a CI log has no screen to fit, so every table is as wide
as its longest cell, and two clips whose names differ only at the end can still be told apart."""
if not console.is_terminal:
    console.width = PIPE_WIDTH


class _Output:
    quiet = False


output = _Output()


def setup_logging(verbose: int, quiet: bool) -> None:
    output.quiet = quiet
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False)],
        force=True,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(payload: Any) -> None:
    """Write one JSON document to stdout (no Rich markup, so a script can parse it)."""
    typer.echo(json.dumps(payload, default=_json_default, ensure_ascii=False, indent=2))


def quiet_unless_main(is_main: bool) -> None:
    """Under torchrun only rank 0 draws progress bars, prints status lines and logs warnings."""
    if not is_main:
        output.quiet = True
        logging.getLogger().setLevel(logging.ERROR)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of plain strings and (text, style) pairs, e.g. styled(("warning:", "yellow"), " ", message)."""
    return Text.assemble(*parts)


def info(message: str | Text) -> None:
    """A human-facing status line on stderr (kept off stdout so `--json` output stays clean)."""
    if not output.quiet:
        err_console.print(message)


def warn(message: str) -> None:
    """`info` with a yellow `warning:` in front."""
    info(styled(("warning:", "yellow"), " ", message))


def print_skipped(skipped: Sequence[Skipped]) -> None:
    """What a batch job went on past: one line per file, its path whole (a table cuts long paths with `…` in
    80 columns, and then two clips cannot be told apart nor the skipped one found), on stderr."""
    if not skipped:
        return
    err_console.print(styled((f"skipped {len(skipped)} file(s):", "yellow")))
    for entry in skipped:
        err_console.print(f"  {entry.path}: {entry.reason}", soft_wrap=True, highlight=False)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[tuple[Progress, Any]]:
    """A Rich progress bar on stderr; yields (progress, task id). Silent with --quiet."""
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console, disable=output.quiet, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield progress, task


def print_error(exc: ClassroomModeError) -> None:
    prefix = "error" if isinstance(exc, UserError) else "failed"
    for line in str(exc).splitlines() or [type(exc).__name__]:
        err_console.print(styled((f"{prefix}:", "bold red"), " ", line), highlight=False, soft_wrap=True)
