"""Pausing a camera or a room: over the HTTP API behind the token (real uvicorn), through a Home Assistant MQTT
switch (real mosquitto), kept in the store across a restart, and shown as `paused`, never as offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as mqtt
import pytest

from classroom_mode.config import CameraConfig, Config, RoomConfig, Thresholds
from classroom_mode.errors import UserError
from classroom_mode.service.api.app import create_app
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from live_helpers import BRIGHT, BRIGHTNESS_MODES, BrightnessAnalyzer, ScriptedFeed, ServerThread, wait_for
from outputs_helpers import Subscriber, broker

TOKEN = "pause-test-token"


def two_cameras(outputs: dict | None = None) -> Config:
    fast = CameraConfig(interval_s=0.02)
    return Config(
        rooms={"r1": RoomConfig(cameras={"front": fast, "back": fast}), "r2": RoomConfig(cameras={"door": fast})},
        modes=BRIGHTNESS_MODES,
        thresholds=Thresholds(smoothing_alpha=1.0, consecutive_windows=1),
        outputs=outputs or {},
    )


def endless(camera_id: str, _: CameraConfig) -> ScriptedFeed:
    return ScriptedFeed(camera_id, [BRIGHT] * 100_000)


class PerCamera(BrightnessAnalyzer):
    """Counts the encoder's calls per camera."""

    def __init__(self) -> None:
        super().__init__(energy=False)
        self.by_camera: dict[str, int] = {}

    def analyse(self, clip, room):
        self.by_camera[clip.camera_id] = self.by_camera.get(clip.camera_id, 0) + 1
        return super().analyse(clip, room)


@pytest.fixture
def token(monkeypatch) -> str:
    monkeypatch.setenv("CLASSROOM_MODE_API_TOKEN", TOKEN)
    return TOKEN


def test_the_api_pauses_behind_the_token_and_a_paused_camera_is_never_offline(tmp_path, token) -> None:
    config = two_cameras()
    encoder = PerCamera()
    auth = {"Authorization": f"Bearer {token}"}
    with HistoryStore(tmp_path / "history.db") as store:
        loop = LiveLoop(config, store, encoder, feeds=endless, tick_s=0.02)
        with ServerThread(create_app(config, store, loop=loop)) as server:
            api = httpx.Client(base_url=server.url, timeout=30)
            assert wait_for(lambda: encoder.by_camera.get("back", 0) >= 2)

            assert api.post("/api/cameras/back/pause").status_code == 401
            missing = api.post("/api/cameras/nope/pause", headers=auth)
            assert missing.status_code == 404
            assert missing.json()["detail"] == "unknown camera 'nope' (configured: front, back, door)"
            assert api.post("/api/rooms/nope/pause", headers=auth).json()["detail"].endswith("(configured: r1, r2)")

            paused = api.post("/api/cameras/back/pause", headers=auth).json()
            assert paused["paused"] and paused["kind"] == "camera" and paused["since"]
            assert wait_for(lambda: _camera(api, "back")["watch"] == "paused")
            back = _camera(api, "back")
            assert back["last_error"] is None and back["watch"] == "paused"
            calls = encoder.by_camera["back"]
            front = encoder.by_camera["front"]
            assert wait_for(lambda: encoder.by_camera["front"] >= front + 5)
            assert encoder.by_camera["back"] == calls, "a paused camera is not encoded"
            assert api.get("/api/rooms/r1").json()["watch"] == "watching"  # the other camera still watches it
            assert [p["name"] for p in api.get("/api/pauses").json()] == ["back"]

            assert api.post("/api/rooms/r2/pause", headers=auth).json()["paused"]
            assert wait_for(lambda: api.get("/api/rooms/r2").json()["watch"] == "paused")
            assert wait_for(lambda: _camera(api, "door")["watch"] == "paused")

            assert not api.post("/api/cameras/back/resume", headers=auth).json()["paused"]
            assert wait_for(lambda: encoder.by_camera["back"] > calls), "resumed"
            assert wait_for(lambda: _camera(api, "back")["online"] and _camera(api, "back")["watch"] == "watching")
            transitions = [(t.online, t.watch) for t in store.camera_transitions("back")]
            assert transitions == [(True, "watching"), (False, "paused"), (True, "watching")]  # never "offline"


def _camera(api: httpx.Client, camera_id: str) -> dict:
    return next(c for c in api.get("/api/cameras").json() if c["camera_id"] == camera_id)


