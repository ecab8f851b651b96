"""The class's room server as a bus, on real parts: a double of the server on uvicorn (`room_server_double`, its
facts in `fixtures/room_server.json`), the real live loop and store, real clips written as MP4."""

from __future__ import annotations

import contextlib
import logging
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from classroom_mode.clock import utc_now
from classroom_mode.config import Config, ConfigErrors, parse_config
from classroom_mode.outputs import Outputs
from classroom_mode.outputs.bus_presence import Presence
from classroom_mode.records import CameraStatus, Clip, SurpriseReading
from classroom_mode.service.api.dashboard_views import overview
from classroom_mode.service.api.ports import free_port
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from classroom_mode.video.decode import probe_video
from live_helpers import BRIGHT, BrightnessAnalyzer, ScriptedFeed, ServerThread, ZScoreCalibrator, flat_clip, wait_for
from outputs_helpers import mode_state, reading
from room_server_double import FIXTURE, RoomServer, room_server_app

EVENTS = FIXTURE["events"]


def bus_config(url: str, tmp_path: Path, clip_s: float = 0.3, **bus: object) -> Config:
    return Config.model_validate(
        {
            "rooms": {"lab": {"cameras": {"cam": {"interval_s": 0.05, "clip": {"seconds": clip_s, "frames": 4}}}}},
            "paths": {"data": str(tmp_path / "data")},
            "outputs": {"bus": {"kind": "bus", "url": url, "max_backoff_s": 0.2, **bus}},
        }
    )


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "history.db") as history:
        yield history


@contextlib.contextmanager
def room_server(server: RoomServer, port: int = 0) -> Iterator[str]:
    with ServerThread(room_server_app(server), port=port) as running:
        try:
            yield running.url
        finally:
            server.drop_streams()  # held-open streams would hold the shutdown


@contextlib.contextmanager
def live_loop(config: Config, store: HistoryStore) -> Iterator[LiveLoop]:
    """The real loop on a camera that keeps delivering bright clips (the `group` mode), its outputs with it."""
    loop = LiveLoop(
        config,
        store,
        BrightnessAnalyzer(bright="group", dark="empty"),
        feeds=lambda camera_id, _: ScriptedFeed(camera_id, [BRIGHT] * 100_000),
        calibrator=ZScoreCalibrator(),
    )
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


