"""The outputs layer on real parts: the store's outbox, mosquitto with a paho subscriber, uvicorn receivers, real
programs for the command sink."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import sys
import textwrap
from datetime import timedelta

import pytest

from classroom_mode.clock import utc_now
from classroom_mode.config import Config, ConfigErrors, parse_config
from classroom_mode.errors import UserError
from classroom_mode.outputs import Outputs, send_test
from classroom_mode.outputs.delivery import coalesced
from classroom_mode.records import CameraStatus, SurpriseReading
from classroom_mode.store import HistoryStore
from dashboard_helpers import serve
from live_helpers import wait_for
from outputs_helpers import (
    HttpReceiver,
    Subscriber,
    broker,
    mode_state,
    reading,
    started,
    webhook_app,
)
from store_helpers import as_version


def config_with(outputs: dict, rooms: dict | None = None) -> Config:
    rooms = rooms or {"lab": {"cameras": {"cam": {}}}}
    return Config.model_validate({"rooms": rooms, "outputs": outputs})


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "history.db") as history:
        yield history


# -- the outbox ----------------------------------------------------------------------------------------


def test_the_outbox_is_written_with_the_change_it_reports_and_only_once_a_sink_reads_it(store):
    store.set_state(mode_state("lab", "solo"))
    assert store.outbox.newest_id() == 0  # no sink registered: nothing kept
    store.outbox.register_sinks(["hook"])
    assert store.set_state(mode_state("lab", "group")) is not None
    assert store.set_state(mode_state("lab", "group")) is None  # same mode: no change, no event
    store.add_prediction(reading("cam", "group"))
    surprise = dict(camera_id="cam", at=utc_now(), energy=1.0, score=0.0)
    store.add_surprise(SurpriseReading(**surprise, level="normal"))  # normal after normal: no level change
    store.add_surprise(SurpriseReading(**surprise, level="anomaly"))
    store.set_camera_status(CameraStatus(camera_id="cam", room="lab", online=False, since=utc_now()))
    events = store.outbox.pending("hook", ("reading", "mode", "surprise", "camera"))
    assert [(e.kind, e.subject) for e in events] == [
        ("mode", "lab"),
        ("reading", "cam"),
        ("surprise", "cam"),
        ("camera", "cam"),
    ]
    assert events[0].record.mode == "group" and events[0].record.ambience == "café"
    assert len({e.uid for e in events}) == 4


def test_a_change_and_its_outbox_event_commit_or_roll_back_together(store):
    store.outbox.register_sinks(["hook"])
    store.set_state(mode_state("lab", "solo"))
    other = sqlite3.connect(store.path)  # another process's view of the file: the outbox refuses every row
    other.execute("CREATE TRIGGER full BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox refused'); END")
    other.commit()
    rings = store.outbox.rings()
    with pytest.raises(sqlite3.IntegrityError, match="outbox refused"):
        store.set_state(mode_state("lab", "group"))
    assert store.state("lab").mode == "solo"  # the change went with its event
    assert [c.mode for c in store.mode_changes("lab")] == ["solo"]
    assert store.outbox.rings() == rings  # and no sink was woken for it
    other.execute("DROP TRIGGER full")
    other.commit()
    other.close()
    store.set_state(mode_state("lab", "group"))
    assert store.state("lab").mode == "group"
    assert [e.record.mode for e in store.outbox.pending("hook", ("mode",))] == ["solo", "group"]
    assert store.outbox.rings() == rings + 1


def test_a_new_sink_starts_after_the_newest_event_and_a_removed_one_stops_holding_rows(store):
    store.outbox.register_sinks(["a"])
    store.set_state(mode_state("lab", "solo"))
    store.outbox.register_sinks(["a", "b"])
    assert store.outbox.pending("b", ("mode",)) == []
    assert len(store.outbox.pending("a", ("mode",))) == 1
    store.outbox.register_sinks(["b"])
    assert store.outbox.compact() == 1


def test_a_migrated_version_1_history_keeps_its_rows_and_gains_the_outbox(tmp_path):
    path = tmp_path / "old.db"
    with HistoryStore(path) as history:
        history.set_state(mode_state("lab", "solo"))
    as_version(path, 1, missing=("outbox", "outbox_sinks", "outbox_parked", "phases", "pauses"))
    with HistoryStore(path) as history:
        assert history.state("lab").mode == "solo"
        history.outbox.register_sinks(["x"])
        history.set_state(mode_state("lab", "group"))
        assert len(history.outbox.pending("x", ("mode",))) == 1


def test_a_long_backlog_is_coalesced_to_the_newest_state_per_subject(store):
    store.outbox.register_sinks(["s"])
    for i, mode in enumerate(["solo", "group", "solo", "presentation"]):
        store.set_state(mode_state("lab", mode, at_s=-3600 + i))
    store.set_state(mode_state("hall", "group", at_s=-3600))
    events = store.outbox.pending("s", ("mode",))
    kept, skipped = coalesced(events, utc_now(), after_s=60)
    assert [(e.subject, e.record.mode) for e in kept] == [("lab", "presentation"), ("hall", "group")]
    assert skipped == 3
    fresh, none = coalesced(events, utc_now() - timedelta(hours=2), after_s=60)
    assert len(fresh) == 5 and none == 0  # not behind: every flip is sent


# -- HTTP sinks (the bus: test_bus.py) ---------------------------------------------------------------------


def test_the_webhook_is_signed_carries_the_event_id_retries_a_5xx_and_parks_a_4xx(store, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    receiver = HttpReceiver(answers=[503, 200, 422])
    with serve(webhook_app(receiver)) as url:
        config = config_with(
            {"hook": {"kind": "webhook", "url": f"{url}/hook", "secret_env": "HOOK_SECRET", "max_backoff_s": 0.2}}
        )
        with started(Outputs(config, store)) as outputs:
            store.set_state(mode_state("lab", "solo"))  # 503, then delivered
            store.set_state(mode_state("lab", "group"))  # 422: parked
            store.set_state(mode_state("lab", "presentation"))
            assert wait_for(lambda: len(receiver.bodies) == 2), "two deliveries"
            assert wait_for(lambda: outputs.statuses()[0].parked == 1)
    assert [b["data"]["mode"] for b in receiver.bodies] == ["solo", "presentation"]
    for raw, headers, body in zip(receiver.raw, receiver.headers, receiver.bodies, strict=True):
        expected = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-classroom-mode-signature"], expected)
        assert headers["x-classroom-mode-event"] == body["id"] and body["kind"] == "mode" and body["room"] == "lab"
    status = outputs.statuses()[0]
    assert status.last_parked_error.startswith("HTTP 422") and status.pending == 0


def test_a_hanging_webhook_is_cut_at_its_timeout_and_retried(store):
    receiver = HttpReceiver(delay_s=1.0)
    with serve(webhook_app(receiver)) as url:
        config = config_with({"hook": {"kind": "webhook", "url": f"{url}/hook", "timeout_s": 0.2}})
        with started(Outputs(config, store)) as outputs:
            store.set_state(mode_state("lab", "solo"))
            assert wait_for(lambda: (outputs.statuses()[0].last_error or "").startswith("no answer within 0.2 s"))


# -- the command sink -----------------------------------------------------------------------------------


def _script(tmp_path, body: str) -> list[str]:
    path = tmp_path / "react.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_a_command_gets_the_event_in_its_environment_and_on_stdin_and_no_secrets(store, tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSROOM_MODE_API_TOKEN", "api-secret")
    out = tmp_path / "seen.json"
    argv = _script(
        tmp_path,
        f"""
        import json, os, sys
        event = json.load(sys.stdin)
        env = {{k: v for k, v in os.environ.items() if k.startswith("CLASSROOM")}}
        open({str(out)!r}, "w").write(json.dumps({{"event": event, "env": env}}))
        print("lights set", file=sys.stderr)
        """,
    )
    with started(Outputs(config_with({"lights": {"kind": "command", "argv": argv}}), store)) as outputs:
        store.set_state(mode_state("lab", "presentation"))
        assert wait_for(lambda: outputs.statuses()[0].delivered == 1), "the command to run"
    seen = json.loads(out.read_text())
    assert seen["env"]["CLASSROOM_MODE"] == "presentation" and seen["env"]["CLASSROOM_AMBIENCE"] == "full silence"
    assert seen["env"]["CLASSROOM_ROOM"] == "lab" and seen["env"]["CLASSROOM_EVENT_ID"] == seen["event"]["id"]
    assert "CLASSROOM_MODE_API_TOKEN" not in seen["env"]
    assert outputs.statuses()[0].detail == "exit 0: lights set"


def test_a_failing_or_hanging_command_is_parked_with_its_exit_and_last_stderr_line(store, tmp_path):
    fails = _script(tmp_path, "import sys\nprint('first', file=sys.stderr)\nsys.exit('no lamp found')\n")
    config = config_with({"lights": {"kind": "command", "argv": fails}})
    with started(Outputs(config, store)) as outputs:
        store.set_state(mode_state("lab", "solo"))
        assert wait_for(lambda: outputs.statuses()[0].parked == 1)
    assert outputs.statuses()[0].last_parked_error == "exit 1: no lamp found"
    hangs = config_with({"slow": {"kind": "command", "argv": ["sleep", "30"], "timeout_s": 0.3}})
    with started(Outputs(hangs, store)) as outputs:
        store.set_state(mode_state("lab", "group"))
        assert wait_for(lambda: outputs.statuses()[0].parked == 1, 5)
    assert outputs.statuses()[0].last_parked_error == "killed after its timeout of 0.3 s"


# -- configuration ---------------------------------------------------------------------------------------


def test_a_malformed_outputs_section_names_the_field():
    text = "outputs:\n  home:\n    kind: mqtt\n    host: h\n    port: 0\n  hook:\n    kind: webhook\n    url: ftp://x\n"
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text)
    assert caught.value.problems == [
        "outputs.home.port: Input should be greater than or equal to 1",
        "outputs.hook.url: must start with http:// or https://",
    ]


def test_a_named_secret_that_is_unset_stops_the_start_with_its_name(store, monkeypatch):
    monkeypatch.delenv("BUS_KEY", raising=False)
    config = config_with({"bus": {"kind": "bus", "url": "http://127.0.0.1:9", "api_key_env": "BUS_KEY"}})
    with pytest.raises(UserError, match=r"outputs\.bus\.api_key_env: the environment variable BUS_KEY is not set"):
        Outputs(config, store)


# -- MQTT and Home Assistant ------------------------------------------------------------------------------


def test_mqtt_publishes_retained_state_discovery_and_the_last_will(store, tmp_path):
    with broker(tmp_path) as running:
        config = config_with({"home": {"kind": "mqtt", "host": "127.0.0.1", "port": running.port}})
        with started(Outputs(config, store)) as outputs:
            store.set_state(mode_state("lab", "group"))
            store.add_prediction(reading("cam", "group"))
            assert wait_for(lambda: outputs.statuses()[0].delivered == 2), "two publishes"
        late = Subscriber(running.port, ["classroom-mode/#", "homeassistant/#"])  # retained only, after the fact
        try:
            retained = [
                "classroom-mode/lab/mode",
                "classroom-mode/lab/ambience",
                "classroom-mode/status",
                "homeassistant/sensor/classroom_mode_lab/mode/config",
                "homeassistant/binary_sensor/classroom_mode_lab/cam_online/config",
            ]  # a late subscriber gets them one after another
            assert wait_for(lambda: all(late.on(topic) for topic in retained)), "the retained messages"
            mode = json.loads(late.on("classroom-mode/lab/mode")[0])
            assert mode["mode"] == "group" and mode["event_id"]
            assert late.on("classroom-mode/lab/ambience") == ["café"]
            assert late.on("classroom-mode/status") == ["offline"]  # a clean stop says so too
            assert late.on("classroom-mode/lab/cam/reading") == []  # readings are not retained
            sensor = json.loads(late.on("homeassistant/sensor/classroom_mode_lab/mode/config")[0])
            assert sensor["state_topic"] == "classroom-mode/lab/mode"
            assert sensor["availability_topic"] == "classroom-mode/status"
            assert sensor["device"]["identifiers"] == ["classroom_mode_lab"]
            online = json.loads(late.on("homeassistant/binary_sensor/classroom_mode_lab/cam_online/config")[0])
            assert online["device_class"] == "connectivity"
            assert online["device"] == sensor["device"]  # one device per room
        finally:
            late.close()


def test_a_broker_killed_and_restarted_mid_stream_loses_nothing_and_keeps_order(store, tmp_path):
    with broker(tmp_path) as running:
        config = config_with(
            {"home": {"kind": "mqtt", "host": "127.0.0.1", "port": running.port, "max_backoff_s": 0.5}}
        )
        subscriber = Subscriber(running.port, ["classroom-mode/lab/cam/reading"])
        outputs = Outputs(config, store)
        outputs.start()
        try:
            labels = [f"m{i}" for i in range(30)]
            for i, label in enumerate(labels):
                store.add_prediction(reading("cam", label))
                if i == 10:
                    running.kill()
                if i == 20:
                    assert wait_for(lambda: outputs.statuses()[0].state == "retrying"), "the sink to notice"
                    running.start()
            assert wait_for(lambda: outputs.statuses()[0].pending == 0, 20), "the backlog to drain"
            readings = "classroom-mode/lab/cam/reading"
            assert wait_for(lambda: len({json.loads(p)["label"] for p in subscriber.on(readings)}) == 30, 10), (
                "the subscriber to get every reading"
            )
        finally:
            outputs.stop()
            subscriber.close()
    seen = [json.loads(p)["label"] for p in subscriber.on("classroom-mode/lab/cam/reading")]
    assert list(dict.fromkeys(seen)) == labels  # every one, in order (a repeat of an unacknowledged one allowed)


def test_outputs_test_reports_each_sink(store, tmp_path):
    with broker(tmp_path) as running:
        subscriber = Subscriber(running.port, ["classroom-mode/test"])
        config = config_with(
            {
                "home": {"kind": "mqtt", "host": "127.0.0.1", "port": running.port},
                "gone": {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "timeout_s": 1},
            }
        )
        results = send_test(config, store)
        assert wait_for(lambda: len(subscriber.on("classroom-mode/test")) == 1)
        subscriber.close()
    by_name = {r.sink: r for r in results}
    assert by_name["home"].ok and by_name["home"].message.startswith("delivered a reading event")
    assert not by_name["gone"].ok and "cannot reach it" in by_name["gone"].message
    assert json.loads(subscriber.on("classroom-mode/test")[0])["test"] is True


_SERVICE = """
import sys, time
from classroom_mode.config import Config
from classroom_mode.outputs import Outputs
from classroom_mode.store import HistoryStore
from outputs_helpers import reading
db, url, write = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = Config.model_validate({"rooms": {"lab": {"cameras": {"cam": {}}}},
                                "outputs": {"hook": {"kind": "webhook", "url": url, "events": ["reading"]}}})
