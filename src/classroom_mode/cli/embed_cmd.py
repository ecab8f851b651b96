"""Placeholder verbs: each says which capability it waits for and exits 1."""

from __future__ import annotations

import typer

from classroom_mode.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command("embed", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def embed() -> None:
        """Embed a folder of clips with the V-JEPA 2 backbone (cached)."""
        not_available("embed", "the V-JEPA 2 backbone (issue #6)")

    @app.command("models", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def models() -> None:
        """List or download backbone models."""
        not_available("models", "the V-JEPA 2 backbone (issue #6)")
