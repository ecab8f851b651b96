"""Active hours: a room is watched on its days and times in its own time zone (daylight saving included), not on
its closed dates; outside them its cameras are released, the encoder is never called, and the room shows
`off-hours` in the store, the API and on MQTT without a mode change for the gap (an injected clock, the real
live loop, real SQLite, a real uvicorn server and a real mosquitto)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import httpx
import pytest

from classroom_mode.config import (
    ActiveHours,
    ActivePeriod,
    CameraConfig,
    Config,
    ConfigErrors,
    RoomConfig,
    Thresholds,
    parse_config,
)
from classroom_mode.service.api.app import create_app
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from live_helpers import BRIGHT, BRIGHTNESS_MODES, BrightnessAnalyzer, FakeClock, ScriptedFeed, ServerThread, wait_for
from outputs_helpers import Subscriber, broker

SCHOOL_DAYS = ActiveHours(
    timezone="Europe/Dublin",
    periods=[ActivePeriod(days=["mon", "tue", "wed", "thu", "fri"], start=time(9), end=time(16))],
    closed=[date(2026, 3, 17)],
)
FRIDAY_BEFORE_FOUR = datetime(2026, 3, 27, 15, 59, 0, tzinfo=UTC)  # Dublin is on GMT until 29 March
FRIDAY_AFTER_FOUR = datetime(2026, 3, 27, 16, 0, 1, tzinfo=UTC)
MONDAY_BEFORE_NINE = datetime(2026, 3, 30, 7, 59, 30, tzinfo=UTC)  # 08:59:30 Irish summer time
MONDAY_AFTER_NINE = datetime(2026, 3, 30, 8, 0, 30, tzinfo=UTC)  # 09:00:30 Irish summer time (07:59 GMT + 1 h)


def test_hours_are_read_in_the_rooms_zone_across_a_daylight_saving_change() -> None:
    assert SCHOOL_DAYS.active(FRIDAY_BEFORE_FOUR) and not SCHOOL_DAYS.active(FRIDAY_AFTER_FOUR)
    assert not SCHOOL_DAYS.active(datetime(2026, 3, 28, 12, tzinfo=UTC))  # a Saturday
    assert not SCHOOL_DAYS.active(datetime(2026, 3, 17, 12, tzinfo=UTC))  # a closed date
    assert not SCHOOL_DAYS.active(MONDAY_BEFORE_NINE) and SCHOOL_DAYS.active(MONDAY_AFTER_NINE)
    autumn = datetime(2026, 10, 26, 8, 30, tzinfo=UTC)  # a Monday back on GMT: 08:30 local, before nine
    assert not SCHOOL_DAYS.active(autumn)


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ("{timezone: Mars/Olympus, periods: [{days: [mon], start: '9:00', end: '16:00'}]}", "timezone: 'Mars/Olympus'"),
        ("{timezone: UTC, periods: [{days: [funday], start: '9:00', end: '16:00'}]}", "periods.0.days.0: Input should"),
        ("{timezone: UTC, periods: [{days: [mon], start: '16:00', end: '9:00'}]}", "periods.0: end 09:00 must be"),
        ("{timezone: UTC, periods: [{days: [mon], start: '25:00', end: '26:00'}]}", "periods.0.start: Input should"),
        ("{timezone: UTC, periods: []}", "periods: List should have at least 1 item"),
        ("{timezone: UTC, periods: [{days: [mon], start: 9:00, end: 16:00}], closed: [soon]}", "closed.0: Input"),
    ],
)
def test_an_impossible_schedule_names_its_field(hours: str, problem: str) -> None:
    with pytest.raises(ConfigErrors) as caught:
        parse_config(f"rooms: {{r1: {{active_hours: {hours}}}}}", "school.yaml")
    assert f"school.yaml: rooms.r1.active_hours.{problem}" in str(caught.value)


def test_times_read_as_written_quoted_or_not() -> None:
    periods = "[{days: [mon], start: 8:30, end: 16:00}, {days: [tue], start: '7:05', end: 9:00}]"
    hours = f"{{timezone: UTC, periods: {periods}}}"
    config = parse_config(f"rooms: {{r1: {{active_hours: {hours}}}}}")
    first, second = config.rooms["r1"].active_hours.periods
    assert (first.start, first.end, second.start, second.end) == (time(8, 30), time(16), time(7, 5), time(9))


def test_off_hours_release_the_camera_encode_nothing_and_change_no_mode(tmp_path) -> None:
    clock = FakeClock(FRIDAY_BEFORE_FOUR)
    opened: list[ScriptedFeed] = []

    def feeds(camera_id: str, _: CameraConfig) -> ScriptedFeed:
        opened.append(ScriptedFeed(camera_id, [BRIGHT] * 100_000, clock))
        return opened[-1]

    with broker(tmp_path) as running:
        config = Config(
            rooms={"r1": RoomConfig(cameras={"cam": CameraConfig(interval_s=0.02)}, active_hours=SCHOOL_DAYS)},
            modes=BRIGHTNESS_MODES,
            thresholds=Thresholds(smoothing_alpha=1.0, consecutive_windows=1),
            outputs={"home": {"kind": "mqtt", "host": "127.0.0.1", "port": running.port, "events": ["mode"]}},
        )
        encoder = BrightnessAnalyzer(energy=False)
        subscriber = Subscriber(running.port, ["classroom-mode/r1/mode"])
        with HistoryStore(tmp_path / "history.db") as store:
            loop = LiveLoop(config, store, encoder, feeds=feeds, clock=clock, tick_s=0.02)
            loop.start()
            try:
                assert wait_for(lambda: store.state("r1") is not None and store.state("r1").mode == "lab")
                changes = store.mode_changes("r1", since=datetime(2000, 1, 1, tzinfo=UTC))

                clock.now = FRIDAY_AFTER_FOUR
                assert wait_for(lambda: store.state("r1").watch == "off-hours"), "the room goes off-hours"
                assert wait_for(lambda: store.cameras()[0].watch == "off-hours"), "the camera is released"
                assert opened[-1].closed
                released_at, windows = encoder.calls, loop.cameras["cam"].windows
                for weekend_moment in (datetime(2026, 3, 28, 12, tzinfo=UTC), MONDAY_BEFORE_NINE):
                    clock.now = weekend_moment
                    windows = loop.cameras["cam"].windows
                    assert wait_for(lambda w=windows: loop.cameras["cam"].windows >= w + 5)
                    assert encoder.calls == released_at, "nothing is encoded off hours"
                assert len(opened) == 1 and store.state("r1").watch == "off-hours"

                with ServerThread(create_app(config, store, clock=clock)) as server:
                    room = httpx.get(f"{server.url}/api/rooms/r1", timeout=30).json()
                    (camera,) = httpx.get(f"{server.url}/api/cameras", timeout=30).json()
                assert room["watch"] == "off-hours" and room["mode"] == "lab"
                assert camera["watch"] == "off-hours" and camera["last_error"] is None
                assert wait_for(lambda: any(json.loads(m)["watch"] == "off-hours" for m in subscriber.on(
                    "classroom-mode/r1/mode")))  # fmt: skip

                clock.now = MONDAY_AFTER_NINE
                assert wait_for(lambda: encoder.calls > released_at), "watched again at nine, summer time"
                assert wait_for(lambda: store.state("r1").watch == "watching")
                assert len(opened) == 2 and store.cameras()[0].online
                assert store.mode_changes("r1", since=datetime(2000, 1, 1, tzinfo=UTC)) == changes
            finally:
                loop.stop()
                subscriber.close()
