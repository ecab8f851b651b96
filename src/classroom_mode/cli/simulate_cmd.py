"""Placeholder verbs: each says which capability it waits for and exits 1."""

from __future__ import annotations

import typer

from classroom_mode.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command("simulate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def simulate() -> None:
        """Render labelled synthetic classroom footage with ground truth."""
        not_available("simulate", "the classroom simulator (issue #4)")
