"""Pure formatting: records in, Discord embeds and short strings out.

Nothing here talks to the network or reads a clock: `now` is passed in, so every embed can be
unit-tested byte for byte. Times a reader sees are Discord timestamp markup (`<t:…:t>`), which
each client renders in its own time zone; durations are computed against `now`. Bars and
sparklines sit in code blocks so they line up on a phone as well as on a desktop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise

import discord

from classroom_mode.clock import as_utc
from classroom_mode.config import ModeConfig, SurpriseThresholds
from classroom_mode.modes import describe, mode_color
from classroom_mode.records import CameraStatus, ModeState, Prediction, SurpriseReading

BLOCKS = "▁▂▃▄▅▆▇█"
FULL, EMPTY = "█", "░"
LEVEL_EMOJI = {"normal": "🟢", "unusual": "🟡", "anomaly": "🔴"}
"""Tableau 10: the colour of a mode, in embeds and in the timeline chart alike."""
STALE_COLOUR = 0x95A5A6
LEVEL_COLOUR = {"normal": 0x59A14F, "unusual": 0xEDC948, "anomaly": 0xE15759}
INFO_COLOUR = 0x4E79A7
WARNING = "⚠️"
MAX_EMBEDS = 10
"""Discord allows at most ten embeds in one message, ..."""
MAX_FIELDS = 25
"""... 25 fields in one embed ..."""
MAX_DESCRIPTION = 4096
"""... and 4096 characters in an embed's description."""


def discord_time(moment: datetime, style: str = "t") -> str:
    """Timestamp markup each Discord client shows in the reader's own zone (t: 14:05, R: 3 minutes ago)."""
    return f"<t:{int(as_utc(moment).timestamp())}:{style}>"


def human_duration(seconds: float) -> str:
    """A compact span for people: `40 s`, `12 min`, `1 h 05 min`, `2 d 3 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def clip_lines(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """`text` cut to at most `limit` characters at a line break (never inside a `<t:…>` tag), marked with `…`."""
    if len(text) <= limit:
        return text
    return text[: text.rfind("\n", 0, limit - 2)] + "\n…"


def bar(fraction: float, width: int = 10) -> str:
    """A fixed-width bar of full and empty blocks; `fraction` is clipped to [0, 1]."""
    filled = round(min(1.0, max(0.0, fraction)) * width)
    return FULL * filled + EMPTY * (width - filled)


def sparkline(values: Sequence[float], width: int = 30, *, include: Sequence[float] = ()) -> str:
    """One block character per value, scaled between the series' minimum and maximum.

    `include` widens the scale to cover fixed reference values (0 and the anomaly threshold for
    surprise scores), so a calm series stays low instead of being stretched to full height.
    Longer series are cut into `width` consecutive buckets and each bucket shows its maximum,
    so a single spike (the reading one wants to see) survives the squeeze.
    """
    if not values:
        return ""
    if len(values) > width:
        edges = [round(i * len(values) / width) for i in range(width + 1)]
        values = [max(values[a:b]) for a, b in pairwise(edges)]
    low, high = min(*values, *include), max(*values, *include)
    span = high - low
    if span <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, int((v - low) / span * len(BLOCKS)))] for v in values)


def mode_colour(mode: str, modes: Mapping[str, ModeConfig]) -> int:
    """The mode's colour as 0xRRGGBB for an embed: the one the dashboard shows (`modes.mode_color`)."""
    return int(mode_color(mode, modes).lstrip("#"), 16)


def mode_title(state: ModeState) -> str:
    """`🎤 Presentation → full silence`: what the room is doing and what it switches to."""
    return f"{state.emoji} {state.display_name} → {state.ambience}"


NOT_WATCHED = {
    "off-hours": ("🌙 Off hours", "outside the room's active hours: its cameras are released, nothing is recorded"),
    "paused": ("⏸️ Paused", "someone paused the room: its cameras are released until it is resumed"),
}
"""Title and note of a room that is not watched (`ModeState.watch`), instead of a mode nobody is looking at."""


def probability_table(probabilities: Mapping[str, float], modes: Mapping[str, ModeConfig], width: int = 10) -> str:
    """Per-mode bars, most likely first, in a code block so the columns line up on any screen."""
    rows = sorted(probabilities.items(), key=lambda kv: (-kv[1], kv[0]))
    labels = [describe(mode, modes).display_name[:14] for mode, _ in rows]
    pad = max((len(label) for label in labels), default=0)
    lines = [f"{label:<{pad}} {bar(p, width)} {p:>4.0%}" for label, (_, p) in zip(labels, rows, strict=True)]
    return "```\n" + "\n".join(lines) + "\n```" if lines else "—"


