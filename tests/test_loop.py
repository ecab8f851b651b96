"""The live loop: cameras → room mode → history, with a failing camera beside a healthy one."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from classroom_mode.config import (
    CameraConfig,
    ClipSettings,
    Config,
    ConfigErrors,
    RoomConfig,
    Thresholds,
    parse_config,
)
from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.records import UNCERTAIN
from classroom_mode.service.live.feeds import CameraOffline, LiveFeed
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.sim.camera import SimCamera
from classroom_mode.store import HistoryStore
from classroom_mode.video.source import Frame, FrameSource
from live_helpers import (
    BRIGHT,
    BRIGHTNESS_MODES,
    DARK,
    BrightnessAnalyzer,
    ScriptedFeed,
    ZScoreCalibrator,
    flat_clip,
    wait_for,
)


def make_config(cameras: list[str], consensus: str = "average", **thresholds) -> Config:
    fast = CameraConfig(interval_s=0.01, offline_after_s=0.5)
    return Config(
        rooms={"r1": RoomConfig(cameras={c: fast for c in cameras}, consensus=consensus)},
        modes=BRIGHTNESS_MODES,
        thresholds=Thresholds(**{"estimator": "ema", "smoothing_alpha": 1.0, "consecutive_windows": 2, **thresholds}),
    )


def scripted(levels: dict[str, list[int | None]]):
    feeds: dict[str, ScriptedFeed] = {}

    def open_feed(camera_id: str, _: CameraConfig) -> ScriptedFeed:
        # a camera reopened after going offline continues its script
        feeds.setdefault(camera_id, ScriptedFeed(camera_id, levels[camera_id]))
        feeds[camera_id].closed = False
        return feeds[camera_id]

    return open_feed, feeds


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "h.db") as s:
        yield s


def test_failing_camera_beside_a_healthy_one(store):
    config = make_config(["good", "dead"])
    feeds, opened = scripted({"good": [BRIGHT] * 4, "dead": []})
    loop = LiveLoop(config, store, BrightnessAnalyzer(), feeds=feeds, calibrator=ZScoreCalibrator())
    loop.run(windows=4)

    state = store.state("r1")
    assert state.mode == "lab" and state.ambience == "lo-fi"
    assert state.cameras == ["good"] and state.offline_cameras == ["dead"] and not state.stale
    cameras = {c.camera_id: c for c in store.cameras()}
    assert cameras["good"].online and cameras["good"].last_error is None
    assert not cameras["dead"].online and "no frame" in cameras["dead"].last_error
    assert {p.camera_id for p in store.predictions()} == {"good"}
    assert len(store.predictions()) == 4
    assert len(store.surprise(camera_id="good")) == 4
    assert opened["dead"].closed  # a dead camera's feed is closed, to be reopened on its next window


def test_scene_change_flips_the_room_after_k_windows(store):
    config = make_config(["cam"], consecutive_windows=2, enter_probability=0.99)
    feeds, _ = scripted({"cam": [DARK] * 3 + [BRIGHT] * 3})
    seen = []
    loop = LiveLoop(
        config, store, BrightnessAnalyzer(energy=False), feeds=feeds, on_change=lambda c, s: seen.append(c.mode)
    )
    loop.run(windows=6)

    # window 1: nothing accepted yet; 2: exam; 3: exam; 4: first bright win; 5: lab accepted
    assert seen == [UNCERTAIN, "exam", "lab"]
    assert [c.mode for c in store.mode_changes("r1", since=datetime(2000, 1, 1, tzinfo=UTC))] == seen
    assert [loop.changes.get_nowait().mode for _ in seen] == seen
    predictions = store.predictions(limit=10)[::-1]
    assert predictions[4].at <= store.state("r1").since <= predictions[5].at  # set when the 5th reading came in


def test_analysis_failure_costs_one_window(store):
    class Flaky(BrightnessAnalyzer):
        def analyse(self, clip, room):
            if self.calls == 1:
                self.calls += 1
                raise RuntimeError("encoder out of memory")
            return super().analyse(clip, room)

    config = make_config(["cam"])
    feeds, _ = scripted({"cam": [BRIGHT] * 4})
    LiveLoop(config, store, Flaky(energy=False), feeds=feeds).run(windows=4)
    assert len(store.predictions()) == 3
    status = store.cameras()[0]
    assert status.online and status.last_error is None  # later windows cleared the error
    assert store.state("r1").mode == "lab"


def test_camera_dying_makes_the_room_stale(store):
    config = make_config(["cam"], stale_after_s=0.2)
    feeds, _ = scripted({"cam": [BRIGHT, BRIGHT] + [None] * 1000})
    loop = LiveLoop(config, store, BrightnessAnalyzer(energy=False), feeds=feeds, tick_s=0.05)
    loop.start()
    try:
        assert wait_for(lambda: (s := store.state("r1")) is not None and s.stale and s.offline_cameras, timeout=5)
    finally:
        loop.stop()
    state = store.state("r1")
    assert state.mode == "lab" and state.offline_cameras == ["cam"] and state.cameras == []
    assert [t.online for t in store.camera_transitions("cam")] == [True, False]


def test_loop_keeps_last_clip_for_the_dashboard(store):
    config = make_config(["cam"])
    feeds, _ = scripted({"cam": [BRIGHT]})
    loop = LiveLoop(config, store, BrightnessAnalyzer(energy=False), feeds=feeds)
    loop.run(windows=1)
    assert loop.last_clip("cam").frames.mean() > 200
    assert loop.last_clip("nope") is None and loop.last_attention("cam") is None


def test_run_refuses_a_missing_probe(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"rooms: {{r1: {{probe: {tmp_path / 'missing.safetensors'}, cameras: {{cam: {{}}}}}}}}\n"
        f"paths: {{database: {tmp_path / 'h.db'}}}\n"
    )
    result = cli("run", "--config", config, "--windows", "1")
    assert result.exit_code == 2
    assert "missing.safetensors: probe file not found (rooms.r1.probe)" in result.stderr


def test_run_refuses_a_room_without_probe(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"paths: {{database: {tmp_path / 'h.db'}}}\n")
    result = cli("run", "--config", config)
    assert result.exit_code == 2
    assert "rooms.demo-room.probe: no probe configured" in result.stderr


class StallingSource(FrameSource):
    """Delivers a burst of frames, then hangs without ending: a camera whose network cable was pulled."""

    def __init__(self, camera_id: str, frames: int) -> None:
        super().__init__(camera_id)
        self.count = frames
        self._closed = threading.Event()

    def frames(self):
        for i in range(self.count):
            yield Frame(np.full((32, 32, 3), 100, np.uint8), i / 10, datetime.now(UTC))
        self._closed.wait()

    @property
    def status(self):
        return "online"

    def close(self) -> None:
        self._closed.set()


def test_live_feed_cuts_clips_from_the_simulator():
    camera = CameraConfig(clip=ClipSettings(frames=8, seconds=1.0), offline_after_s=5)
    feed = LiveFeed(SimCamera("sim", "group:30", fps=8, size=(64, 64), speed=4.0), camera)
    try:
        clip = feed.next_clip()
    finally:
        feed.close()
    assert clip.frames.shape == (8, 64, 64, 3) and clip.camera_id == "sim"
    assert clip.timestamps[-1] <= 1.0


def test_live_feed_says_offline_when_frames_stop():
    camera = CameraConfig(clip=ClipSettings(frames=4, seconds=0.5), offline_after_s=0.3)
    feed = LiveFeed(StallingSource("cam", frames=10), camera)
    try:
        assert feed.next_clip().num_frames == 4
        time.sleep(0.4)
        with pytest.raises(CameraOffline, match="no new frame"):
            feed.next_clip()
    finally:
        feed.close()


@pytest.fixture(scope="module")
def tiny_probe(tmp_path_factory):
    """Nearest-prototype probes on the tiny backbone's features (safetensors + JSON): ours, one for another backbone."""
    from classroom_mode.model.backbone import load_backbone
    from classroom_mode.model.probes import FeatureSet, fit_probe, save_probe
    from classroom_mode.model.probes.card import BackboneRecord, ProbeCard

    backbone = load_backbone("config:tiny", device="cpu")
    modes = ["empty", "solo", "group", "presentation"]
    levels = [20, 90, 160, 230]
    clips = [flat_clip("c", v, datetime.now(UTC), seed=s) for v in levels for s in range(3)]
    features = FeatureSet.from_embeddings(backbone.embed(clips))
    labels = [m for m in modes for _ in range(3)]
    out = tmp_path_factory.mktemp("probes")
    paths = {}
    for name, fingerprint in (("ours", backbone.fingerprint), ("theirs", "0" * 20)):
        probe = fit_probe(features, labels, classes=modes, kind="prototype")
        probe.card = ProbeCard(
            backbone=BackboneRecord(fingerprint=fingerprint, model_id="config:tiny" if name == "ours" else "other")
        )
        save_probe(probe, out / f"{name}.safetensors")
        paths[name] = out / f"{name}.safetensors"
    return paths


