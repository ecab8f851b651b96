"""The class's room server as a bus, on real parts: a double of the server on uvicorn (`room_server_double`, its
facts in `fixtures/room_server.json`) or, when `CLASSROOM_ROOM_SERVER_URL` names one, the real classroom-api
(`room_under_test`); the real live loop and store, real clips written as MP4. The server is driven and read through
its own routes, as a teacher's console and the class's pages do, so most tests assert the same of either; those
that need what only the double does say why in their skip reason."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from classroom_mode.clock import utc_now
from classroom_mode.config import Config, ConfigErrors, parse_config
from classroom_mode.outputs import Outputs
from classroom_mode.outputs.bus import EMITS, ROOM_MODE_EVENT, SURPRISE_EVENT
from classroom_mode.outputs.bus_presence import Presence
from classroom_mode.records import CameraStatus, Clip, SurpriseReading
from classroom_mode.service.api.dashboard_views import overview
from classroom_mode.service.api.ports import free_port
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from classroom_mode.video.decode import probe_video
from live_helpers import BRIGHT, BrightnessAnalyzer, ScriptedFeed, ZScoreCalibrator, flat_clip, wait_for
from outputs_helpers import mode_state, reading, started
from room_server_double import FIXTURE, RoomServer
from room_under_test import Room, needs_double, room_server
from store_helpers import as_version

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


def listening(room: Room, store: HistoryStore, room_name: str = "lab") -> None:
    """Return once the listener acts on what the room sends: the console sets a phase until it is stored. One set
    before the listener read the room's recent events is rightly not acted on (it came before it listened), and
    the server gives no sign of who subscribed."""
    for _ in range(20):
        room.set_phase("arrival")
        if wait_for(lambda: store.phases(room_name), timeout=1.0):
            return
    raise AssertionError("the listener never acted on a phase the room set")


# -- pushing the camera's whole state -------------------------------------------------------------------


def test_the_whole_camera_state_is_pushed_and_a_camera_offline_or_stopped_is_running_false(store, tmp_path):
    with room_server() as room:
        with started(Outputs(bus_config(room.url, tmp_path), store)) as outputs:
            store.add_prediction(reading("cam", "group", 1.0))
            store.add_prediction(reading("cam", "uncertain", 0.3))
            surprise = dict(camera_id="cam", at=utc_now(), energy=2.5, score=7.1)
            store.add_surprise(SurpriseReading(**surprise, level="anomaly"))
            store.set_camera_status(CameraStatus(camera_id="cam", room="lab", online=False, since=utc_now()))
            store.set_camera_status(CameraStatus(camera_id="cam", room="lab", online=True, since=utc_now()))
            assert wait_for(lambda: len(room.events("camera.state.updated", "cam")) == 5), outputs.statuses()
            # pushed alone, this product's `group` is the server's `empty`: its mode counts people
            only_classes = room.mode()
            paired = room.push(camera_id="cam", person_count=3, person_detected=True)["room_mode"]
        pushed = [e["payload"] for e in room.events("camera.state.updated", "cam")]
        classes = [e["payload"] for e in room.events("classifier.probe.changed", "cam")]
        anomalies = [e["payload"] for e in room.events("safety.anomaly.changed", "cam")]
        camera, stopped, heartbeats = room.camera("cam"), room.mode(), room.events("project.heartbeat")
    # group, uncertain, anomaly, offline, online, the other detector's push, the loop stopped
    assert [p["running"] for p in pushed] == [True, True, True, False, True, True, False]
    assert {p["detectorHost"] for p in pushed} == {socket.gethostname()}
    # an `uncertain` reading sends no class: the server keeps the last confident one
    assert [(c["oldClass"], c["newClass"], c["confidence"]) for c in classes] == [(None, "group", 1.0)]
    assert [(a["newLevel"], a["score"]) for a in anomalies] == [("anomaly", 7.1)]
    assert camera["class_probs"] == {"group": 1.0} and camera["running"] is False
    assert set(camera) - {"updatedAt"} <= set(FIXTURE["push_fields"]), "only fields the server reads"
    assert (only_classes, paired, stopped) == ("empty", "group", "unknown")
    assert heartbeats == []  # no project_id: no heartbeat


@needs_double("the Node server checks no key; the double checks one as the Python reference server does")
def test_a_key_is_sent_when_named_and_never_shown_when_refused(store, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BUS_KEY", "wrong-secret-value")
    with (
        room_server(RoomServer(api_key="right")) as room,
        started(Outputs(bus_config(room.url, tmp_path, api_key_env="BUS_KEY"), store)) as outputs,
    ):
        store.add_prediction(reading("cam", "solo"))
        assert wait_for(lambda: outputs.statuses()[0].state == "retrying"), "the sink to retry"
        status = outputs.statuses()[0]
    assert "401" in status.last_error and "refused" in status.last_error and status.pending == 1
    assert "wrong-secret-value" not in status.model_dump_json() + caplog.text
    refusals = [r.name for r in caplog.records if "refused" in r.getMessage()]
    assert refusals.count("classroom_mode.outputs.delivery") == 1  # logged once, not per retry
    assert refusals.count("classroom_mode.outputs.bus_presence") == 1  # the camera's `running: false` at the stop


# -- joining the room as a project ----------------------------------------------------------------------


def test_a_heartbeat_the_room_mode_and_surprise_as_project_events_and_offline_at_stop(store, tmp_path):
    with room_server() as room:
        with started(Outputs(bus_config(room.url, tmp_path, project_id="classroom-mode"), store)) as outputs:
            assert wait_for(lambda: room.events("project.heartbeat", "classroom-mode")), outputs.statuses()
            store.set_state(mode_state("lab", "group"))
            store.add_surprise(SurpriseReading(camera_id="cam", at=utc_now(), energy=2.0, score=4.0, level="unusual"))
            assert wait_for(lambda: len(project_events(room)) == 2), outputs.statuses()
        heartbeats = [e["payload"] for e in room.events("project.heartbeat", "classroom-mode")]
        kept = room.heartbeat("classroom-mode")
        mode, surprise = [e["payload"] for e in project_events(room)]
    first, last = heartbeats[0], heartbeats[-1]
    assert first["status"] == "online" and last["status"] == "offline" == kept["status"]
    assert first["emits"] == EMITS == ["classifier.room-mode.changed", "classifier.surprise.changed"]
    assert first["consumes"] == [] and "clip-capture" not in first["capabilities"]  # not listening
    assert last["message"] == "lab: Group (café) · model classroom-mode/vjepa2-tiny-sim"
    assert kept["meta"]["modes"] == {"lab": "group"}
    assert {k: mode[k] for k in ("room", "mode", "ambience", "displayName", "projectId")} == {
        "room": "lab",
        "mode": "group",
        "ambience": "café",
        "displayName": "Group",
        "projectId": "classroom-mode",
    }
    assert (surprise["cameraId"], surprise["level"]) == ("cam", "unusual")
    assert mode["legacyEventType"] is None is surprise["legacyEventType"]  # kept under the names sent
    assert mode["eventId"] != surprise["eventId"]


def project_events(room: Room) -> list[dict[str, Any]]:
    """This product's room-mode and surprise events as the server published them."""
    return [*room.events(ROOM_MODE_EVENT, "classroom-mode"), *room.events(SURPRISE_EVENT, "classroom-mode")]


