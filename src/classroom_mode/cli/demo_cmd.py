"""`classroom-mode demo`: the whole system, offline, on simulated footage (the README's main job).

It grows as the capabilities land; each step that is not built yet is listed as such.
"""

from __future__ import annotations

import typer

from classroom_mode.cli.common import console

_STEPS = [
    ("render a labelled simulator dataset", "the classroom simulator (issue #4)"),
    (
        "embed it with the project's own small V-JEPA model",
        "the backbone (issue #6) and its trained weights (issue #8)",
    ),
    ("train and cross-validate the mode probe", "the mode classifier (issue #7)"),
    ("run the live loop on a simulated camera against ground truth", "the live loop (issue #9)"),
    ("serve the dashboard", "the dashboard (issue #10)"),
]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        serve: bool = typer.Option(True, "--serve/--no-serve", help="serve the dashboard while the live part runs"),
    ) -> None:
        """Run the whole pipeline offline on simulated footage and report how well it agrees with ground truth."""
        console.print("[bold]classroom-mode demo[/]")
        for step, waits_for in _STEPS[: None if serve else -1]:
            console.print(f"  [yellow]not available yet[/]: {step} — waits for {waits_for}")
        console.print("Nothing else to run yet; `classroom-mode --help` lists the verbs.")
