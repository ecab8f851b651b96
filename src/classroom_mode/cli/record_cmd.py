"""Placeholder verbs: each says which capability it waits for and exits 1."""

from __future__ import annotations

import typer

from classroom_mode.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command("record", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def record() -> None:
        """Record labelled clips from a camera into DATA/<mode>/."""
        not_available("record", "video sources and recording (issue #5)")

    @app.command("auto-record", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def auto_record() -> None:
        """Record unlabeled clips every interval, with retention."""
        not_available("auto-record", "video sources and recording (issue #5)")

    @app.command("label", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def label() -> None:
        """Label unlabeled clips in a local web page."""
        not_available("label", "the labelling page (issue #5)")