def clips(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp4")) if folder.is_dir() else []


# -- pushing the camera's whole state -------------------------------------------------------------------


def test_the_whole_camera_state_is_pushed_and_a_camera_offline_or_stopped_is_running_false(store, tmp_path):
    server = RoomServer()
    with room_server(server) as url:
        outputs = Outputs(bus_config(url, tmp_path), store)
        outputs.start()
        try:
            store.add_prediction(reading("cam", "group", 1.0))
            store.add_prediction(reading("cam", "uncertain", 0.3))
            surprise = dict(camera_id="cam", at=utc_now(), energy=2.5, score=7.1)
            store.add_surprise(SurpriseReading(**surprise, level="anomaly"))
            store.set_camera_status(CameraStatus(camera_id="cam", room="lab", online=False, since=utc_now()))
            store.set_camera_status(CameraStatus(camera_id="cam", room="lab", online=True, since=utc_now()))
            assert wait_for(lambda: len(server.pushes) == 5), server.refused
            # pushed alone, this product's `group` is the server's `empty`: its mode counts people
            only_classes = server.mode()
            httpx.post(f"{url}/push/state", json={"camera_id": "cam", "person_count": 3, "person_detected": True})
            paired = server.mode()
        finally:
            outputs.stop()
    host = socket.gethostname()
    group, uncertain, anomaly, offline, online, farewell = server.pushes[0:5] + server.pushes[6:7]
    assert group == {
        "camera_id": "cam",
        "running": True,
        "detector_host": host,
        "predicted_class": "group",
        "prediction_confidence": 1.0,
        "class_probs": {"group": 1.0},
    }
    assert uncertain == {"camera_id": "cam", "running": True, "detector_host": host}  # the class stays `group`
    assert anomaly["anomaly_level"] == "anomaly" and anomaly["anomaly_score"] == 7.1
    assert offline["running"] is False and online["running"] is True
    assert farewell == {"camera_id": "cam", "running": False}  # the loop stopped
    assert (only_classes, paired) == ("empty", "group")
    assert server.cameras["cam"]["predicted_class"] == "group" and server.mode() == "unknown"
    assert server.refused == [] and server.heartbeats == []  # no project_id: no heartbeat


def test_a_key_is_sent_when_named_and_never_shown_when_refused(store, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BUS_KEY", "wrong-secret-value")
    server = RoomServer(api_key="right")
    with room_server(server) as url:
        outputs = Outputs(bus_config(url, tmp_path, api_key_env="BUS_KEY"), store)
        outputs.start()
        try:
            store.add_prediction(reading("cam", "solo"))
            assert wait_for(lambda: outputs.statuses()[0].state == "retrying"), "the sink to retry"
            status = outputs.statuses()[0]
        finally:
            outputs.stop()
    assert "401" in status.last_error and "refused" in status.last_error and status.pending == 1
    assert "wrong-secret-value" not in status.model_dump_json() + caplog.text
    refusals = [r.name for r in caplog.records if "refused" in r.getMessage()]
    assert refusals.count("classroom_mode.outputs.delivery") == 1  # logged once, not per retry
    assert refusals.count("classroom_mode.outputs.bus_presence") == 1  # the camera's `running: false` at the stop


# -- joining the room as a project ----------------------------------------------------------------------


def test_a_heartbeat_the_room_mode_and_surprise_as_project_events_and_offline_at_stop(store, tmp_path):
    server = RoomServer()
    with room_server(server) as url:
        outputs = Outputs(bus_config(url, tmp_path, project_id="classroom-mode"), store)
        outputs.start()
        try:
            assert wait_for(lambda: len(server.heartbeats) == 1), server.refused
            store.set_state(mode_state("lab", "group"))
            store.add_surprise(SurpriseReading(camera_id="cam", at=utc_now(), energy=2.0, score=4.0, level="unusual"))
            assert wait_for(lambda: len(server.project_events) == 2), server.refused
        finally:
            outputs.stop()
    first, last = server.heartbeats[0], server.heartbeats[-1]
    assert first["status"] == "online" and last["status"] == "offline"
    assert first["emits"] == ["classifier.room-mode.changed", "classifier.surprise.changed"]
    assert first["consumes"] == [] and "clip-capture" not in first["capabilities"]  # not listening
    assert last["message"] == "lab: Group (café) · model classroom-mode/vjepa2-tiny-sim"
    assert last["meta"]["modes"] == {"lab": "group"}
    mode, surprise = server.project_events
    assert mode["event_type"] == "classifier.room-mode.changed"
    assert {k: mode["payload"][k] for k in ("room", "mode", "ambience", "displayName")} == {
        "room": "lab",
        "mode": "group",
        "ambience": "café",
        "displayName": "Group",
    }
    assert surprise["event_type"] == "classifier.surprise.changed"
    assert (surprise["payload"]["cameraId"], surprise["payload"]["level"]) == ("cam", "unusual")
    assert mode["payload"]["eventId"] != surprise["payload"]["eventId"]
    assert server.refused == []


def test_an_unknown_project_is_said_once_with_the_fix_and_its_events_parked_with_it(store, tmp_path, caplog):
    server = RoomServer(projects=set())
    with room_server(server) as url:
        config = bus_config(url, tmp_path, project_id="classroom-mode")
        presence = Presence("bus", config.outputs["bus"], config, store, None)
        with httpx.Client() as client, caplog.at_level(logging.WARNING):
            for _ in range(3):
                presence.beat(client, "online")
        said = [r.getMessage() for r in caplog.records if "does not know project" in r.getMessage()]
        outputs = Outputs(config, store)
        outputs.start()
        try:
            store.set_state(mode_state("lab", "solo"))
            assert wait_for(lambda: outputs.statuses()[0].parked == 1)
            status = outputs.statuses()[0]
        finally:
            outputs.stop()
    assert len(said) == 1 and "public/project-packets.json" in said[0] and "GET /api/projects" in said[0]
    assert "does not know project 'classroom-mode'" in status.last_parked_error
    assert server.refused.count("unknown project") >= 4


# -- listening to the room ------------------------------------------------------------------------------


def test_a_capture_request_records_a_clip_and_a_phase_change_is_stored_and_shown(store, tmp_path):
    server = RoomServer()
    with room_server(server) as url:
        config = bus_config(url, tmp_path, project_id="classroom-mode", listen=True)
        data = config.paths.data
        with live_loop(config, store):
            assert wait_for(lambda: sorted(server.streams()) == ["all-cameras", "cam"]), server.opened
            assert wait_for(lambda: store.predictions("cam", limit=1)), "the camera to deliver frames"
            server.publish(EVENTS["capture"])
            assert wait_for(lambda: len(clips(data / "unlabeled")) == 1)
            time.sleep(0.35)  # past one clip span: a new request is not a repeat of the last
            server.publish(EVENTS["capture_labelled"])  # to all cameras, filed under the mode it names
            assert wait_for(lambda: len(clips(data / "group")) == 1)
            server.publish(EVENTS["phase"])
            assert wait_for(lambda: store.phases("lab"))
            heartbeat = server.heartbeats[0]
    (phase,) = store.phases("lab")
    assert (phase.phase, phase.source, phase.event_id) == ("lecture", "legacy-phase-api", EVENTS["phase"]["id"])
    room = overview(config, store, live=False, now=phase.at).rooms[0]
    assert [p.phase for p in room.phases] == ["lecture"]
    assert probe_video(clips(data / "unlabeled")[0]).num_frames == 16  # every frame of the camera's last clip span
    assert "camera.capture.requested" in heartbeat["consumes"] and "clip-capture" in heartbeat["capabilities"]


def test_the_server_restarted_loses_nothing_either_way_and_does_nothing_twice(store, tmp_path):
    server, port = RoomServer(), free_port()
    config = bus_config(f"http://127.0.0.1:{port}", tmp_path, listen=True)
    data = config.paths.data
    outputs = Outputs(config, store, cameras=OneClip())
    try:
        with room_server(server, port):
            outputs.start()
            assert wait_for(lambda: len(server.streams()) == 2)
            server.publish(EVENTS["capture"])
            assert wait_for(lambda: len(clips(data / "unlabeled")) == 1)
            store.add_prediction(reading("cam", "solo"))
            assert wait_for(lambda: len(server.pushes) == 1)
        # the server is gone: readings wait in the outbox, a request sent meanwhile waits in its recent events
        store.add_prediction(reading("cam", "group"))
        store.add_prediction(reading("cam", "presentation"))
        server.publish(EVENTS["capture_labelled"])
        with room_server(server, port):
            assert wait_for(lambda: len(server.pushes) == 3)
            assert wait_for(lambda: len(server.streams()) == 2), "the listener to reconnect"
            # the server sends a stream's head with its first event: the catch-up reads what it missed then
            server.publish(EVENTS["phase"])
            assert wait_for(lambda: len(clips(data / "group")) == 1), "the missed request acted on"
            server.publish(EVENTS["capture"])  # seen before: remembered by its id
            server.publish(EVENTS["capture_labelled"])
            server.publish({**EVENTS["phase"], "id": "evt-later", "payload": {"phase": "activity"}})
            assert wait_for(lambda: len(store.phases("lab")) == 2)  # after them on the stream: they were handled
    finally:
        outputs.stop()
    assert [p["predicted_class"] for p in server.pushes[:3]] == ["solo", "group", "presentation"]
    assert len(clips(data / "unlabeled")) == 1 and len(clips(data / "group")) == 1


def test_bad_events_unknown_cameras_and_floods_are_said_once_and_ignored(store, tmp_path, caplog):
    server = RoomServer()
    with room_server(server) as url:
        config = bus_config(url, tmp_path, clip_s=5.0, listen=True)
        cameras = OneClip()
        outputs = Outputs(config, store, cameras=cameras)
        outputs.start()
        try:
            assert wait_for(lambda: len(server.streams()) == 2)
            with caplog.at_level(logging.INFO):
                for n in range(3):
                    server.publish("{not json")
                    server.publish({"event_type": "camera.capture.requested", "payload": []})
                    server.publish({**EVENTS["capture_elsewhere"], "id": f"elsewhere-{n}"})  # only its camera hears
                    server.publish({**EVENTS["mode_request"], "id": f"mode-{n}"})
                    server.publish({**EVENTS["pause_command"], "id": f"pause-{n}"})
                    server.publish({**EVENTS["phase"], "id": f"bad-phase-{n}", "payload": {"phase": 7}})
                for n in range(50):  # a flood of distinct requests within one clip span
                    server.publish({**EVENTS["capture"], "id": f"flood-{n}"})
                opened = len(server.opened)
                server.drop_streams()  # the reconnect reads the recent events: the other camera's requests too
                assert wait_for(lambda: len(server.opened) >= opened + 2)
                server.publish(EVENTS["phase"])
                assert wait_for(lambda: store.phases("lab")), "the stream to go on past the bad events"
        finally:
            outputs.stop()
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("classroom_mode.outputs")]
    said_once = ["not JSON", "cannot read", "'orbit': not a camera", "'set-mode'", "no phase name"]
    for said in [*said_once, "within one clip span"]:
        assert sum(said in m for m in messages) == 1, (said, messages)
    assert len(clips(config.paths.data / "unlabeled")) == 1 and cameras.asked == 1
    assert cameras.paused == [("camera", "cam", True)] * 3  # each pause command once, as the API's pause


class OneClip:
    """The loop's `recent_clip` for a process that runs no loop: one clip of the test scene per request."""

    def __init__(self) -> None:
        self.asked = 0
        self.paused: list[tuple[str, str, bool]] = []

    def recent_clip(self, camera_id: str) -> Clip:
        self.asked += 1
        return flat_clip(camera_id, BRIGHT, utc_now())

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        self.paused.append((kind, name, paused))
        return True


# -- config and store -----------------------------------------------------------------------------------


def test_the_bus_config_needs_no_key_and_mode_events_need_a_project():
    plain = parse_config("outputs:\n  bus:\n    kind: bus\n    url: http://127.0.0.1:4177\n")
    assert plain.outputs["bus"].api_key_env is None and plain.outputs["bus"].events == ["reading", "surprise", "camera"]
    with pytest.raises(ConfigErrors) as caught:
        parse_config("outputs:\n  b:\n    kind: bus\n    url: http://x\n    events: [reading, mode]\n")
    assert caught.value.problems == [
        "outputs.b: events: mode changes are published as the project's events: set project_id"
    ]
    two_rooms = "rooms:\n  a: {}\n  b: {cameras: {c2: {}}}\noutputs:\n  b:\n    kind: bus\n    url: http://x\n"
    with pytest.raises(ConfigErrors, match=r"outputs\.b\.room: which room it listens for \(a, b\)"):
        parse_config(two_rooms + "    listen: true\n")


def test_a_version_2_history_gains_the_phases_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with HistoryStore(path) as history:
        history.set_state(mode_state("lab", "solo"))
    conn = sqlite3.connect(path)
    for table in ("phases", "pauses"):  # a version 2 history has neither
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with HistoryStore(path) as history:
        assert history.state("lab").mode == "solo"
        assert history.phases("lab") == []
