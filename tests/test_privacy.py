"""`classroom-mode privacy`: what the config stores, where and for how long, computed from the config itself; and
the README's privacy section saying the same for the defaults."""

from __future__ import annotations

import json
from pathlib import Path

from classroom_mode.cli.privacy_cmd import statement
from classroom_mode.config import Config

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
