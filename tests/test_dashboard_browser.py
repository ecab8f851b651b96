"""The dashboard in headless Chromium against a real uvicorn server and a real SQLite store.

Every test fails on a console error or an uncaught exception in the page. Chromium is Debian's
(`/usr/bin/chromium`, installed by CI); the tests skip, saying why, only where it is absent.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from browser_helpers import launch, needs_chromium
from classroom_mode.clock import utc_now
from classroom_mode.config import CameraConfig, Config, RoomConfig, Thresholds, parse_config
from classroom_mode.records import CameraStatus
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from dashboard_helpers import (
    StreamDropper,
    card_mode_latencies,
    dashboard_app,
    fill_store,
    filled_bands_today,
    mode_state,
    serve,
    simulator_clips,
    summarise,
    trained_probe,
    two_room_config,
)
from live_helpers import BRIGHT, BRIGHTNESS_MODES, DARK, BrightnessAnalyzer, ScriptedFeed, wait_for

pytestmark = [pytest.mark.browser, needs_chromium]

CARD = 'section[data-room="room-101"] .card'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


class Tab:
    """A page in a fresh context that records console errors and page exceptions; the test fails on any."""

    def __init__(self, browser: Browser, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def open(self, url: str) -> Page:
        self.page.goto(url)
        self.page.wait_for_selector("main[aria-busy=false]")
        return self.page


@pytest.fixture
def servers(store: HistoryStore) -> Iterator[contextlib.ExitStack]:
    """Servers a test starts with `servers.enter_context(serve(app))`; stopped after the test's pages close
    (a server going away under an open event stream is a network error the page would log) and before the
    store closes (the event stream reads it)."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def pages(browser: Browser, servers: contextlib.ExitStack) -> Iterator[Callable[..., Tab]]:
    opened: list[Tab] = []

    def new(**context: Any) -> Tab:
        opened.append(Tab(browser, **context))
        return opened[-1]

    yield new
    for page in opened:
        page.context.close()
    errors = [e for page in opened for e in page.errors]
    assert not errors, "the page logged errors:\n" + "\n".join(errors)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.db") as store:
        yield store


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_card_follows_a_mode_change_in_the_store_within_a_second(
    pages, servers: contextlib.ExitStack, store: HistoryStore
) -> None:
    config = two_room_config()
    bands = filled_bands_today(fill_store(store, config))
    url = servers.enter_context(serve(dashboard_app(config, store, simulator_clips({"front": "group"}))))
    page = pages(viewport={"width": 1280, "height": 900}).open(url)
    page.wait_for_selector('#live[data-state="live"]')
    card = page.locator(CARD)
    assert card.get_attribute("data-mode") == "group"
    assert "Group" in card.inner_text() and "café" in card.inner_text() and "86 %" in card.inner_text()
    assert page.locator('section[data-room="room-101"] .band').count() == bands
    assert page.locator('section[data-room="room-101"] img.thumb').evaluate("img => img.naturalWidth") > 0
    before = _pixels(card.screenshot())

    latencies = card_mode_latencies(
        page, store, config, "room-101", ["presentation", "solo", "empty", "group"] * 2 + ["presentation"]
    )
    after = _pixels(card.screenshot())
    assert "Presentation" in card.inner_text() and "full silence" in card.inner_text()
    assert before.shape[1] == after.shape[1], "the card keeps its width"
    rows = min(before.shape[0], after.shape[0])  # the badge row comes and goes with the offline camera
    changed = (np.abs(before[:rows] - after[:rows]).max(axis=2) > 40).mean()
    assert changed > 0.5, f"only {changed:.0%} of the card's pixels changed with the mode"

    stats = summarise(latencies)
    print(f"\nstore → card latency over {stats['n']} changes: median {stats['median_s'] * 1000:.0f} ms, "
          f"max {stats['max_s'] * 1000:.0f} ms")  # fmt: skip
    assert stats["median_s"] < 1.0
    # the timeline gained a band per change, without a reload
    assert page.locator('section[data-room="room-101"] .band').count() == bands + len(latencies)