def write_config(tmp_path, probe) -> str:
    sim = {"kind": "sim", "timeline": "group:60", "fps": 8, "width": 64, "height": 64}
    camera = {"interval_s": 0.5, "offline_after_s": 5, "clip": {"frames": 8, "seconds": 0.5}, "source": sim}
    config = tmp_path / "c.yaml"
    config.write_text(  # JSON is YAML
        json.dumps(
            {
                "backbone": {"model": "config:tiny", "device": "cpu"},
                "paths": {"database": str(tmp_path / "h.db")},
                "rooms": {"r1": {"probe": str(probe), "cameras": {"sim": camera}}},
            }
        )
    )
    return config


def test_run_end_to_end_with_a_simulated_camera(cli, tmp_path, tiny_probe):
    result = cli("run", "--config", write_config(tmp_path, tiny_probe["ours"]), "--windows", "3")
    assert result.exit_code == 0, result.output
    with HistoryStore(tmp_path / "h.db") as store:
        assert len(store.predictions(camera_id="sim")) == 3
        assert len(store.surprise(camera_id="sim")) == 3  # the real SurpriseModel and calibrator
        assert store.cameras()[0].online
        assert store.state("r1") is not None


def test_run_refuses_a_probe_for_another_backbone(cli, tmp_path, tiny_probe):
    result = cli("run", "--config", write_config(tmp_path, tiny_probe["theirs"]), "--windows", "1")
    assert result.exit_code == 2
    assert "trained on features of other" in result.stderr and "retrain it" in result.stderr


