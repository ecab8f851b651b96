"""Placeholder verbs: each says which capability it waits for and exits 1."""

from __future__ import annotations

import typer

from classroom_mode.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command("bot", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def bot() -> None:
        """Run the Discord bot."""
        not_available("bot", "the Discord bot (issue #11)")