def room_embed(
    state: ModeState, *, modes: Mapping[str, ModeConfig], now: datetime, stale: bool, offline: Sequence[str]
) -> discord.Embed:
    """The answer to `!classroom-mode`: mode and ambience, confidence, since when, probabilities, cameras.

    `stale` and `offline` are the caller's judgement (the state's own flags plus the clock), so a
    loop that died silently still shows up as stale here.
    """
    idle = NOT_WATCHED.get(state.watch)
    colour = STALE_COLOUR if stale or idle else mode_colour(state.mode, modes)
    embed = discord.Embed(
        title=idle[0] if idle else mode_title(state),
        description=f"Room **{state.room}** · {state.confidence:.0%} confident",
        colour=colour,
        timestamp=as_utc(state.updated_at),
    )
    held = human_duration((as_utc(now) - as_utc(state.since)).total_seconds())
    embed.add_field(name="Since", value=f"{discord_time(state.since)} · for {held}", inline=False)
    embed.add_field(name="Probabilities", value=probability_table(state.probabilities, modes), inline=False)
    cameras = ", ".join(f"`{c}`" for c in state.cameras) or "none"
    embed.add_field(name="Cameras", value=cameras, inline=False)
    notes = []
    if idle:
        notes.append(f"**{idle[0]}**: {idle[1]}; the last mode was {mode_title(state)}.")
    elif stale:
        notes.append(f"{WARNING} **Stale**: no fresh reading since {discord_time(state.updated_at, 'R')}.")
    if offline:
        notes.append(f"{WARNING} **Offline**: {', '.join(f'`{c}`' for c in offline)}.")
    if notes:
        embed.add_field(name="Note", value="\n".join(notes), inline=False)
    embed.set_footer(text="updated")
    return embed


def prediction_embed(prediction: Prediction, *, modes: Mapping[str, ModeConfig]) -> discord.Embed:
    """The answer to `!classify`: one camera's latest raw probe result, before any smoothing."""
    mode = describe(prediction.label, modes)
    title = f"{mode.emoji} {mode.display_name}"
    if prediction.uncertain_reason:
        title += f" ({prediction.uncertain_reason})"
    embed = discord.Embed(
        title=title,
        description=f"Camera **{prediction.camera_id}** · {prediction.confidence:.0%} confident · "
        f"{discord_time(prediction.at, 'R')}",
        colour=mode_colour(prediction.label, modes),
        timestamp=as_utc(prediction.at),
    )
    embed.add_field(name="Probabilities", value=probability_table(prediction.probabilities, modes), inline=False)
    embed.set_footer(text="raw probe result, before smoothing")
    return embed


def surprise_embed(reading: SurpriseReading, *, thresholds: SurpriseThresholds) -> discord.Embed:
    """The answer to `!worldmodel`: how surprised the world model is, against this camera's own baseline.

    The bar spans 0 to 1.5 × the anomaly threshold with the thresholds written under it, so a
    reader sees how far the window is from "unusual" without knowing what a robust z-score is.
    """
    scale = thresholds.anomaly * 1.5
    lines = [
        f"score {bar(reading.score / scale, 15)} {reading.score:+.1f}",
        f"      unusual ≥ {thresholds.unusual:g} · anomaly ≥ {thresholds.anomaly:g}",
    ]
    if reading.baseline is not None and reading.baseline > 0:
        ratio = reading.energy / reading.baseline - 1
        energy = f"{reading.energy:.4g} vs baseline {reading.baseline:.4g} ({ratio:+.0%})"
    else:
        energy = f"{reading.energy:.4g} (baseline still warming up)"
    gauge = "\n".join(lines)
    embed = discord.Embed(
        title=f"{LEVEL_EMOJI[reading.level]} {reading.level.capitalize()}",
        description=f"Camera **{reading.camera_id}** · {discord_time(reading.at, 'R')}\n```\n{gauge}\n```",
        colour=LEVEL_COLOUR[reading.level],
        timestamp=as_utc(reading.at),
    )
    embed.add_field(name="Prediction error", value=energy, inline=False)
    embed.set_footer(text="world-model surprise: prediction error in representation space")
    return embed