def test_attentive_probe_attention_reaches_the_loop(tmp_path):
    """The camera page's heatmap: the loop keeps the attentive probe's map of each camera's last window."""
    from classroom_mode.model.backbone import load_backbone
    from classroom_mode.model.probes import FeatureSet, fit_probe
    from classroom_mode.service.analysis import LocalEncoder

    backbone = load_backbone("config:tiny", device="cpu")
    modes = ["empty", "group"]
    clips = [flat_clip("c", v, datetime.now(UTC), seed=s) for v in (30, 200) for s in range(4)]
    probe = fit_probe(FeatureSet.from_embeddings(backbone.embed(clips)), [m for m in modes for _ in range(4)],
                      classes=modes, kind="attentive")  # fmt: skip
    encoder = LocalEncoder(backbone, {"r1": probe})
    config = Config(rooms={"r1": RoomConfig(cameras={"cam": CameraConfig()})})
    with HistoryStore(tmp_path / "h.db") as store:
        loop = LiveLoop(config, store, encoder, feeds=lambda cid, cam: ScriptedFeed(cid, [200]))
        loop.run(windows=1)
    attention = loop.last_attention("cam")
    side = backbone.config.crop_size // backbone.config.patch_size
    assert attention is not None and attention.shape == (side, side)
    assert np.isclose(attention.sum(), 1.0, atol=1e-3)


