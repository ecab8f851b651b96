"""The dashboard's views, images and probe page over HTTP, against a real uvicorn server and a real SQLite store."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from classroom_mode.config import parse_config
from classroom_mode.modes import MODE_PALETTE as PALETTE
from classroom_mode.modes import UNKNOWN_COLOR
from classroom_mode.modes import mode_spans as timeline
from classroom_mode.records import ModeChange
from classroom_mode.service.api.dashboard_views import mode_views, start_of_day
from classroom_mode.store import HistoryStore
from dashboard_helpers import (
    dashboard_app,
    fill_store,
    mode_state,
    serve,
    simulator_clips,
    trained_probe,
    two_room_config,
)


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    with HistoryStore(tmp_path / "history.db") as store:
        yield store


def _change(mode: str, at: datetime, previous: str | None) -> ModeChange:
    return ModeChange(room="r", mode=mode, previous=previous, at=at, confidence=0.9)


def test_timeline_starts_with_the_mode_the_room_entered_the_day_in() -> None:
    day = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    now = day + timedelta(hours=10)
    changes = [_change("group", day + timedelta(hours=8), "empty"), _change("solo", day + timedelta(hours=9), "group")]
    bands = timeline(changes, None, day, now)
    assert [(b.mode, b.start, b.end) for b in bands] == [
        ("empty", day, day + timedelta(hours=8)),
        ("group", day + timedelta(hours=8), day + timedelta(hours=9)),
        ("solo", day + timedelta(hours=9), now),
    ]
    # the first state ever (previous None) has nothing before it; with no change today the state fills the day
    assert [b.mode for b in timeline([_change("group", day + timedelta(hours=8), None)], None, day, now)] == ["group"]
    state = mode_state(two_room_config(), "room-101", "presentation", day - timedelta(days=1))
    (band,) = timeline([], state, day, now)
    assert (band.mode, band.start, band.end) == ("presentation", day, now)
    assert timeline([], None, day, now) == []


def test_start_of_day_is_local_midnight() -> None:
    now = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    start = start_of_day(now)
    assert (start.hour, start.minute) == (0, 0)
    assert timedelta(0) <= now - start < timedelta(days=1)


def test_mode_colours_come_from_config_else_a_palette_for_any_set_of_modes() -> None:
    config = parse_config(
        """
modes:
  lab: {display_name: Lab work, emoji: "🧪", ambience: lo-fi, color: "#123456"}
  exam: {display_name: Exam, emoji: "📝", ambience: silence}
  lecture: {display_name: Lecture, emoji: "🎓", ambience: silence}
