"""The HTTP API on a real uvicorn server on 127.0.0.1: every endpoint, upload limits, bearer token, SSE,
and a live loop encoding its clips on that server (the remote-encoding path)."""

from __future__ import annotations

import json
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import numpy as np
import pytest

from classroom_mode.config import CameraConfig, Config, RoomConfig, ServerConfig, Thresholds
from classroom_mode.errors import UserError
from classroom_mode.model.backbone import load_backbone
from classroom_mode.model.surprise import SurpriseModel
from classroom_mode.records import CameraStatus, Clip, ModeState, SurpriseReading
from classroom_mode.service.analysis import LocalEncoder, RemoteEncoder
from classroom_mode.service.api.app import create_app
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from classroom_mode.video.writer import write_mp4
from live_helpers import (
    BRIGHT,
    BRIGHTNESS_MODES,
    DARK,
    T0,
    CentroidProbe,
    ScriptedFeed,
    ServerThread,
    ZScoreCalibrator,
    flat_clip,
    one_hot,
    reading,
    wait_for,
)

TOKEN_ENV = "CLASSROOM_MODE_TEST_API_TOKEN"


def make_config(**server) -> Config:
    """No token unless a test asks for one (`api_token_env=TOKEN_ENV`): uploads are open by explicit choice."""
    return Config(
        rooms={"r1": RoomConfig(cameras={"cam": CameraConfig(interval_s=0.01)})},
        modes=BRIGHTNESS_MODES,
        server=ServerConfig(**{"api_token_env": None, "max_upload_mb": 0.1, "max_upload_seconds": 3.0, **server}),
        thresholds=Thresholds(estimator="ema", smoothing_alpha=1.0, consecutive_windows=1),
    )


@pytest.fixture(scope="module")
def encoder() -> LocalEncoder:
    backbone = load_backbone("config:tiny", device="cpu")
    bright, dark = (backbone.embed([flat_clip("c", v, T0)])[0].pooled for v in (BRIGHT, DARK))
    return LocalEncoder(backbone, {"r1": CentroidProbe({"lab": bright, "exam": dark})}, SurpriseModel(backbone))


@pytest.fixture
def server(encoder, tmp_path):
    """A fresh store and server per test (the encoder is shared), so no test sees another's rows, in any order."""
    with (
        HistoryStore(tmp_path / "h.db") as store,
        ServerThread(create_app(make_config(), store, encoder=encoder)) as running,
    ):
        running.store = store
        yield running


@pytest.fixture
def token_server(encoder, tmp_path, monkeypatch):
    """A server whose uploads need the bearer token in TOKEN_ENV (set before it starts, as it must be)."""
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    with (
        HistoryStore(tmp_path / "t.db") as store,
        ServerThread(create_app(make_config(api_token_env=TOKEN_ENV), store, encoder=encoder)) as running,
    ):
        yield running


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def mp4(tmp_path, value: int, frames: int = 16, name: str = "clip.mp4") -> bytes:
    clip = flat_clip("cam", value, T0, frames=frames)
    return write_mp4(tmp_path / name, clip.frames, fps=8.0).read_bytes()


def state(mode: str, at, room: str = "r1") -> ModeState:
    shown = BRIGHTNESS_MODES[mode]
    return ModeState(
        room=room, mode=mode, display_name=shown.display_name, emoji=shown.emoji, ambience=shown.ambience,
        confidence=0.9, probabilities={mode: 0.9}, since=at, updated_at=at, cameras=["cam"],
    )  # fmt: skip


def test_health_and_openapi(client, encoder):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["probes"] == ["r1"] and health["rooms"] == ["r1"]
    assert health["fingerprint"] == encoder.fingerprint and health["live"] is False
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/rooms", "/api/rooms/{room}", "/api/rooms/{room}/history", "/api/cameras", "/api/surprise",
                 "/api/predictions", "/api/classify", "/api/embed", "/api/events"):  # fmt: skip
        assert path in paths
    assert "ModeState" in client.get("/openapi.json").json()["components"]["schemas"]


