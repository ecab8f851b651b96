"""`classroom-mode simulate`: labelled synthetic clips, mode-timeline streams, and contact sheets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypedDict

import typer

from classroom_mode.cli.options import JsonOption
from classroom_mode.cli.output import info, print_json, print_skipped, progress_bar
from classroom_mode.errors import UserError


class _Look(TypedDict):
    """How the clips are rendered, the same for the dataset and the contact sheet."""

    seconds: float
    fps: float
    size: tuple[int, int]
    seed: int
    modes: list[str] | None


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def simulate(  # noqa: PLR0913 -- a Typer command: one parameter per option
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="dataset folder, or the .mp4 file with --stream")
    ] = None,
    clips_per_mode: Annotated[int, typer.Option("--clips-per-mode", "-n", help="clips of each mode")] = 10,
    seconds: Annotated[float, typer.Option(help="length of each clip")] = 3.0,
    fps: Annotated[float, typer.Option(help="frames per second")] = 16.0,
    size: Annotated[str, typer.Option(help="frame size WIDTHxHEIGHT")] = "256x256",
    seed: Annotated[int, typer.Option(help="same seed, same footage")] = 0,
    modes: Annotated[str | None, typer.Option(help="comma-separated subset of empty,solo,group,presentation")] = None,
    workers: Annotated[int | None, typer.Option(help="parallel processes (default: all cores)")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="render one long video following --timeline")] = False,
    timeline: Annotated[
        str, typer.Option(help="with --stream: mode:seconds,... e.g. presentation:120,group:300,solo:60")
    ] = "presentation:60,group:60,solo:30,empty:20",
    events: Annotated[str, typer.Option(help="with --stream: unusual events to inject: fall,run,chair,lights")] = "",
    contact_sheet: Annotated[
        Path | None,
        typer.Option("--contact-sheet", help="also save a PNG grid of the first clips of each mode (needs no --out)"),
    ] = None,
    sheet_clips: Annotated[int, typer.Option(help="clips per mode on the contact sheet")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Render labelled synthetic classroom footage with ground truth.

    Clips: [bold]simulate --out DIR -n 40[/] writes DIR/<mode>/<mode>-NNNN.mp4 and DIR/manifest.json.
    Streams: [bold]simulate --stream --timeline presentation:120,group:300 --events fall,lights --out FILE.mp4[/]
    writes the video and FILE.json (timeline and event spans).
    Look: [bold]simulate --contact-sheet sheet.png[/] saves a grid of clips per mode.
    """
    from classroom_mode import sim

    frame_size = sim.parse_size(size)
    mode_list = [m.strip() for m in modes.split(",") if m.strip()] if modes is not None else None
    sim.check_modes(mode_list if mode_list is not None else list(sim.MODES))
    sim.check_render_args(seconds if not stream else 1.0, fps, frame_size)
    if stream:
        _stream(out, timeline, sim.parse_events(events), fps, frame_size, seed, as_json)
        return
    _check_clip_options(out, contact_sheet, clips_per_mode, sheet_clips)
    look = _Look(seconds=seconds, fps=fps, size=frame_size, seed=seed, modes=mode_list)
    result: dict[str, str] = {}
    if out is not None:
        result["manifest"] = str(_dataset(out, clips_per_mode, workers, look))
    if contact_sheet is not None:
        info(f"rendering a contact sheet of {sheet_clips} clips per mode")
        sheet = sim.contact_sheet(contact_sheet, clips_per_mode=sheet_clips, **look)
        result["contact_sheet"] = str(sheet)
        info(f"contact sheet: {sheet}")
    if as_json:
        print_json(result)


def _check_clip_options(out: Path | None, contact_sheet: Path | None, clips_per_mode: int, sheet_clips: int) -> None:
    """Every mistake in the options said before anything is rendered, rather than after the dataset is."""
    if out is None and contact_sheet is None:
        raise UserError("--out: required (a dataset folder), unless only --contact-sheet is asked for")
    if clips_per_mode < 1:
        raise UserError(f"--clips-per-mode {clips_per_mode}: must be at least 1")
    if sheet_clips < 1:
        raise UserError(f"--sheet-clips {sheet_clips}: must be at least 1")
    if out is not None and out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory")


def _dataset(out: Path, clips_per_mode: int, workers: int | None, look: _Look) -> Path:
    """The labelled dataset under a progress bar, then its count and what it skipped; the manifest's path."""
    from classroom_mode import sim

    with progress_bar("rendering clips", None) as (bar, task):
        manifest_path = sim.generate_dataset(
            out,
            clips_per_mode,
            workers=workers,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **look,
        )
    manifest = sim.load_manifest(manifest_path)
    print_skipped(manifest.skipped)
    info(f"{len(manifest.clips)} clips in {out} (manifest: {manifest_path})")
    return manifest_path


def _stream(  # noqa: PLR0913 -- the stream's options as `simulate` parsed them
    out: Path | None, timeline: str, events: list[str], fps: float, size: tuple[int, int], seed: int, as_json: bool
) -> None:
    from classroom_mode.sim.stream import Stream, check_stream_path, sidecar_path, write_stream

    if out is None:
        raise UserError("--out: required with --stream (the .mp4 to write)")
    check_stream_path(out)
    stream = Stream(timeline, fps=fps, size=size, seed=seed, events=events)  # validates before the bar appears
    with progress_bar("rendering stream", stream.num_frames) as (bar, task):
        video = write_stream(stream, out, lambda done, total: bar.update(task, completed=done))
    info(f"stream: {video} (ground truth: {sidecar_path(video)})")
    if as_json:
        print_json({"video": str(video), "sidecar": str(sidecar_path(video))})