def test_empty_states_no_rooms_and_a_room_without_readings(
    pages, servers: contextlib.ExitStack, store: HistoryStore, tmp_path: Path
) -> None:
    url = servers.enter_context(serve(dashboard_app(parse_config("rooms: {}"), store)))
    tab = pages()
    page = tab.open(url)
    assert "No rooms configured" in page.inner_text("main")
    assert tab.open(f"{url}/probe").inner_text("main").startswith("No probe configured")
    assert "No camera called “ghost”" in tab.open(f"{url}/cameras/ghost").inner_text("main")
    # an unknown camera's page is a real 404 (Chromium logs that for the document itself), drawn like the others
    assert tab.errors == ["console: Failed to load resource: the server responded with a status of 404 (Not Found)"]
    tab.errors.clear()

    config = two_room_config()
    url = servers.enter_context(serve(dashboard_app(config, HistoryStore(tmp_path / "empty.db"))))
    page = pages().open(url)
    for room in ("room-101", "room-102"):
        section = page.locator(f'section[data-room="{room}"]')
        assert "No readings yet" in section.inner_text()
        assert "No mode recorded today yet" in section.inner_text()
    assert page.locator(".thumb-empty").count() == 3, "a placeholder, not a broken image, per camera"
    camera = pages().open(f"{url}/cameras/front")
    assert "No reading from this camera yet" in camera.inner_text("main")


def test_reconnects_after_the_server_drops_the_event_stream(
    pages, servers: contextlib.ExitStack, store: HistoryStore
) -> None:
    config = two_room_config()
    fill_store(store, config)
    dropper = StreamDropper(dashboard_app(config, store))
    url = servers.enter_context(serve(dropper))
    page = pages().open(url)
    page.wait_for_selector('#live[data-state="live"]')
    assert dropper.drop_all() == 1
    page.wait_for_function("() => document.querySelector('#live').dataset.state !== 'live'", timeout=5000)
    page.wait_for_selector('#live[data-state="live"]', timeout=5000)
    assert dropper.opened == 2
    # the new stream delivers: a change written after the reconnect reaches the card
    store.set_state(mode_state(config, "room-101", "solo", utc_now()))
    page.wait_for_selector(f'{CARD}[data-mode="solo"]', timeout=3000)


def test_phone_screen(pages, servers: contextlib.ExitStack, store: HistoryStore, tmp_path: Path) -> None:
    config = two_room_config()
    fill_store(store, config)
    url = servers.enter_context(
        serve(dashboard_app(config, store, simulator_clips({"front": "group", "corner": "solo"})))
    )
    phone = pages(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = phone.open(url)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px on a phone"
    # measured in one step in the page: the card is re-rendered on each update, so a box read from one element can
    # find it already replaced
    width = page.locator(CARD).evaluate("card => card.getBoundingClientRect().width")
    assert width > 330, "the card takes the phone's width"
    # the card is re-rendered on each update, so read the size of whichever mode name is attached at the time
    big_name = "sel => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize) >= 36"
    page.wait_for_function(big_name, arg=f"{CARD} .mode-name", timeout=3000)  # the mode stays big on a phone

    # the longest default name, on a room whose cameras have gone quiet: it fits, and the card says it is stale
    stale = mode_state(config, "room-101", "presentation", utc_now()).model_copy(update={"stale": True})
    store.set_state(stale)
    page.wait_for_selector(f'{CARD}.card-stale[data-mode="presentation"]', timeout=3000)
    assert page.locator(CARD).evaluate("el => el.scrollWidth <= el.clientWidth")
    assert "No reading since" in page.locator(CARD).inner_text()  # says since when, in words
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)

    camera = phone.open(f"{url}/cameras/front")
    assert camera.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0


def test_camera_page_shows_clip_attention_and_surprise_history(
    pages, servers: contextlib.ExitStack, store: HistoryStore
) -> None:
    config = two_room_config()
    fill_store(store, config)
    url = servers.enter_context(serve(dashboard_app(config, store, simulator_clips({"front": "group"}))))
    page = pages().open(f"{url}/cameras/front")
    for selector in ("img.strip", "img.attention"):
        page.wait_for_function(f"() => document.querySelector('{selector}')?.naturalWidth > 0")
    assert page.locator("svg.history polyline").count() == 2, "energy and its baseline"
    assert page.locator("svg.history .dot").count() == 1, "the one unusual reading is marked"
    assert "Group" in page.inner_text("main") and "online" in page.inner_text("main")


