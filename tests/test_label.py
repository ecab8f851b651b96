"""The labelling page on a real uvicorn server: its JSON API, and keyboard-only use in headless Chromium."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from browser_helpers import launch, needs_chromium
from classroom_mode.service.api.labelling import create_label_app
from classroom_mode.service.api.ports import free_port
from video_helpers import cfr_times, write_indexed

MODES = ["empty", "solo", "group", "presentation"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "unlabeled").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        write_indexed(data / "unlabeled" / name, cfr_times(10, 10))
    (data / "solo").mkdir()
    write_indexed(data / "solo" / "a.mp4", cfr_times(10, 10))  # same name as an unlabeled clip: never overwritten
    return data


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` on a real uvicorn on 127.0.0.1; yields its base URL."""
    port = free_port("127.0.0.1")
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uv.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(data: Path) -> Iterator[str]:
    with serving(create_label_app(data, MODES)) as url:
        yield url


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_api_labels_skips_trashes_and_undoes_with_file_moves(server: str, data: Path) -> None:
    with httpx.Client(base_url=f"{server}/label") as client:
        state = client.get("/api/state").json()
        assert state["clip"] == "a.mp4" and state["remaining"] == 3 and state["counts"]["solo"] == 1
        assert [m["key"] for m in state["modes"]] == ["1", "2", "3", "4"]
        assert client.get("/clip/a.mp4").content == (data / "unlabeled" / "a.mp4").read_bytes()

        state = client.post("/api/label", json={"clip": "a.mp4", "mode": "solo"}).json()
        assert _names(data / "solo") == ["a-1.mp4", "a.mp4"] and state["counts"]["solo"] == 2
        assert state["clip"] == "b.mp4"
        # acting on a clip that is not the current one (a double press, a stale tab) is refused
        assert client.post("/api/label", json={"clip": "a.mp4", "mode": "group"}).status_code == 409
        state = client.post("/api/skip", json={"clip": "b.mp4"}).json()
        assert state["clip"] == "c.mp4"
        state = client.post("/api/trash", json={"clip": "c.mp4"}).json()
        assert _names(data / ".trash") == ["c.mp4"] and state["clip"] == "b.mp4"

        for _ in range(3):  # undo trash, skip, label: back to the start, files included
            state = client.post("/api/undo").json()
        assert state["clip"] == "a.mp4" and state["remaining"] == 3 and not state["can_undo"]
        assert _names(data / "unlabeled") == ["a.mp4", "b.mp4", "c.mp4"] and _names(data / "solo") == ["a.mp4"]
        assert _names(data / ".trash") == []

        assert client.post("/api/label", json={"clip": "a.mp4", "mode": "dancing"}).status_code == 422
        assert client.get("/clip/..%2Fsolo%2Fa.mp4").status_code == 404
        cross = client.post("/api/trash", json={"clip": "a.mp4"}, headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and (data / "unlabeled" / "a.mp4").exists()
        # DNS rebinding: a page at evil.example resolving to 127.0.0.1 is same-origin with itself, not with us
        port = server.rsplit(":", 1)[1]
        for host in (f"evil.example:{port}", "evil.example", f"192.168.1.9:{port}"):
            rebound = client.post(
                "/api/trash", json={"clip": "a.mp4"}, headers={"Host": host, "Origin": f"http://{host}"}
            )
            assert rebound.status_code == 400 and (data / "unlabeled" / "a.mp4").exists(), host
            assert client.get("/api/state", headers={"Host": host}).status_code == 400
        assert client.get("/api/state", headers={"Host": f"localhost:{port}"}).status_code == 200


@pytest.mark.browser
@needs_chromium
def test_keyboard_only_labelling_in_headless_chromium(server: str, data: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.goto(f"{server}/label/")
            expect(page.locator("#progress")).to_have_text("3 clip(s) left")
            expect(page.locator("#name")).to_have_text("a.mp4")
            # the clip actually plays (H.264 MP4 decodes in Chromium), looping
            page.wait_for_function("() => document.getElementById('video').readyState >= 2", timeout=10_000)
            assert page.evaluate("() => [video.videoWidth, video.videoHeight, video.loop]") == [128, 64, True]

            page.keyboard.press("3")  # third mode: group
            expect(page.locator("#name")).to_have_text("b.mp4")
            expect(page.locator("#counts tr[data-mode=group] td").nth(1)).to_have_text("1")
            page.keyboard.press("s")
            expect(page.locator("#name")).to_have_text("c.mp4")
            page.keyboard.press("Delete")
            expect(page.locator("#name")).to_have_text("b.mp4")
            page.keyboard.press("u")
            expect(page.locator("#name")).to_have_text("c.mp4")
            page.keyboard.press("2")
            expect(page.locator("#name")).to_have_text("b.mp4")
            page.keyboard.press("1")
            expect(page.locator("#done")).to_be_visible()
            expect(page.locator("#progress")).to_have_text("nothing left to label")

            # the buttons are reachable with Tab alone: tab to Undo (the only enabled button now), press Enter
            for _ in range(10):
                page.keyboard.press("Tab")
                if page.evaluate("() => document.activeElement.id") == "undo":
                    break
            page.keyboard.press("Enter")
            expect(page.locator("#name")).to_have_text("b.mp4")
        finally:
            browser.close()
    assert _names(data / "group") == ["a.mp4"] and _names(data / "solo") == ["a.mp4", "c.mp4"]
    assert _names(data / "unlabeled") == ["b.mp4"] and _names(data / ".trash") == []


@pytest.mark.browser
@needs_chromium
def test_enter_accepts_a_suggested_mode_and_does_nothing_without_one(data: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from classroom_mode.service.api.labelling import Suggestion

    def suggest(clip: str) -> Suggestion | None:
        return Suggestion(mode="group", phase="activity") if clip == "a.mp4" else None

    with serving(create_label_app(data, MODES, suggest=suggest)) as url, sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.goto(f"{url}/label/")
            expect(page.locator("#suggestion-text")).to_have_text(
                "Suggested: group (recorded during the activity phase)"
            )
            expect(page.locator("#modes button.suggested")).to_have_attribute("data-mode", "group")
            page.keyboard.press("Enter")
            expect(page.locator("#name")).to_have_text("b.mp4")
            expect(page.locator("#suggestion")).to_be_hidden()
            page.keyboard.press("Enter")  # nothing suggested: nothing happens
            page.keyboard.press("s")
            expect(page.locator("#name")).to_have_text("c.mp4")
        finally:
            browser.close()
    assert _names(data / "group") == ["a.mp4"] and _names(data / "unlabeled") == ["b.mp4", "c.mp4"]


def test_label_command_refuses_a_missing_folder(cli, tmp_path: Path) -> None:
    result = cli("label", tmp_path / "nope")
    assert result.exit_code == 2 and "data folder not found" in result.stderr


LESSON = """
rooms:
  lab:
    cameras:
      cam: {source: {kind: sim}}
    phase_labels: {lecture: presentation, activity: group}
"""


def _recorded(data: Path, clock: str) -> str:
    name = f"cam__s1__20261207T{clock}.000Z.mp4"
    write_indexed(data / "unlabeled" / name, cfr_times(10, 10))
    return name


def test_clips_recorded_during_a_mapped_phase_are_suggested_never_filed(data: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from classroom_mode.config import parse_config
    from classroom_mode.records import PhaseChange
    from classroom_mode.service.api.labelling import LabelSession, PhaseSuggestions, Suggestion
    from classroom_mode.store import HistoryStore

    early, lecture, pause = _recorded(data, "085900"), _recorded(data, "101500"), _recorded(data, "110500")
    with HistoryStore(tmp_path / "history.db") as store:
        for phase, hour in (("lecture", 9), ("break", 11)):
            store.add_phase(PhaseChange(room="lab", phase=phase, at=datetime(2026, 12, 7, hour, tzinfo=UTC)))
        suggest = PhaseSuggestions(parse_config(LESSON), store)
        assert suggest(early) is None  # before the first phase the server announced
        assert suggest(lecture) == Suggestion(mode="presentation", phase="lecture")
        assert suggest(pause) is None  # a phase the room does not map
        assert suggest("a.mp4") is None and suggest("other-cam__s1__20261207T101500.000Z.mp4") is None

        session = LabelSession(data, MODES, suggest)
        while session.state().clip != lecture:
            session.skip(session.state().clip or "")
        state = session.state()
        assert state.suggestion is not None and state.suggestion.mode == "presentation"
        assert (data / "unlabeled" / lecture).is_file() and not (data / "presentation").exists()  # only suggested
        session.label(lecture, state.suggestion.mode)
        assert _names(data / "presentation") == [lecture]


def test_a_phase_label_naming_no_mode_is_refused_with_its_field() -> None:
    from classroom_mode.config import parse_config
    from classroom_mode.errors import UserError

    with pytest.raises(UserError, match=r"rooms\.lab\.phase_labels\.activity: 'groups' is not a mode"):
        parse_config(LESSON.replace("group}", "groups}"))
