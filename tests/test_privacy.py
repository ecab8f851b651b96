"""Privacy by default: `classroom-mode privacy` says what the config stores, where and for how long, computed from
the config itself, and the README's privacy section says the same for the defaults; a camera whose snapshot is
off keeps no frame and the dashboard shows none (real file camera, real live loop, real uvicorn)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np

from classroom_mode.cli.privacy_cmd import statement
from classroom_mode.config import Config, parse_config
from classroom_mode.service.api.app import create_app
from classroom_mode.service.api.dashboard import mount_dashboard
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from classroom_mode.video.writer import write_mp4
from live_helpers import BrightnessAnalyzer, ServerThread

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_statement_follows_the_config(cli, tmp_path: Path) -> None:
    config = tmp_path / "school.yaml"
    config.write_text(
        f"""
rooms:
  room-7:
    active_hours:
      timezone: Europe/Dublin
      periods: [{{days: [mon], start: "09:00", end: "15:00"}}]
      closed: [2026-12-25]
    cameras:
      front:
        source: {{kind: sim}}
        privacy_masks: [[[0, 0], [0.3, 0], [0.3, 0.3]]]
        snapshot: false
paths: {{database: {tmp_path / "school.db"}, data: {tmp_path / "clips"}}}
retention: {{history_days: 30, unlabeled_days: 7}}
outputs:
  ha: {{kind: mqtt, host: 127.0.0.1, events: [mode, camera]}}
"""
    )
    result = cli("privacy", "--json", "-c", config)
    assert result.exit_code == 0, result.output
    said = json.loads(result.stdout)
    frames = "\n".join(said["frames"])
    assert "room room-7: watched only in its active hours (Europe/Dublin; 1 closed date(s))" in frames
    assert "camera front (room room-7): 1 privacy-mask polygon(s)" in frames
    assert "no frame is kept after its window is analysed (snapshot: false)" in frames
    stored = {item["where"]: item["kept"] for item in said["stored"]}
    assert stored[str(tmp_path / "school.db")].startswith("readings, surprise and events for 30 days")
    assert stored[f"{tmp_path / 'clips'}/unlabeled/"] == "at most 7 days"
    assert "output ha (mqtt): mode, camera events, never frames" in said["shared"]
    assert "audio" in said["never"]

    plain = cli("privacy", "-c", config)
    assert plain.exit_code == 0 and "Never stored" in plain.stdout and str(tmp_path / "school.db") in plain.stdout


def test_without_a_retention_auto_record_is_said_to_record_nothing() -> None:
    unlabeled = next(item for item in statement(Config()).stored if item.where.endswith("unlabeled/"))
    assert unlabeled.kept.startswith("never recorded: no retention is set")


def test_the_readme_says_what_the_default_config_stores() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Privacy") : text.index("\n## ", text.index("## Privacy") + 1)]
    assert "`classroom-mode privacy`" in section
    defaults = statement(Config())
    for item in defaults.stored:
        if "temporary" not in item.where and "probes" not in item.where:  # an upload's folder; probes: their paths
            assert item.where in section, item.where
    for fact in ("refuses to record", "snapshot: false", "privacy_masks", "active_hours", "paused", "90 days"):
        assert fact in section, fact


def test_a_camera_with_snapshot_off_keeps_no_frame_and_the_dashboard_shows_none(tmp_path: Path) -> None:
    video = write_mp4(tmp_path / "grey.mp4", np.full((10, 32, 32, 3), 128, np.uint8), 10.0)
    camera = f"{{source: {{kind: file, path: {video}}}, clip: {{frames: 2, seconds: 0.3}}, snapshot: false}}"
    config = parse_config(f"rooms: {{lab: {{cameras: {{cam: {camera}}}}}}}")
    encoder = BrightnessAnalyzer(energy=False)
    with HistoryStore(tmp_path / "history.db") as store:
        loop = LiveLoop(config, store, encoder)
        loop.run(windows=1)
        assert encoder.calls == 1 and loop.last_clip("cam") is None  # analysed, then not kept
        app = create_app(config, store)
        mount_dashboard(app, live=loop)
        with ServerThread(app) as server:
            thumbnail = httpx.get(f"{server.url}/dashboard/cameras/cam/thumbnail.jpg", timeout=30)
            (card,) = httpx.get(f"{server.url}/dashboard/api/overview", timeout=30).json()["rooms"][0]["cameras"]
            detail = httpx.get(f"{server.url}/dashboard/api/cameras/cam", timeout=30).json()
    assert thumbnail.status_code == 404 and "switched off" in thumbnail.json()["detail"]
    assert card["snapshot"] is False and card["thumbnail"] is None
    assert detail["snapshot"] is False and detail["strip"] is None
