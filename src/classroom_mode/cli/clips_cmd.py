"""`classroom-mode clips sessions`: give clips recorded without a session one, by the time gaps between them.

Clips named by an older `record` (`CAMERA_TIME.mp4`) give their camera and time; clips that carry a session
already are left as they are. Each clip is renamed in its own folder, never over another file; nothing is deleted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classroom_mode.cli.groups import add_group
from classroom_mode.cli.options import JsonOption, parse_duration
from classroom_mode.cli.output import info, print_json, print_skipped
from classroom_mode.video.sessions import apply_plan, plan_sessions


def register(app: typer.Typer) -> None:
    add_group(app, "clips", "Tidy a folder of recorded clips.", {"sessions": sessions})


def sessions(
    data: Annotated[Path, typer.Argument(help="data folder (its mode folders and unlabeled/), or one folder of clips")],
    gap: Annotated[
        str, typer.Option("--gap", help="a pause longer than this between two clips of a camera starts a new session")
    ] = "10m",
    camera: Annotated[
        str | None,
        typer.Option("--camera", help="camera of clips whose names give none (their time: the file's modification)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the new names, rename nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Rename clips without a session to CAMERA__SESSION__NAME by time gaps (in place, never over a file)."""
    plan = plan_sessions(data, parse_duration(gap, "--gap"), camera)
    done = plan.renamings if dry_run else apply_plan(plan)
    if as_json:
        print_json(
            {
                "renamed": [] if dry_run else [{"from": str(r.old), "to": str(r.new)} for r in done],
                "planned": [{"from": str(r.old), "to": str(r.new)} for r in plan.renamings] if dry_run else [],
                "sessions": plan.sessions,
                "already_in_a_session": plan.already,
                "skipped": plan.skipped,
            }
        )
    else:
        for renaming in done:
            info(f"{renaming.old} -> {renaming.new.name}")
        verb = "would rename" if dry_run else "renamed"
        info(
            f"{verb} {len(done)} clip(s) into {len(plan.sessions)} session(s); {plan.already} already carried a session"
        )
    print_skipped(plan.skipped)