def test_the_live_loop_feeds_the_page(pages, servers: contextlib.ExitStack, store: HistoryStore) -> None:
    """The real `LiveLoop` as the dashboard's `live`: its states reach the card and its last clip the images."""
    config = Config(
        rooms={"r1": RoomConfig(cameras={"cam": CameraConfig(interval_s=0.01, offline_after_s=30)})},
        modes=BRIGHTNESS_MODES,
        thresholds=Thresholds(estimator="ema", smoothing_alpha=1.0, consecutive_windows=2),
    )
    feed = ScriptedFeed("cam", [DARK] * 3 + [BRIGHT] * 3)
    loop = LiveLoop(config, store, BrightnessAnalyzer(energy=False), feeds=lambda camera_id, _: feed)
    url = servers.enter_context(serve(dashboard_app(config, store, loop)))
    page = pages().open(url)
    page.wait_for_selector('#live[data-state="live"]')
    assert "No readings yet" in page.inner_text('section[data-room="r1"]')

    loop.run(windows=6)
    page.wait_for_selector('section[data-room="r1"] .card[data-mode="lab"]', timeout=3000)
    assert [b.get_attribute("title").split()[0] for b in page.locator(".band").all()] == ["Exam", "Lab"]
    page.reload()  # the thumbnail URL is versioned by the camera's last frame; a reload fetches the newest
    page.wait_for_function("() => document.querySelector('img.thumb')?.naturalWidth > 0")
    brightness = page.locator("img.thumb").evaluate(
        """img => { const c = document.createElement("canvas"); c.width = c.height = 8;
                    const g = c.getContext("2d"); g.drawImage(img, 0, 0, 8, 8);
                    const d = g.getImageData(0, 0, 8, 8).data; let s = 0;
                    for (let i = 0; i < d.length; i += 4) s += d[i]; return s / (d.length / 4); }"""
    )
    assert brightness > 180, "the thumbnail is the loop's last (bright) clip"

    camera = pages().open(f"{url}/cameras/cam")
    camera.wait_for_function("() => document.querySelector('img.strip')?.naturalWidth > 0")
    assert "only the attentive probe has one" in camera.inner_text("main")


def test_probe_page_draws_the_sidecar(
    pages, servers: contextlib.ExitStack, store: HistoryStore, tmp_path: Path
) -> None:
    probe = trained_probe(tmp_path / "room.safetensors")
    config = parse_config(f"rooms: {{room-101: {{probe: {probe}, cameras: {{front: {{}}}}}}}}")
    url = servers.enter_context(serve(dashboard_app(config, store)))
    page = pages().open(f"{url}/probe")
    for plot in ("confusion matrix", "learning curve"):
        page.wait_for_function(f"() => document.querySelector('img[alt=\"{plot}\"]')?.naturalWidth > 0")
    text = page.inner_text("main")
    assert "prototype" in text and "stratified 3-fold cross-validation" in text and "accuracy" in text
    assert "random weights: not a trained model" in text
    assert "[object" not in text


QUIET_CONFIG = """
thresholds: {stale_after_s: 2}
rooms:
  room-101:
    cameras:
      front: {source: {kind: sim}, offline_after_s: 2}
"""
EMOJI = r"[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001ffff]"