def test_an_unknown_project_is_said_once_with_the_fix_and_its_events_parked_with_it(store, tmp_path, caplog):
    with room_server() as room:
        config = bus_config(room.url, tmp_path, project_id="not-a-listed-project")
        presence = Presence("bus", config.outputs["bus"], config, store, None)
        with httpx.Client() as client, caplog.at_level(logging.WARNING):
            for _ in range(3):
                presence.beat(client, "online")
        said = [r.getMessage() for r in caplog.records if "does not know project" in r.getMessage()]
        with started(Outputs(config, store)) as outputs:
            store.set_state(mode_state("lab", "solo"))
            assert wait_for(lambda: outputs.statuses()[0].parked == 1)
            status = outputs.statuses()[0]
    assert len(said) == 1 and "public/project-packets.json" in said[0] and "GET /api/projects" in said[0]
    assert "does not know project 'not-a-listed-project'" in status.last_parked_error


# -- listening to the room ------------------------------------------------------------------------------


def test_a_capture_request_records_a_clip_and_a_phase_change_is_stored_and_shown(store, tmp_path):
    with room_server() as room:
        config = bus_config(room.url, tmp_path, project_id="classroom-mode", listen=True)
        data = config.paths.data
        with live_loop(config, store):
            assert wait_for(lambda: store.predictions("cam", limit=1)), "the camera to deliver frames"
            listening(room, store)
            room.command("cam", command="capture")
            assert wait_for(lambda: len(clips(data / "unlabeled")) == 1)
            time.sleep(0.35)  # past one clip span: a new request is not a repeat of the last
            # to all cameras, filed under the mode it names
            room.command("all-cameras", command="capture", reason="example of group work", params={"label": "group"})
            assert wait_for(lambda: len(clips(data / "group")) == 1)
            sent = room.set_phase("lecture")
            assert wait_for(lambda: len(store.phases("lab")) == 2)
            heartbeat = room.events("project.heartbeat", "classroom-mode")[0]["payload"]
    arrival, lecture = store.phases("lab")
    assert arrival.phase == "arrival"
    assert (lecture.phase, lecture.source, lecture.event_id) == ("lecture", "legacy-phase-api", sent["id"])
    shown = overview(config, store, live=False, now=lecture.at).rooms[0]
    assert [p.phase for p in shown.phases] == ["arrival", "lecture"]
    assert probe_video(clips(data / "unlabeled")[0]).num_frames == 16  # every frame of the camera's last clip span
    assert "camera.capture.requested" in heartbeat["consumes"] and "clip-capture" in heartbeat["capabilities"]


