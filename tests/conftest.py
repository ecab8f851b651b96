"""Shared fixtures: a CLI runner that goes through the real error mapping, and a scratch directory."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from classroom_mode.cli import app


class Cli:
    """Runs `classroom-mode ARGS...` in-process; returns the click Result (exit_code, stdout, stderr)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):
        return self.runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()
