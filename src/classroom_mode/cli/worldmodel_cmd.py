"""Placeholder verbs: each says which capability it waits for and exits 1."""

from __future__ import annotations

import typer

from classroom_mode.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command("pretrain", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def pretrain() -> None:
        """Adapt the encoder to unlabeled footage with the V-JEPA objective."""
        not_available("pretrain", "JEPA pretraining (issue #8)")

    @app.command("surprise", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def surprise() -> None:
        """Score clips or a stream by the world model's prediction error."""
        not_available("surprise", "the surprise signal (issue #8)")