def test_a_database_locked_by_another_process_holds_the_readings_until_it_is_free(tmp_path):
    config = make_config(["cam"])
    with HistoryStore(tmp_path / "h.db", busy_timeout_s=0.05) as store:
        feeds, _ = scripted({"cam": [BRIGHT] * 400})
        loop = LiveLoop(config, store, BrightnessAnalyzer(), feeds=feeds, calibrator=ZScoreCalibrator(), tick_s=0.05)
        other = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock far past the busy timeout
        loop.start(windows=40)
        assert wait_for(lambda: loop.cameras["cam"].windows >= 20, timeout=10)
        assert len(loop.writes) > 0 and store.predictions(limit=1000) == []  # held in memory, nothing lost yet
        other.execute("COMMIT")
        assert wait_for(lambda: loop.cameras["cam"].windows >= 40 and len(loop.writes) == 0, timeout=10)
        loop.stop()
        assert len(store.predictions(limit=1000)) == 40 and loop.failure is None
        assert store.state("r1").mode == "lab"
        other.close()


def test_a_worker_that_dies_is_restarted_and_the_camera_says_why(store):
    config = make_config(["cam"])
    feeds, _ = scripted({"cam": [BRIGHT] * 400})
    loop = LiveLoop(config, store, BrightnessAnalyzer(), feeds=feeds, calibrator=ZScoreCalibrator(), tick_s=0.05)
    original, calls = loop._set_online, []

    def set_online_once_broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in our code")
        return original(*args, **kwargs)

    loop._set_online = set_online_once_broken  # type: ignore[method-assign]
    loop.start(windows=30)
    assert wait_for(lambda: loop.cameras["cam"].windows >= 30, timeout=10)
    loop.stop()
    statuses = [e.record for e in store.events(0, 10_000) if e.kind == "camera"]
    reason = "worker restarted after: RuntimeError: a bug in our code"
    restarts = [status for status in statuses if reason in (status.last_error or "")]
    assert restarts and not restarts[0].online  # the camera said why while its worker was down
    assert len(store.predictions(limit=1000)) >= 25


def test_a_store_that_cannot_be_written_stops_the_loop_with_its_reason(store, monkeypatch):
    config = make_config(["cam"])
    feeds, _ = scripted({"cam": [BRIGHT] * 400})
    loop = LiveLoop(config, store, BrightnessAnalyzer(), feeds=feeds, calibrator=ZScoreCalibrator(), tick_s=0.05)

    def damaged(*_args):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(store, "add_prediction", damaged)
    told: list[str] = []
    loop.on_failure = told.append  # what `serve --live` uses to stop its server
    started = time.monotonic()
    with pytest.raises(ClassroomModeError, match="the live loop stopped: cannot write the history database: "
                       "DatabaseError: database disk image is malformed"):  # fmt: skip
        loop.run()  # forever, unless it cannot go on
    assert time.monotonic() - started < 10
    assert len(told) == 1 and "malformed" in told[0]


@pytest.mark.parametrize("config_text", ["interval_s: .inf", "offline_after_s: .nan"])
def test_absurd_intervals_are_refused_before_anything_runs(config_text):
    with pytest.raises(ConfigErrors, match="finite number"):
        parse_config(f"rooms: {{r: {{cameras: {{c: {{{config_text}}}}}}}}}")


def test_a_probe_is_found_with_or_without_its_suffix_as_classify_finds_it(tmp_path):
    from classroom_mode.service.analysis import room_probe_path

    for name in ("room.safetensors", "room.json"):
        (tmp_path / name).write_bytes(b"{}")
    for written in ("room", "room.safetensors", "room.json"):
        config = parse_config(f"rooms: {{r1: {{probe: {tmp_path / written}, cameras: {{cam: {{}}}}}}}}")
        assert room_probe_path(config, "r1") == tmp_path / "room.safetensors"
    (tmp_path / "room.json").unlink()
    with pytest.raises(UserError, match=r"room.json: probe file not found \(rooms.r1.probe\)"):
        room_probe_path(parse_config(f"rooms: {{r1: {{probe: {tmp_path / 'room'}, cameras: {{c: {{}}}}}}}}"), "r1")