def test_commands_it_has_no_camera_mode_for_other_cameras_requests_and_floods_are_said_once(store, tmp_path, caplog):
    with room_server() as room:
        config = bus_config(room.url, tmp_path, clip_s=60.0, listen=True)
        cameras = OneClip()
        with started(Outputs(config, store, cameras=cameras)), caplog.at_level(logging.INFO):
            listening(room, store)
            for _ in range(30):  # a flood of distinct requests within one clip span
                room.command("cam", command="capture")
            for _ in range(3):
                room.command("orbit", command="capture")  # not its camera: the server sends it only to orbit
                room.command("cam", command="set-mode", mode="paused")
                room.command("cam", command="pause")
            assert wait_for(lambda: len(cameras.paused) == 3), "the commands to be handled, in order"
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("classroom_mode.outputs")]
    for said in ["'set-mode'", "within one clip span"]:
        assert sum(said in m for m in messages) == 1, (said, messages)
    assert len(clips(config.paths.data / "unlabeled")) == 1 and cameras.asked == 1
    assert cameras.paused == [("camera", "cam", True)] * 3  # each pause command once, as the API's pause


@needs_double("it restarts the server, which a test cannot do to a server it did not start")
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
        # the server is gone: readings wait in the outbox. It comes back remembering nothing, and a console's
        # request sent before the listener is back waits in its recent events
        store.add_prediction(reading("cam", "group"))
        store.add_prediction(reading("cam", "presentation"))
        server.restart()
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


@needs_double(
    "the real server sends only events it made, never text that is not JSON, an event without an id or a "
    "phase that is a number, and a test cannot drop its streams"
)
def test_bad_events_and_other_cameras_requests_read_on_a_reconnect_are_said_once_and_ignored(store, tmp_path, caplog):
    server = RoomServer()
    with room_server(server) as room:
        config = bus_config(room.url, tmp_path, listen=True)
        cameras = OneClip()
        with started(Outputs(config, store, cameras=cameras)):
            assert wait_for(lambda: len(server.streams()) == 2)
            with caplog.at_level(logging.INFO):
                for n in range(3):
                    server.publish("{not json")
                    server.publish({"event_type": "camera.capture.requested", "payload": []})
                    server.publish({**EVENTS["capture_elsewhere"], "id": f"elsewhere-{n}"})  # only its camera hears
                    server.publish({**EVENTS["phase"], "id": f"bad-phase-{n}", "payload": {"phase": 7}})
                opened = len(server.opened)
                server.drop_streams()  # the reconnect reads the recent events: the other camera's requests too
                assert wait_for(lambda: len(server.opened) >= opened + 2)
                server.publish(EVENTS["phase"])
                assert wait_for(lambda: store.phases("lab")), "the stream to go on past the bad events"
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("classroom_mode.outputs")]
    for said in ["not JSON", "cannot read", "'orbit': not a camera", "no phase name"]:
        assert sum(said in m for m in messages) == 1, (said, messages)
    assert cameras.asked == 0 and [p.phase for p in store.phases("lab")] == ["lecture"]


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
    as_version(path, 2, missing=("phases", "pauses"))
    with HistoryStore(path) as history:
        assert history.state("lab").mode == "solo"
        assert history.phases("lab") == []
