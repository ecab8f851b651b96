"""The bot's pure formatting: bars, sparklines, durations, embeds and the mode timeline."""

from __future__ import annotations

import io
from datetime import timedelta, timezone

import pytest
from PIL import Image

from bot_helpers import NOW, at, config, state
from classroom_mode.bot.chart import timeline_png, timeline_text
from classroom_mode.bot.format import (
    BLOCKS,
    STALE_COLOUR,
    bar,
    cameras_embed,
    clip_lines,
    discord_time,
    human_duration,
    mode_colour,
    probability_table,
    room_embed,
    sparkline,
    surprise_embed,
)
from classroom_mode.modes import Freshness, mode_spans
from classroom_mode.records import CameraStatus, ModeChange, ModeSpan, SurpriseReading

MODES = config().modes


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0 s"),
        (40, "40 s"),
        (60, "1 min"),
        (12 * 60 + 59, "12 min"),
        (3900, "1 h 05 min"),
        (2 * 86400 + 3 * 3600, "2 d 3 h"),
    ],
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_bar_is_fixed_width_and_clipped():
    assert bar(0.0, 10) == "░" * 10
    assert bar(0.5, 10) == "█" * 5 + "░" * 5
    assert bar(1.7, 4) == "████"
    assert bar(-1, 4) == "░░░░"


def test_sparkline_scales_between_min_and_max():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BLOCKS
    assert sparkline([2.0, 2.0, 2.0]) == BLOCKS[0] * 3
    assert sparkline([]) == ""


def test_sparkline_reference_values_keep_a_calm_series_low():
    assert sparkline([0.1, 0.5, 0.3], include=(0.0, 6.0)) == BLOCKS[0] * 3
    assert sparkline([0.5, 7.5], include=(0.0, 6.0)) == BLOCKS[0] + BLOCKS[-1]


def test_sparkline_squeeze_keeps_a_single_spike():
    values = [0.0] * 200
    values[137] = 9.0
    line = sparkline(values, width=40)
    assert len(line) == 40
    assert line.count(BLOCKS[-1]) == 1


def test_clip_lines_cuts_at_a_line_break():
    text = "\n".join(f"{discord_time(NOW)} line {i}" for i in range(400))
    clipped = clip_lines(text, 4096)
    assert len(clipped) <= 4096 and clipped.endswith("\n…")
    assert all(line.startswith("<t:") and line.count(">") == 1 for line in clipped.splitlines()[:-1])
    assert clip_lines("short") == "short"


def test_discord_time_markup_is_unix_seconds():
    assert discord_time(NOW, "R") == f"<t:{int(NOW.timestamp())}:R>"
    assert discord_time(NOW.replace(tzinfo=None)) == discord_time(NOW)  # naive means UTC


def test_mode_colour_uses_config_colour_then_a_stable_palette():
    assert mode_colour("presentation", MODES) == 0x0EA5E9
    assert mode_colour("dance-off", MODES) == mode_colour("dance-off", MODES)


def test_probability_table_orders_by_probability_and_aligns():
    table = probability_table({"group": 0.1, "presentation": 0.87, "empty": 0.03}, MODES)
    lines = table.strip("`\n").splitlines()
    assert lines[0].startswith("Presentation") and lines[0].endswith("87%")
    assert [len(line) for line in lines] == [len(lines[0])] * 3  # columns line up


def test_room_embed_shows_mode_ambience_since_and_cameras():
    embed = room_embed(
        state("room-101", "presentation", since=at(20), updated=NOW), modes=MODES, now=NOW, stale=False, offline=[]
    )
    assert embed.title == "🎤 Presentation → full silence"
    fields = {f.name: f.value for f in embed.fields}
    assert "for 20 min" in fields["Since"]
    assert "Presentation" in fields["Probabilities"]
    assert "`front`" in fields["Cameras"]
    assert "Note" not in fields
    assert embed.colour.value == 0x0EA5E9


