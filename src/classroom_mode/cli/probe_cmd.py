"""Placeholder verbs: each says which capability it waits for and exits 1."""

from __future__ import annotations

import typer

from classroom_mode.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def train() -> None:
        """Train a mode probe on labelled clips."""
        not_available("train", "the mode classifier (issue #7)")

    @app.command("evaluate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def evaluate() -> None:
        """Cross-validate a probe on labelled clips."""
        not_available("evaluate", "the mode classifier (issue #7)")

    @app.command("classify", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def classify() -> None:
        """Classify clips with a trained probe."""
        not_available("classify", "the mode classifier (issue #7)")