def test_set_paused_refuses_an_unknown_name_with_those_that_exist(tmp_path) -> None:
    with HistoryStore(tmp_path / "history.db") as store:
        loop = LiveLoop(two_cameras(), store, PerCamera(), feeds=endless)
        with pytest.raises(UserError, match=r"unknown camera 'nope' \(configured: front, back, door\)"):
            loop.set_paused("camera", "nope", True)
        assert loop.set_paused("room", "r1", True) and not loop.set_paused("room", "r1", True)
        assert set(store.pauses()) == {("room", "r1")}


def test_an_mqtt_switch_pauses_a_camera_and_the_pause_survives_a_restart(tmp_path) -> None:
    with broker(tmp_path) as running:
        config = two_cameras({"home": {"kind": "mqtt", "host": "127.0.0.1", "port": running.port}})
        status_topic = "classroom-mode/r1/back/status"
        switch_config = "homeassistant/switch/classroom_mode_r1/back_paused/config"
        encoder = PerCamera()
        with HistoryStore(tmp_path / "history.db") as store:
            loop = LiveLoop(config, store, encoder, feeds=endless, tick_s=0.02)
            loop.start()
            try:
                assert wait_for(lambda: encoder.by_camera.get("back", 0) >= 2)
                listener = Subscriber(running.port, [switch_config])
                assert wait_for(lambda: listener.on(switch_config)), "the switch is announced to Home Assistant"
                switch = json.loads(listener.on(switch_config)[0])
                listener.close()
                assert switch["command_topic"] == "classroom-mode/r1/back/pause/set"
                assert switch["state_topic"] == status_topic

                watcher = Subscriber(running.port, [status_topic])
                # published until it takes: the sink subscribes right after announcing its entities
                switched = lambda: _publish(running.port, switch["command_topic"], "ON") or store.pauses()  # noqa: E731
                assert wait_for(lambda: ("camera", "back") in switched(), every=0.5), "the switch paused the camera"
                assert wait_for(lambda: _status(store, "back").watch == "paused")
                assert wait_for(lambda: any(json.loads(m)["watch"] == "paused" for m in watcher.on(status_topic)))
                watcher.close()
            finally:
                loop.stop()

        calls = encoder.by_camera["back"]
        with HistoryStore(tmp_path / "history.db") as store:  # the service restarts
            loop = LiveLoop(config, store, encoder, feeds=endless, tick_s=0.02)
            loop.start()
            try:
                assert wait_for(lambda: encoder.by_camera["front"] >= 3)
                assert encoder.by_camera["back"] == calls, "still paused after the restart"
                late = Subscriber(running.port, [status_topic])  # Home Assistant, reconnecting after the restart
                assert wait_for(lambda: late.on(status_topic)), "the state is retained"
                assert json.loads(late.on(status_topic)[0])["watch"] == "paused"

                _publish(running.port, "classroom-mode/r1/back/pause/set", "OFF")
                assert wait_for(lambda: encoder.by_camera["back"] > calls), "the switch resumed the camera"
                assert wait_for(lambda: any(json.loads(m)["watch"] == "watching" for m in late.on(status_topic)))
                late.close()
            finally:
                loop.stop()


def _status(store: HistoryStore, camera_id: str):
    return next(c for c in store.cameras() if c.camera_id == camera_id)


def _publish(port: int, topic: str, payload: str) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-switch-{datetime.now(UTC).timestamp()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_bot_says_paused_and_off_hours_and_never_counts_them_offline() -> None:
    from bot_helpers import NOW, at, config, state
    from classroom_mode.bot.format import cameras_embed, room_embed
    from classroom_mode.records import CameraStatus

    night = state("room-101", "group", since=at(3600), updated=at(600), watch="off-hours", stale=True)
    embed = room_embed(night, modes=config().modes, now=NOW, stale=True, offline=[])
    assert embed.title == "🌙 Off hours"
    note = embed.fields[-1].value
    assert "outside the room's active hours" in note and "Group" in note and "Stale" not in note

    statuses = [
        CameraStatus(camera_id="front", room="room-101", online=True, since=at(60), last_frame_at=NOW),
        CameraStatus(camera_id="side", room="room-101", online=False, since=at(30), watch="paused"),
    ]
    cameras = cameras_embed(statuses)
    assert cameras.title == "📷 Cameras · 1/1 online"
    assert "⏸️ `side` · room-101 · paused since" in cameras.description and "offline" not in cameras.description