def test_room_embed_notes_stale_and_offline():
    embed = room_embed(
        state("lab", "group", since=at(120), updated=at(110)), modes=MODES, now=NOW, stale=True, offline=["corner"]
    )
    note = {f.name: f.value for f in embed.fields}["Note"]
    assert "Stale" in note and "Offline" in note and "`corner`" in note
    assert embed.colour.value == STALE_COLOUR


def test_surprise_embed_compares_with_baseline():
    reading = SurpriseReading(camera_id="front", at=NOW, energy=0.5, score=7.2, level="anomaly", baseline=0.4)
    embed = surprise_embed(reading, thresholds=config().thresholds.surprise)
    assert embed.title == "🔴 Anomaly"
    assert "+7.2" in embed.description and "anomaly ≥ 6" in embed.description
    assert "+25%" in embed.fields[0].value
    warming = reading.model_copy(update={"baseline": None, "level": "normal", "score": 0.0})
    assert "warming up" in surprise_embed(warming, thresholds=config().thresholds.surprise).fields[0].value


def test_cameras_embed_counts_online_and_explains_offline():
    statuses = [
        CameraStatus(camera_id="front", room="r", online=True, since=at(60), last_frame_at=NOW),
        CameraStatus(camera_id="corner", room="r", online=False, since=at(10), last_error="read timeout"),
        CameraStatus(camera_id="side", room="r", online=True, since=at(60), last_frame_at=at(30)),
    ]
    embed = cameras_embed([Freshness(config()).camera(s, NOW) for s in statuses])
    assert embed.title == "📷 Cameras · 1/3 online"
    assert "read timeout" in embed.description
    assert "offline since" in embed.description and "silent" in embed.description


def test_segments_from_changes_cover_the_window():
    start, end = at(120), NOW
    changes = [
        ModeChange(room="r", mode="group", previous="empty", at=at(90), confidence=0.9),
        ModeChange(room="r", mode="presentation", previous="group", at=at(20), confidence=0.9),
    ]
    parts = mode_spans(changes, None, start, end)
    assert [(p.mode, p.start, p.end) for p in parts] == [
        ("empty", start, at(90)),
        ("group", at(90), at(20)),
        ("presentation", at(20), end),
    ]
    now_state = state("r", "group", since=at(500), updated=NOW)
    assert mode_spans([], now_state, start, end) == [ModeSpan(mode="group", start=start, end=end)]
    first_ever = [ModeChange(room="r", mode="solo", previous=None, at=at(30), confidence=0.9)]
    assert mode_spans(first_ever, None, start, end) == [
        ModeSpan(mode="solo", start=at(30), end=end)
    ]  # unknown stretch left out


def test_timeline_text_and_png():
    rooms = {
        "room-101": [
            ModeSpan(mode="group", start=at(90), end=at(20)),
            ModeSpan(mode="presentation", start=at(20), end=NOW),
        ],
        "lab": [],
    }
    text = timeline_text(rooms, MODES)
    assert "☕ Group · 1 h 10 min" in text and "🎤 Presentation · 20 min" in text
    assert "no mode recorded" in text
    png = timeline_png(rooms, MODES, at(120), NOW, timezone(timedelta(hours=1)))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 500


def test_timeline_text_summarises_long_days():
    parts = [ModeSpan(mode="group" if i % 2 else "solo", start=at(100 - i), end=at(99 - i)) for i in range(30)]
    text = timeline_text({"r": parts}, MODES)
    assert "18 earlier changes over 18 min" in text
    assert text.count("\n") == 1 + 12


def test_a_mode_without_a_colour_is_drawn_the_same_in_discord_as_on_the_dashboard():
    from classroom_mode.config import Config
    from classroom_mode.service.api.dashboard_views import mode_views

    config = Config.model_validate(
        {"modes": {"lab": {"display_name": "Lab", "ambience": "lo-fi"}, "exam": {"display_name": "E", "ambience": "x"}}}
    )
    for view in mode_views(config):
        assert mode_colour(view.name, config.modes) == int(view.color.lstrip("#"), 16)