def test_a_quiet_room_greys_out_by_the_clock_and_a_fresh_reading_brings_it_back(
    pages, servers: contextlib.ExitStack, store: HistoryStore
) -> None:
    config = parse_config(QUIET_CONFIG, "test-config")
    quiet_since = utc_now() - timedelta(seconds=3)  # stale_after_s + 1 ago, and nothing marked stale in the store
    store.set_state(mode_state(config, "room-101", "solo", quiet_since).model_copy(update={"updated_at": quiet_since}))
    store.set_camera_status(
        CameraStatus(camera_id="front", room="room-101", online=True, since=quiet_since, last_frame_at=quiet_since)
    )
    url = servers.enter_context(serve(dashboard_app(config, store)))
    page = pages(viewport={"width": 1280, "height": 900}).open(url)
    card = page.locator(CARD)
    assert card.get_attribute("data-stale") == "true"
    assert "No reading since" in card.inner_text() and "not necessarily now" in card.inner_text()
    assert "offline since" in page.locator('section[data-room="room-101"] .camera').inner_text()
    assert "measures nothing itself" in page.locator(".banner").inner_text()

    written = time.monotonic()
    now = utc_now()
    store.set_state(mode_state(config, "room-101", "solo", quiet_since))
    store.set_camera_status(CameraStatus(camera_id="front", room="room-101", online=True, since=now, last_frame_at=now))
    page.wait_for_selector(f'{CARD}[data-stale="false"]', timeout=3000)
    assert time.monotonic() - written < 1.5, "a fresh reading shows within about a second"
    assert "online" in page.locator('section[data-room="room-101"] .camera .status').inner_text()

    # nothing more is written: the page turns the card stale by itself once stale_after_s has passed
    page.wait_for_selector(f'{CARD}[data-stale="true"]', timeout=4000)
    assert time.monotonic() - written >= 1.9


def test_mode_icons_need_no_emoji_font(pages, servers: contextlib.ExitStack, store: HistoryStore) -> None:
    config = two_room_config()
    fill_store(store, config)
    url = servers.enter_context(serve(dashboard_app(config, store)))
    page = pages(viewport={"width": 1280, "height": 900}).open(url)
    icons = page.locator(f"{CARD} .emoji svg.icon")
    assert icons.count() == 1 and icons.get_attribute("data-icon") == "group"
    # the probabilities are drawn once their request answers: wait for them, a count does not
    page.wait_for_function("document.querySelectorAll('.prob-name svg.icon').length >= 4", timeout=5000)
    # today's timeline starts at midnight, so how many modes its legend names depends on the hour the test runs
    legend = page.locator(".timeline-wrap .legend > span")
    assert legend.count() >= 1 and page.locator(".timeline-wrap .legend svg.icon").count() == legend.count()
    icons.wait_for(state="visible")  # a bounding box waits for nothing: on a loaded machine the card may be redrawing
    box = icons.bounding_box()
    assert box is not None and box["width"] > 40, "the card's icon is drawn at the size of its text"
    text = page.evaluate("document.body.innerText")
    assert not re.search(EMOJI, text), f"the page shows emoji, which need a font: {re.findall(EMOJI, text)}"


def test_the_outputs_show_whether_the_room_is_heard(pages, servers: contextlib.ExitStack, store: HistoryStore) -> None:
    """A sink the live loop delivers to shows connected; one whose receiver is gone shows retrying and why."""
    from outputs_helpers import HttpReceiver, webhook_app

    receiver = HttpReceiver()
    hook_url = servers.enter_context(serve(webhook_app(receiver)))
    config = Config(
        rooms={"r1": RoomConfig(cameras={"cam": CameraConfig(interval_s=0.01, offline_after_s=30)})},
        outputs={
            "hook": {"kind": "webhook", "url": f"{hook_url}/hook", "events": ["mode"]},
            "gone": {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "events": ["mode"], "timeout_s": 0.5},
        },
    )
    feed = ScriptedFeed("cam", [BRIGHT] * 4)
    loop = LiveLoop(config, store, BrightnessAnalyzer("solo", "group", energy=False), feeds=lambda c, _: feed)
    url = servers.enter_context(serve(dashboard_app(config, store, loop)))
    loop.start(windows=4)
    try:
        assert wait_for(lambda: len(receiver.bodies) == 1 and loop.outputs.statuses()[1].state == "retrying")
        page = pages().open(url)
        hook, gone = page.locator('[data-sink="hook"]'), page.locator('[data-sink="gone"]')
        assert "connected" in hook.inner_text() and "last delivery" in hook.inner_text()
        assert "retrying since" in gone.inner_text() and "cannot reach it" in gone.inner_text()
    finally:
        loop.stop()