store = HistoryStore(db)
outputs = Outputs(config, store)
outputs.start()
for i in range(write):
    store.add_prediction(reading("cam", f"m{i}"))
print("written", flush=True)
while True:
    time.sleep(0.05)
    if store.outbox.sink_progress("hook", ("reading",)).pending == 0:
        print("drained", flush=True)
"""


def test_a_service_killed_with_a_backlog_delivers_everything_after_a_restart_under_the_same_ids(tmp_path):
    import os
    import signal
    import subprocess
    from pathlib import Path

    receiver = HttpReceiver(delay_s=0.02)
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parent)}
    db = str(tmp_path / "history.db")
    with serve(webhook_app(receiver)) as url:
        first = subprocess.Popen(
            [sys.executable, "-c", _SERVICE, db, f"{url}/hook", "60"], env=env, stdout=subprocess.PIPE, text=True
        )
        assert first.stdout.readline().strip() == "written"
        assert wait_for(lambda: len(receiver.bodies) >= 5), "some deliveries before the kill"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        before = len(receiver.bodies)
        assert before < 60  # a backlog was left behind
        second = subprocess.Popen(
            [sys.executable, "-c", _SERVICE, db, f"{url}/hook", "0"], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            assert second.stdout.readline().strip() == "written"
            assert second.stdout.readline().strip() == "drained"
        finally:
            second.kill()
            second.wait(10)
    ids_by_label: dict[str, set[str]] = {}
    for body in receiver.bodies:
        ids_by_label.setdefault(body["data"]["label"], set()).add(body["id"])
    assert sorted(ids_by_label, key=lambda label: int(label[1:])) == [f"m{i}" for i in range(60)]
    assert all(len(ids) == 1 for ids in ids_by_label.values())  # a resend is the same event, never a new id


# -- where the status shows -------------------------------------------------------------------------------


def test_api_outputs_shows_the_running_sinks_and_a_server_without_workers_says_stopped(store):
    from fastapi.testclient import TestClient

    from classroom_mode.service.api.app import create_app
    from classroom_mode.service.live.loop import LiveLoop
    from live_helpers import BrightnessAnalyzer, ScriptedFeed

    receiver = HttpReceiver()
    with serve(webhook_app(receiver)) as url:
        config = config_with(
            {"hook": {"kind": "webhook", "url": f"{url}/hook", "events": ["mode", "camera"]}},
            rooms={"lab": {"cameras": {"cam": {"interval_s": 0.05}}}},
        )
        with TestClient(create_app(config, store)) as client:
            assert [s["state"] for s in client.get("/api/outputs").json()] == ["stopped"]
        loop = LiveLoop(
            config,
            store,
            BrightnessAnalyzer(bright="solo", dark="group", energy=False),
            feeds=lambda camera_id, _: ScriptedFeed(camera_id, [250] * 50),
            tick_s=0.05,
        )
        with TestClient(create_app(config, store, loop=loop)) as client:
            assert wait_for(lambda: len(receiver.bodies) >= 2), "the live loop's events to reach the webhook"
            shown = client.get("/api/outputs").json()[0]
    assert shown["name"] == "hook" and shown["state"] == "connected" and shown["delivered"] >= 2
    assert shown["target"] == f"{url}/hook" and shown["events"] == ["mode", "camera"]
    assert {b["kind"] for b in receiver.bodies} == {"mode", "camera"}
    assert next(b for b in receiver.bodies if b["kind"] == "mode")["data"]["ambience"] == "party"


def test_cli_outputs_test_exits_1_naming_the_failed_sink(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"paths:\n  database: {tmp_path / 'h.db'}\n"
        "outputs:\n  gone:\n    kind: webhook\n    url: http://127.0.0.1:9/hook\n    timeout_s: 1\n"
    )
    result = cli("outputs", "test", "-c", config)
    assert result.exit_code == 1
    assert "gone: failed http://127.0.0.1:9/hook: cannot reach it" in result.stdout
    assert "1 of 1 outputs failed the test" in result.stderr
    status = cli("outputs", "status", "-c", config, "--json")
    assert json.loads(status.stdout)[0]["state"] == "stopped"


def test_wrong_mqtt_credentials_are_one_clear_line_without_the_password(store, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MQTT_PASSWORD", "not-the-password")
    with broker(tmp_path, passwords={"room": "right-password"}) as running:
        settings = {"kind": "mqtt", "host": "127.0.0.1", "port": running.port, "username": "room"}
        config = config_with({"home": settings | {"password_env": "MQTT_PASSWORD", "timeout_s": 2}})
        with started(Outputs(config, store)) as outputs:
            store.set_state(mode_state("lab", "solo"))
            assert wait_for(lambda: "refused" in (outputs.statuses()[0].last_error or "")), "the refusal"
            status = outputs.statuses()[0]
    assert status.state == "retrying" and status.last_error == "the broker refused the connection: Not authorized"
    assert "not-the-password" not in status.model_dump_json() + caplog.text


# -- sound ------------------------------------------------------------------------------------------------


def _tone(path, hz: float, seconds: float = 0.5) -> None:
    import wave

    import numpy as np

    t = np.arange(int(44_100 * seconds)) / 44_100
    samples = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(44_100)
        out.writeframes(samples.tobytes())


def _heard(pcm: bytes) -> list[str]:
    """What each 50 ms of 44.1 kHz stereo PCM holds (quiet, 440 Hz, 880 Hz or both), repeats collapsed."""
    import numpy as np

    mono = np.frombuffer(pcm, "<i2").reshape(-1, 2).mean(axis=1) / 32768.0
    labels = []
    for start in range(0, len(mono) - 2205, 2205):
        window = mono[start : start + 2205]
        spectrum = np.abs(np.fft.rfft(window))
        e440, e880 = spectrum[22], spectrum[44]  # 2205 samples at 44.1 kHz: 20 Hz a bin
        if np.sqrt((window**2).mean()) < 0.01:
            label = "quiet"
        elif e440 > 10 * e880:
            label = "440"
        elif e880 > 10 * e440:
            label = "880"
        else:
            label = "both"
        if not labels or labels[-1] != label:
            labels.append(label)
    return labels


def test_the_sound_sink_plays_each_ambience_and_crossfades_to_the_next_and_to_silence(store, tmp_path):
    import time

    _tone(tmp_path / "party.wav", 440)
    (tmp_path / "cafe").mkdir()
    _tone(tmp_path / "cafe" / "a.wav", 880, 0.3)
    _tone(tmp_path / "cafe" / "b.wav", 880, 0.2)
    played = tmp_path / "played.raw"
    recorder = _script(
        tmp_path, f"import shutil, sys\nshutil.copyfileobj(sys.stdin.buffer, open({str(played)!r}, 'wb'))\n"
    )
    sink = {
        "kind": "sound",
        "ambiences": {"party": str(tmp_path / "party.wav"), "café": str(tmp_path / "cafe")},
        "fade_s": 0.3,
        "player": recorder,
    }
    with started(Outputs(config_with({"speaker": sink}), store)) as outputs:
        time.sleep(0.3)
        for mode in ("solo", "group", "presentation"):  # party, café, full silence
            store.set_state(mode_state("lab", mode))
            time.sleep(1.0)
        assert outputs.statuses()[0].detail == "faded out ('full silence' has no sound)"
    assert _heard(played.read_bytes()) == ["quiet", "440", "both", "880", "quiet"]


def test_the_sound_sink_plays_on_alsa_and_refuses_a_missing_file(store, tmp_path):
    import shutil

    if shutil.which("aplay") is None:
        pytest.skip("aplay (alsa-utils) is not installed; scripts/setup.sh installs it")
    _tone(tmp_path / "party.wav", 440)
    sink = {"kind": "sound", "ambiences": {"party": str(tmp_path / "party.wav")}, "device": "null"}
    with started(Outputs(config_with({"speaker": sink}), store)) as outputs:
        store.set_state(mode_state("lab", "solo"))
        assert wait_for(lambda: outputs.statuses()[0].detail == "playing party")
        assert outputs.statuses()[0].target == "aplay on ALSA device null"
    missing = {"kind": "sound", "ambiences": {"party": str(tmp_path / "nope.mp3")}}
    with pytest.raises(UserError, match=r"outputs\.speaker\.ambiences\.party: .*nope\.mp3 does not exist"):
        Outputs(config_with({"speaker": missing}), store)


def test_a_sound_sink_in_a_config_of_several_rooms_must_name_its_room():
    text = "rooms:\n  a: {}\n  b: {}\noutputs:\n  speaker:\n    kind: sound\n    ambiences: {party: x.mp3}\n"
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text)
    assert caught.value.problems == ["outputs.speaker.room: which room's mode it plays (a, b)"]


def test_a_tls_sink_facing_a_plain_broker_says_tls_failed(store, tmp_path):
    with broker(tmp_path) as running:
        settings = {"kind": "mqtt", "host": "127.0.0.1", "port": running.port, "tls": True, "timeout_s": 1}
        with started(Outputs(config_with({"home": settings}), store)) as outputs:
            store.set_state(mode_state("lab", "solo"))
            assert wait_for(lambda: outputs.statuses()[0].state == "retrying"), "the sink to retry"
            status = outputs.statuses()[0]
    assert status.last_error.startswith(f"TLS failed with 127.0.0.1:{running.port}")


def test_a_sink_that_takes_one_kind_of_event_refuses_others_saying_why():
    text = "outputs:\n  s:\n    kind: sound\n    ambiences: {party: p.wav}\n    events: [reading, mode]\n"
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text)
    assert caught.value.problems == ["outputs.s.events: a sound sink follows mode changes only"]