def test_read_endpoints(server, client):
    store = server.store
    assert client.get("/api/rooms/r1").status_code == 404  # configured, but nothing written yet
    store.set_state(state("exam", T0))
    store.set_state(state("lab", T0 + timedelta(minutes=5)))
    store.set_camera_status(CameraStatus(camera_id="cam", room="r1", online=True, since=T0))
    for i in range(3):
        at = T0 + timedelta(seconds=i)
        store.add_prediction(reading("cam", at, one_hot("lab", ["lab", "exam"])))
        store.add_surprise(SurpriseReading(camera_id="cam", at=at, energy=1.0 + i, score=0.0, level="normal"))

    assert [s["mode"] for s in client.get("/api/rooms").json()] == ["lab"]
    room = client.get("/api/rooms/r1").json()
    assert room["mode"] == "lab" and room["emoji"] == "🧪" and room["cameras"] == ["cam"]
    history = client.get("/api/rooms/r1/history", params={"since": T0.isoformat()}).json()
    assert [(c["mode"], c["previous"]) for c in history] == [("exam", None), ("lab", "exam")]
    later = client.get("/api/rooms/r1/history", params={"since": (T0 + timedelta(minutes=1)).isoformat()})
    assert [c["mode"] for c in later.json()] == ["lab"]
    assert client.get("/api/cameras").json()[0]["online"] is True
    predictions = client.get("/api/predictions", params={"camera": "cam", "limit": 2}).json()
    assert [p["at"] for p in predictions] == [(T0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
                                               for s in (2, 1)]  # fmt: skip
    assert [s["energy"] for s in client.get("/api/surprise", params={"camera": "cam"}).json()] == [3.0, 2.0, 1.0]
    assert client.get("/api/surprise", params={"camera": "other"}).json() == []


def test_read_errors(client):
    missing = client.get("/api/rooms/nowhere")
    assert missing.status_code == 404 and "unknown room 'nowhere'" in missing.json()["detail"]
    assert client.get("/api/rooms/nowhere/history").status_code == 404
    assert client.get("/api/predictions", params={"limit": 0}).status_code == 422
    assert client.get("/api/rooms/r1/history", params={"since": "yesterday-ish"}).status_code == 422


def test_classify_embed_surprise(client, tmp_path):
    bright = client.post("/api/classify", files={"file": ("a.mp4", mp4(tmp_path, BRIGHT), "video/mp4")},
                         params={"camera": "door", "at": T0.isoformat()})  # fmt: skip
    assert bright.status_code == 200, bright.text
    body = bright.json()
    assert body["prediction"]["label"] == "lab" and body["prediction"]["camera_id"] == "door"
    assert body["prediction"]["at"].startswith("2026-01-05T09:00:00") and body["energy"] >= 0
    dark = client.post("/api/classify", files={"file": ("b.mp4", mp4(tmp_path, DARK), "video/mp4")})
    assert dark.json()["prediction"]["label"] == "exam"
    assert client.post("/api/classify", params={"room": "nope"}, files={"file": mp4(tmp_path, DARK)}).status_code == 404

    embedding = client.post("/api/embed", files={"file": mp4(tmp_path, BRIGHT)}).json()
    assert embedding["dim"] == 64 == len(embedding["pooled"]) and embedding["model_id"] == "config:tiny"
    energy = client.post("/api/surprise", files={"file": mp4(tmp_path, BRIGHT)}).json()
    assert energy["energy"] >= 0 and energy["fingerprint"] == embedding["fingerprint"]


@pytest.mark.parametrize("endpoint", ["/api/classify", "/api/embed", "/api/surprise"])
def test_upload_limits(client, tmp_path, endpoint):
    too_large = client.post(endpoint, files={"file": ("big.mp4", np.random.bytes(200_000), "video/mp4")})
    assert too_large.status_code == 413 and "0.1 MB" in too_large.json()["detail"]
    not_video = client.post(endpoint, files={"file": ("x.mp4", b"definitely not a video" * 50, "video/mp4")})
    assert not_video.status_code == 415 and "not a readable video" in not_video.json()["detail"]
    too_long = client.post(endpoint, files={"file": mp4(tmp_path, BRIGHT, frames=40)})  # 5 s at 8 fps
    assert too_long.status_code == 422 and "at most 3 s" in too_long.json()["detail"]
    assert client.post(endpoint).status_code == 422  # no file at all


def test_chunked_upload_over_the_limit_is_refused(client):
    """No Content-Length: the body is counted as it streams in and refused once past the limit."""
    head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\nContent-Type: video/mp4\r\n\r\n'

    def chunks():
        yield head
        for _ in range(30):
            yield b"\1" * 10_000
        yield b"\r\n--x--\r\n"

    response = client.post("/api/embed", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "0.1 MB" in response.json()["detail"]


def test_bearer_token(token_server, tmp_path, monkeypatch):
    client = httpx.Client(base_url=token_server.url, timeout=30)
    upload = {"file": mp4(tmp_path, BRIGHT)}
    assert client.post("/api/classify", files=upload).status_code == 401
    wrong = client.post("/api/classify", files=upload, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    right = client.post("/api/classify", files=upload, headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 200
    assert client.get("/api/rooms").status_code == 200  # reading needs no token
    monkeypatch.delenv(TOKEN_ENV)  # gone from under a running server: refused, never open
    assert client.post("/api/classify", files=upload, headers={"Authorization": "Bearer s3cret"}).status_code == 503
    client.close()


def test_a_configured_token_that_is_not_set_stops_the_server_from_starting(encoder, tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with HistoryStore(tmp_path / "h.db") as store, pytest.raises(UserError, match=f"{TOKEN_ENV} is not set"):
        create_app(make_config(api_token_env=TOKEN_ENV), store, encoder=encoder)
    with HistoryStore(tmp_path / "h.db") as store:  # reading only: no uploads to protect, so it starts
        create_app(make_config(api_token_env=TOKEN_ENV), store)


def test_server_sent_events(server):
    store = server.store
    with httpx.Client(base_url=server.url, timeout=10) as c, c.stream("GET", "/api/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        store.set_state(state("exam", T0 + timedelta(hours=1)))
        store.set_camera_status(CameraStatus(camera_id="cam2", room="r1", online=False, since=T0))
        store.add_surprise(SurpriseReading(camera_id="cam", at=T0, energy=9.0, score=8.0, level="anomaly"))
        events = []
        for line in lines:
            if line.startswith("event:"):
                events.append([line.removeprefix("event: ")])
            elif line.startswith("data:"):
                events[-1].append(json.loads(line.removeprefix("data: ")))
                if len(events) == 3:
                    break
    assert [name for name, _ in events] == ["mode_change", "camera_status", "surprise_alert"]
    assert events[0][1]["mode"] == "exam" and events[1][1]["camera_id"] == "cam2" and events[2][1]["level"] == "anomaly"


def test_events_resume_after_an_id(server, client):
    store = server.store
    first = store.last_event_id()
    store.set_camera_status(CameraStatus(camera_id="cam3", room="r1", online=True, since=T0))
    with client.stream("GET", "/api/events", headers={"Last-Event-ID": str(first)}) as stream:
        for line in stream.iter_lines():
            if line.startswith("id:"):
                assert int(line.removeprefix("id: ")) == first + 1
                break


def test_remote_encoding_path(token_server, encoder, tmp_path):
    """A loop on an 'edge device' posts its clips to the server and gets the same answer a local run would."""
    remote = RemoteEncoder(token_server.url, token="s3cret")
    assert remote.check(["r1"]).fingerprint == encoder.fingerprint
    with pytest.raises(Exception, match="no probe for room"):
        remote.check(["r1", "r2"])

    config = make_config()
    feed = ScriptedFeed("cam", [DARK, DARK, BRIGHT, BRIGHT])
    with HistoryStore(tmp_path / "edge.db") as edge:
        LiveLoop(config, edge, remote, feeds=lambda *_: feed, calibrator=ZScoreCalibrator()).run(windows=4)
        remote_labels = [p.label for p in edge.predictions()[::-1]]
        assert remote_labels == ["exam", "exam", "lab", "lab"]
        assert edge.state("r1").mode == "lab" and len(edge.surprise()) == 4
    local = [encoder.analyse(flat_clip("cam", v, T0), "r1").prediction.label for v in (DARK, DARK, BRIGHT, BRIGHT)]
    assert local == remote_labels
    remote.close()


def test_remote_refuses_when_the_server_is_down():
    remote = RemoteEncoder("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(Exception, match="does not answer"):
        remote.check(["r1"])


def test_serve_live_runs_the_loop_for_the_apps_lifetime(encoder, tmp_path):
    config = make_config()
    with HistoryStore(tmp_path / "h.db") as store:
        loop = LiveLoop(config, store, encoder, feeds=lambda *_: ScriptedFeed("cam", [BRIGHT] * 1000),
                        calibrator=ZScoreCalibrator())  # fmt: skip
        with (
            ServerThread(create_app(config, store, encoder=encoder, loop=loop)) as running,
            httpx.Client(base_url=running.url) as c,
        ):
            assert c.get("/health").json()["live"] is True
            assert wait_for(lambda: c.get("/api/rooms/r1").status_code == 200)
            assert c.get("/api/rooms/r1").json()["mode"] == "lab"
        assert not loop._threads  # stopped with the server


def test_states_and_cameras_are_judged_against_the_clock_not_taken_as_stored(tmp_path):
    config = make_config()
    written = T0  # long ago: whatever wrote these has stopped
    with HistoryStore(tmp_path / "h.db") as store:
        store.set_state(
            ModeState(room="r1", mode="lab", display_name="Lab", emoji="🧪", ambience="lo-fi", confidence=0.9,
                      probabilities={"lab": 0.9, "exam": 0.1}, since=written, updated_at=written, cameras=["cam"])
        )  # fmt: skip
        store.set_camera_status(
            CameraStatus(camera_id="cam", room="r1", online=True, since=written, last_frame_at=written)
        )
        for now, stale in ((written + timedelta(seconds=59), False), (written + timedelta(seconds=61), True)):
            with ServerThread(create_app(config, store, clock=lambda now=now: now)) as srv:
                state = httpx.get(f"{srv.url}/api/rooms/r1").json()
                assert state["stale"] is stale and state["age_s"] == pytest.approx((now - written).total_seconds())
                assert state["fresh_until"].startswith((written + timedelta(seconds=60)).isoformat()[:19])
                assert httpx.get(f"{srv.url}/api/rooms").json()[0]["stale"] is stale
                (camera,) = httpx.get(f"{srv.url}/api/cameras").json()
                assert camera["online"] is ((now - written).total_seconds() <= 15)  # offline_after_s: 15
                assert camera["online"] or camera["last_error"].startswith("silent")
        assert store.state("r1").stale is False  # the judgement is the reader's, never written back


def test_an_upload_is_held_to_what_decoding_it_may_hold_not_to_its_bytes(client, tmp_path):
    """4 frames of 4K are a few KB, but a decoder may hold 18 pictures of them: 285 MiB. 2560 x 1440 fits."""
    largest, uhd = tmp_path / "largest.mp4", tmp_path / "uhd.mp4"
    write_mp4(largest, np.full((4, 1440, 2560, 3), BRIGHT, np.uint8), 4.0)
    write_mp4(uhd, np.full((4, 2160, 3840, 3), BRIGHT, np.uint8), 4.0)
    assert max(largest.stat().st_size, uhd.stat().st_size) < 100_000  # well under the 0.1 MB upload limit
    assert client.post("/api/embed", files={"file": largest.read_bytes()}).status_code == 200
    refused = client.post("/api/embed", files={"file": uhd.read_bytes()})
    assert refused.status_code == 415 and "3840x2160 (yuv420p) may need 285 MiB" in refused.json()["detail"]


def test_uploads_are_decoded_at_the_backbones_input_size(encoder, tmp_path):
    from classroom_mode.service.api_models import UPLOAD_MEMORY
    from classroom_mode.video.decode import VideoFile

    path = write_mp4(tmp_path / "wide.mp4", np.full((4, 1080, 1920, 3), BRIGHT, np.uint8), 4.0)
    with VideoFile(path, memory_budget=UPLOAD_MEMORY) as video:
        frames = video.clip(4, short_side=encoder.short_side).frames
    short = int(encoder.backbone.crop_size * 256 / 224)  # the official processor's resize before its crop
    assert frames.shape == (4, short, int(short * 1920 / 1080), 3)
    assert encoder.backbone.centre_crop(frames).shape[-2:] == (encoder.backbone.crop_size,) * 2


def test_uploads_past_the_decoding_slots_wait_then_get_503_with_retry_after(encoder, tmp_path, monkeypatch):
    """One slot: an upload arriving while another is decoded waits (here 0.5 s), then is told when to come back."""
    from classroom_mode.service.api import analysis as upload_routes

    decoding, finish = threading.Event(), threading.Event()
    decode = upload_routes._decode_upload

    def held_open(*args):  # the real decode, once the test has seen the slot taken
        decoding.set()
        finish.wait(30)
        return decode(*args)

    monkeypatch.setattr(upload_routes, "_decode_upload", held_open)
    monkeypatch.setattr(upload_routes, "UPLOAD_WAIT_S", 0.5)
    upload = {"file": mp4(tmp_path, BRIGHT)}
    with (
        HistoryStore(tmp_path / "h.db") as store,
        ServerThread(create_app(make_config(max_upload_decodes=1), store, encoder=encoder)) as running,
        ThreadPoolExecutor(1) as pool,
    ):
        first = pool.submit(httpx.post, f"{running.url}/api/embed", files=upload, timeout=30)
        assert decoding.wait(30)
        waited = httpx.post(f"{running.url}/api/embed", files=upload, timeout=30)
        finish.set()
        assert first.result().status_code == 200
        assert waited.status_code == 503 and waited.headers["retry-after"] == "10"
        assert "max_upload_decodes: 1" in waited.json()["detail"]
        assert httpx.post(f"{running.url}/api/embed", files=upload, timeout=30).status_code == 200  # the slot is free


def test_a_remote_clip_of_frames_larger_than_an_upload_may_be_is_sent_shrunk(token_server, encoder):
    remote = RemoteEncoder(token_server.url, token="s3cret")
    frames = np.full((2, 1500, 2600, 3), BRIGHT, np.uint8)  # 3.9 M pixels a frame: over 2560 x 1440
    clip = Clip(frames, np.array([0.0, 0.125]), "cam", started_at=T0, ended_at=T0)
    assert remote.analyse(clip, "r1").prediction.label == "lab"
    remote.close()


def test_decoding_has_a_pixel_budget_checked_before_any_frame_is_converted(tmp_path):
    from classroom_mode.errors import UserError as Refused
    from classroom_mode.video.decode import sample_clip

    path = tmp_path / "uhd.mp4"
    write_mp4(path, np.zeros((4, 2160, 3840, 3), np.uint8), 4.0)
    tracemalloc.start()
    assert sample_clip(path, 4, short_side=360).frames.shape == (4, 360, 640, 3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3840 * 2160 * 3, f"{peak / 1e6:.0f} MB: a full-size RGB frame was held"  # one would be 25 MB
    for frames, budget in ((16, 10_000_000), (2, 3840 * 2160)):
        with pytest.raises(Refused, match="pixels, more than the"):
            sample_clip(path, frames, max_pixels=budget)
