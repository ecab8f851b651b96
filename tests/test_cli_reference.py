"""docs/reference/cli.md is Typer's own documentation of the app, so it cannot drift from the code: this test
generates it again and fails, with the command that regenerates it, when the file differs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"
TITLE = "classroom-mode command line (generated from the code by Typer; tests/test_cli_reference.py keeps it current)"
ARGS = ["classroom_mode.cli", "utils", "docs", "--name", "classroom-mode", "--title", TITLE]


def test_the_cli_reference_is_what_typer_generates_from_the_app(tmp_path: Path) -> None:
    fresh = tmp_path / "cli.md"
    subprocess.run([sys.executable, "-m", "typer", *ARGS, "--output", str(fresh)], check=True, capture_output=True)
    regenerate = f'.venv/bin/typer {" ".join(ARGS[:5])} --title "{TITLE}" --output docs/reference/cli.md'
    assert REFERENCE.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
        f"docs/reference/cli.md is out of date with the commands' options and help; regenerate it: {regenerate}"
    )
