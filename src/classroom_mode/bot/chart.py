"""`!mode-history`: a room's mode changes as a timeline, drawn as a PNG and written as text.

The store logs a change only when the mode differs, each with the mode it left, so the segments
of a window follow from its changes alone: the first change's `previous` covers the stretch
before it, the last change runs to the end of the window. Drawing uses matplotlib's object API
on the Agg canvas (no pyplot state), so a chart can be rendered in a worker thread.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from classroom_mode.bot.format import discord_time, human_duration, mode_colour
from classroom_mode.clock import as_utc
from classroom_mode.config import ModeConfig
from classroom_mode.modes import describe
from classroom_mode.records import ModeSpan

MAX_TEXT_SEGMENTS = 12
"""Lines per room in the text fallback; older segments are summarised in one line."""


def timeline_text(rooms: Mapping[str, Sequence[ModeSpan]], modes: Mapping[str, ModeConfig]) -> str:
    """The text fallback: one line per segment, times in the reader's own zone, newest segments kept."""
    blocks = []
    for room, parts in rooms.items():
        lines = [f"**{room}**"]
        if not parts:
            lines.append("no mode recorded in this window")
        hidden = parts[:-MAX_TEXT_SEGMENTS]
        if hidden:
            lines.append(f"… {len(hidden)} earlier changes over {human_duration(sum(s.seconds for s in hidden))}")
        for part in parts[-MAX_TEXT_SEGMENTS:]:
            mode = describe(part.mode, modes)
            lines.append(
                f"{discord_time(part.start)}–{discord_time(part.end)} {mode.emoji} {mode.display_name} · "
                f"{human_duration(part.seconds)}"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def timeline_png(
    rooms: Mapping[str, Sequence[ModeSpan]],
    modes: Mapping[str, ModeConfig],
    start: datetime,
    end: datetime,
    zone: tzinfo,
) -> bytes:
    """One horizontal lane per room, each mode in its colour, times on the x axis in `zone`."""
    # imported here: matplotlib costs ~0.5 s to import, and only this command needs it
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    names = list(rooms)
    figure = Figure(figsize=(8, 1.2 + 0.55 * len(names)), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    seen: dict[str, str] = {}
    for lane, room in enumerate(names):
        for part in rooms[room]:
            colour = f"#{mode_colour(part.mode, modes):06x}"
            left = mdates.date2num(part.start)
            axes.broken_barh([(left, mdates.date2num(part.end) - left)], (lane - 0.4, 0.8), facecolors=colour)
            seen.setdefault(part.mode, colour)
    axes.set_yticks(range(len(names)), names)
    axes.set_ylim(len(names) - 0.5, -0.5)
    axes.set_xlim(mdates.date2num(as_utc(start)), mdates.date2num(as_utc(end)))
    locator = mdates.AutoDateLocator(tz=zone, minticks=3)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone, show_offset=False))
    axes.grid(axis="x", alpha=0.3)
    zone_name = as_utc(end).astimezone(zone).strftime("%Z") or str(zone)
    axes.set_title(f"Room modes, {human_duration((end - start).total_seconds())} to now ({zone_name})", fontsize=10)
    handles = [Patch(facecolor=c, label=describe(m, modes).display_name) for m, c in seen.items()]
    if handles:
        figure.legend(handles=handles, loc="lower center", ncols=min(len(handles), 5), frameon=False, fontsize=9)
    figure.subplots_adjust(left=0.16, right=0.95, top=0.86, bottom=0.18 + 0.25 / max(1, len(names)))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
