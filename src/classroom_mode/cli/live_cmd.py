"""Placeholder verbs: each says which capability it waits for and exits 1."""

from __future__ import annotations

import typer

from classroom_mode.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def run() -> None:
        """Run the live loop: cameras → room mode → history."""
        not_available("run", "the live loop (issue #9)")

    @app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def serve() -> None:
        """Serve the HTTP API and dashboard."""
        not_available("serve", "the HTTP API (issue #9)")