def surprise_history_embed(
    by_camera: Mapping[str, Sequence[SurpriseReading]], *, thresholds: SurpriseThresholds
) -> discord.Embed:
    """The answer to `!surprise-history`: per camera, a sparkline of scores (oldest left) with average and peak.

    Every sparkline's scale runs at least from 0 to the anomaly threshold, so the lines of two
    cameras compare and a quiet camera looks quiet.
    """
    embed = discord.Embed(title="📈 Surprise history", colour=INFO_COLOUR)
    for camera, readings in list(by_camera.items())[:MAX_FIELDS]:
        ordered = sorted(readings, key=lambda r: as_utc(r.at))
        scores = [r.score for r in ordered]
        peak = max(ordered, key=lambda r: r.score)
        value = (
            f"```\n{sparkline(scores, include=(0.0, thresholds.anomaly))}\n```\n"
            f"avg {sum(scores) / len(scores):+.1f} · peak {peak.score:+.1f} {LEVEL_EMOJI[peak.level]} "
            f"{discord_time(peak.at)} · {len(scores)} readings since {discord_time(ordered[0].at)}"
        )
        embed.add_field(name=camera, value=value, inline=False)
    return embed


def cameras_embed(statuses: Sequence[CameraStatus]) -> discord.Embed:
    """The answer to `!cameras`: each camera, online or not, and when it last delivered a frame.

    The statuses are judged against the clock (`modes.Freshness`), so a camera silent for longer than its
    `offline_after_s` counts as offline even if no worker said so.
    """
    lines = []
    for status in sorted(statuses, key=lambda s: (s.room, s.camera_id)):
        last = discord_time(status.last_frame_at, "R") if status.last_frame_at else "never"
        if status.watch != "watching":  # released on purpose: not a fault
            lines.append(
                f"⏸️ `{status.camera_id}` · {status.room} · {status.watch} since {discord_time(status.since, 'R')}"
            )
            continue
        line = f"{'🟢' if status.online else '🔴'} `{status.camera_id}` · {status.room} · last frame {last}"
        if not status.online:
            line += f" · offline since {discord_time(status.since, 'R')}"
            if status.last_error:
                line += f"\n  ↳ {status.last_error[:200]}"
        lines.append(line)
    online_count = sum(1 for status in statuses if status.online)
    watched = sum(1 for status in statuses if status.watch == "watching")
    return discord.Embed(
        title=f"📷 Cameras · {online_count}/{watched} online",
        description=clip_lines("\n".join(lines)) or "No camera has reported yet.",
        colour=LEVEL_COLOUR["normal" if online_count == watched else "anomaly"],
    )


def mode_change_embed(
    state: ModeState, previous: str, *, modes: Mapping[str, ModeConfig], now: datetime
) -> discord.Embed:
    """A notification: the room settled into a new mode."""
    return discord.Embed(
        title=mode_title(state),
        description=f"Room **{state.room}** changed from {describe(previous, modes).display_name} "
        f"{discord_time(state.since, 'R')} · {state.confidence:.0%} confident",
        colour=mode_colour(state.mode, modes),
        timestamp=as_utc(now),
    )


def anomaly_embed(reading: SurpriseReading, room: str) -> discord.Embed:
    """A notification: the world model saw something it could not predict."""
    return discord.Embed(
        title=f"{LEVEL_EMOJI['anomaly']} Anomaly in {room}",
        description=f"Camera **{reading.camera_id}** · surprise score {reading.score:+.1f} "
        f"{discord_time(reading.at, 'R')}",
        colour=LEVEL_COLOUR["anomaly"],
        timestamp=as_utc(reading.at),
    )


def help_embed(prefix: str | None) -> discord.Embed:
    """`!help`: every command, as a prefix command when those are on and always as a slash command."""
    commands = [
        ("classroom-mode [room]", "the room's mode and ambience, confidence, since when; all rooms if none given"),
        ("classify [camera]", "the latest raw probe result of a camera (label, confidence, probabilities)"),
        ("worldmodel [camera]", "world-model surprise: level and score against the camera's baseline"),
        ("surprise-history [n]", "a sparkline of the last n surprise readings, with average and peak"),
        ("mode-history [hours]", "the mode timeline as a chart (default: since midnight)"),
        ("cameras", "every camera, online or offline, and its last frame"),
        ("help", "this list"),
    ]
    how = f"Type `{prefix}command` or `/command`." if prefix else "Type `/command` (prefix commands are off here)."
    embed = discord.Embed(title="classroom-mode", description=how, colour=INFO_COLOUR)
    for usage, what in commands:
        embed.add_field(name=f"{prefix or '/'}{usage}", value=what, inline=False)
    return embed