"""
    )
    views = {v.name: v for v in mode_views(config)}
    assert list(views) == ["lab", "exam", "lecture", "uncertain"]
    assert views["lab"].color == "#123456"
    assert views["exam"].color == PALETTE[1] and views["lecture"].color == PALETTE[2]
    assert views["uncertain"].color == UNKNOWN_COLOR


def test_overview_is_one_snapshot_of_every_room(store: HistoryStore) -> None:
    config = two_room_config()
    fill_store(store, config)
    live = simulator_clips({"front": "group"})
    with serve(dashboard_app(config, store, live)) as url:
        overview = httpx.get(f"{url}/dashboard/api/overview").json()
    rooms = {room["room"]: room for room in overview["rooms"]}
    assert list(rooms) == ["room-101", "room-102"]
    busy, waiting = rooms["room-101"], rooms["room-102"]
    assert busy["state"]["mode"] == "group" and waiting["state"] is None and waiting["timeline"] == []
    assert busy["timeline"][-1]["mode"] == "group"
    cameras = {c["camera_id"]: c for c in busy["cameras"]}
    assert cameras["front"]["status"]["online"] and not cameras["corner"]["status"]["online"]
    assert len(cameras["front"]["surprise"]) == 40 and cameras["corner"]["surprise"] == []
    at = [r["at"] for r in cameras["front"]["surprise"]]
    assert at == sorted(at), "the sparkline reads oldest first"
    assert cameras["front"]["thumbnail"].startswith("/dashboard/cameras/front/thumbnail.jpg?v=")
    assert cameras["corner"]["thumbnail"] is None, "no clip held for corner: no image URL, so no broken image"
    assert [m["name"] for m in overview["modes"]] == [*config.modes, "uncertain"]


def test_pages_images_and_friendly_404s(store: HistoryStore) -> None:
    config = two_room_config()
    fill_store(store, config)
    live = simulator_clips({"front": "group"})
    with serve(dashboard_app(config, store, live)) as url, httpx.Client(base_url=url) as client:
        for path in ("/", "/cameras/front", "/probe"):
            page = client.get(path)
            assert page.status_code == 200 and "/dashboard/static/dashboard.js" in page.text
        missing = client.get("/cameras/no-such-camera")
        assert missing.status_code == 404 and 'data-page="missing"' in missing.text
        assert client.get("/dashboard/api/cameras/no-such-camera").status_code == 404
        for asset in ("dashboard.js", "dashboard.css"):
            assert client.get(f"/dashboard/static/{asset}").status_code == 200
        assert client.get("/dashboard/static/dashboard.html").status_code == 404
        assert client.get("/dashboard/static/..%2Fdashboard.py").status_code == 404

        detail = client.get("/dashboard/api/cameras/front").json()
        assert detail["room"] == "room-101" and detail["latest"]["label"] == "group"
        assert len(detail["surprise"]) == 40 and detail["surprise"][0]["baseline"] == 1.0
        strip = Image.open(io.BytesIO(client.get(detail["strip"]).content))
        frame_h, frame_w = live.clips["front"].frames.shape[1:3]
        assert strip.format == "JPEG" and strip.height == 144
        assert strip.width == 8 * round(frame_w * 144 / frame_h) + 7 * 4, "eight frames side by side"
        heat = Image.open(io.BytesIO(client.get(detail["attention"]).content))
        assert heat.format == "PNG" and min(heat.size) > 200
        thumb = Image.open(io.BytesIO(client.get("/dashboard/cameras/front/thumbnail.jpg").content))
        assert thumb.format == "JPEG"

        # corner has no clip held: its detail says so instead of pointing at images that would 404
        corner = client.get("/dashboard/api/cameras/corner").json()
        assert corner["strip"] is None and corner["attention"] is None and corner["surprise"] == []
        assert client.get("/dashboard/cameras/corner/strip.jpg").status_code == 404


def test_attention_heatmap_follows_the_probe(store: HistoryStore) -> None:
    """The hot spot of the attention map lands where the probe attended, not somewhere fixed."""
    config = two_room_config()
    live = simulator_clips({"front": "group"})
    weights = np.zeros((4, 4))
    weights[0, 3] = 1.0  # top-right patch
    live.attention["front"] = weights
    with serve(dashboard_app(config, store, live)) as url:
        png = httpx.get(f"{url}/dashboard/cameras/front/attention.png").content
    heat = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    h, w = heat.shape[:2]
    top_right, bottom_left = (
        heat[h // 8 : h // 3, 2 * w // 3 : 7 * w // 8],
        heat[2 * h // 3 : 7 * h // 8, w // 8 : w // 3],
    )
    assert top_right.mean() > bottom_left.mean() + 40


def test_probe_page_reads_the_sidecar_and_draws_its_plots(tmp_path: Path, store: HistoryStore) -> None:
    trained = trained_probe(tmp_path / "probes" / "room-101.safetensors")
    config = parse_config(
        f"""
rooms:
  room-101: {{probe: {trained}, cameras: {{front: {{}}}}}}
  room-102: {{probe: {trained}, cameras: {{door: {{}}}}}}
  room-103: {{probe: {tmp_path / "never-trained.safetensors"}, cameras: {{back: {{}}}}}}
  room-104: {{cameras: {{side: {{}}}}}}
"""
    )
    with serve(dashboard_app(config, store)) as url, httpx.Client(base_url=url) as client:
        summaries = client.get("/dashboard/api/probes").json()
        assert [s["rooms"] for s in summaries] == [["room-101", "room-102"], ["room-103"]]
        done, missing = summaries
        assert done["found"] and done["kind"] == "prototype" and done["backbone"] == "synthetic"
        assert done["random_weights"] and "3-fold" in done["scheme"]
        assert done["classes"] == ["empty", "group", "presentation", "solo"]
        assert 0.0 <= done["metrics"]["accuracy"] <= 1.0 and "macro_f1" in done["metrics"]
        assert not missing["found"] and missing["confusion"] is None
        confusion = Image.open(io.BytesIO(client.get(done["confusion"]).content))
        curve = Image.open(io.BytesIO(client.get(done["learning_curve"]).content))
        assert confusion.format == curve.format == "PNG" and min(*confusion.size, *curve.size) > 200
        assert client.get("/dashboard/probes/1/confusion.png").status_code == 404
        assert client.get("/dashboard/probes/7/confusion.png").status_code == 404


def test_a_broken_sidecar_is_named_not_a_crash(tmp_path: Path, store: HistoryStore) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    config = parse_config(f"rooms: {{r: {{probe: {tmp_path / 'bad.safetensors'}, cameras: {{c: {{}}}}}}}}")
    with serve(dashboard_app(config, store)) as url:
        (summary,) = httpx.get(f"{url}/dashboard/api/probes").json()
    assert summary["found"] and "bad.json: not a readable probe" in summary["problem"]
