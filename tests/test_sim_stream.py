"""Mode timelines, injected events, the real-time SimCamera, and the `simulate` command's exit codes."""

from __future__ import annotations

import json
import math
import threading
import time

import av
import numpy as np
import pytest

from classroom_mode.config import SimSourceConfig
from classroom_mode.errors import UserError
from classroom_mode.sim import parse_timeline, render_stream
from classroom_mode.sim.camera import SimCamera
from classroom_mode.sim.stream import Stream

TINY = {"fps": 8.0, "size": (48, 48)}


def test_parse_timeline():
    assert parse_timeline("presentation:120, group:300,solo:1.5") == [
        ("presentation", 120.0),
        ("group", 300.0),
        ("solo", 1.5),
    ]
    assert parse_timeline([("empty", 5)]) == [("empty", 5.0)]


@pytest.mark.parametrize("bad", ["", "group", "group:", "group:abc", "group:-3", "group:0", "party:10", "group:nan"])
def test_malformed_timelines(bad):
    with pytest.raises(UserError, match=r"timeline|mode"):
        parse_timeline(bad)


def test_stream_video_and_sidecar(tmp_path):
    out = render_stream("presentation:2,group:1.5", tmp_path / "s.mp4", seed=4, events=[("lights", 0.5)], **TINY)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["video"] == "s.mp4" and sidecar["frames"] == 28 and sidecar["duration"] == 3.5
    assert sidecar["timeline"] == [
        {"mode": "presentation", "start": 0.0, "end": 2.0},
        {"mode": "group", "start": 2.0, "end": 3.5},
    ]
    assert [e["kind"] for e in sidecar["events"]] == ["lights"] and sidecar["events"][0]["start"] == 0.5
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 28
    assert not list(tmp_path.glob(".*partial"))


def test_stream_is_deterministic():
    a = Stream("solo:1", seed=9, **TINY)
    b = Stream("solo:1", seed=9, **TINY)
    assert all(np.array_equal(a.next_frame(), b.next_frame()) for _ in range(8))


def test_truth_switches_at_boundaries_and_people_arrive_over_time():
    stream = Stream("empty:2,group:8", seed=1, **TINY)
    assert stream.truth_at(1.99) == "empty" and stream.truth_at(2.0) == "group"
    visible, last = [], {}
    max_step = 0.0
    for _ in range(stream.num_frames):
        stream.next_frame()
        scene = stream.world.scene
        visible.append(len(scene.visible()))
        for actor in scene.visible():
            if actor.pid in last:
                max_step = max(max_step, math.dist(last[actor.pid], (actor.x, actor.z)))
            last[actor.pid] = (actor.x, actor.z)
    at = {t: visible[int(t * 8)] for t in (1.0, 2.25, 9.5)}
    assert at[1.0] == 0 and at[2.25] <= 2, "nobody pops in at the boundary: they walk in through the door"
    assert at[9.5] >= 4
    assert max_step < 1.5 / 8 + 1e-6, "people move continuously, at walking speed"


def test_group_to_solo_people_leave_through_the_door():
    stream = Stream("group:1,solo:12", seed=2, **TINY)
    door = np.array(stream.world.room.door)
    for _ in range(stream.num_frames):
        stream.next_frame()
        leaving = [a for a in stream.world.scene.actors if a.leaving]
        for actor in leaving:
            assert math.dist(door, (actor.role.x, actor.role.z)) < 1e-9
    assert len([a for a in stream.world.scene.visible() if not a.leaving]) == 1


def test_settled_only_once_everyone_has_walked_in_or_out():
    stream = Stream("presentation:1,empty:20,solo:20", seed=3, **TINY)
    assert stream.settled, "a stream starts with everyone in place"
    history = []
    for _ in range(stream.num_frames):
        stream.next_frame()
        scene = stream.world.scene
        history.append((stream.time, stream.settled, len(scene.visible())))
        if stream.settled:
            assert not any(a.leaving for a in scene.actors)
    unsettled_empty = [t for t, ok, _ in history if 1.0 < t <= 21.0 and not ok]
    assert unsettled_empty and min(unsettled_empty) < 1.5, "people still leaving right after the change"
    assert all(n == 0 for t, ok, n in history if 1.0 < t <= 21.0 and ok), "settled empty means nobody left"
    settled_solo = [n for t, ok, n in history if t > 21.0 and ok]
    assert settled_solo and all(n == 1 for n in settled_solo)


def test_skipping_frames_keeps_the_truth_of_drawing_them():
    timeline = "group:10,solo:10,empty:8"
    drawn, skipped = Stream(timeline, seed=5, events=["run"], **TINY), Stream(timeline, seed=5, events=["run"], **TINY)
    seen = set()
    for _ in range(drawn.num_frames):
        drawn.next_frame()
        skipped.skip_frame()
        assert (skipped.time, skipped.settled) == (drawn.time, drawn.settled)
        positions = [(a.x, a.z) for a in skipped.world.scene.actors]
        assert positions == [(a.x, a.z) for a in drawn.world.scene.actors]
        seen.add(drawn.settled)
    assert seen == {True, False}  # people walked in and out, and the two agreed throughout


def _run(stream: Stream, until: float) -> np.ndarray:
    assert stream.time < until
    while stream.time < until:
        frame = stream.next_frame()
    return frame


def test_events_happen_in_their_spans():
    stream = Stream("group:16", seed=5, events=[("lights", 1.0), ("chair", 3.0), ("fall", 4.0), ("run", 11.5)], **TINY)
    spans = {e["kind"]: (e["start"], e["end"]) for e in stream.describe()["events"]}
    bright = _run(stream, 0.9).mean()
    dark = _run(stream, spans["lights"][0] + 1.0).mean()
    assert dark < 0.4 * bright and stream.events_at(spans["lights"][0] + 1.0) == ["lights"]
    _run(stream, spans["chair"][0] + 1.0)
    chair = next(e for e in stream.events if e.kind == "chair")
    assert stream.world.room.items[chair.target].tilt == pytest.approx(math.pi / 2)
    _run(stream, spans["fall"][0] + 1.5)
    fall = next(e for e in stream.events if e.kind == "fall")
    faller = next(a for a in stream.world.scene.actors if a.pid == fall.target)
    assert faller.fall == 1.0
    _run(stream, spans["fall"][1] + 0.5)
    assert faller.fall < 0.5, "they get up again"
    _run(stream, spans["run"][0] + 1.0)
    run = next(e for e in stream.events if e.kind == "run")
    runner = next(a for a in stream.world.scene.actors if a.pid == run.target)
    assert runner.role.speed > 2.0 and runner.walk > 0.5
    _run(stream, spans["run"][1] + 0.5)
    assert run.target not in {a.pid for a in stream.world.scene.actors}, "the runner has left"


def test_scheduled_events_avoid_empty_rooms_for_falls():
    stream = Stream("empty:30,solo:20", seed=3, events=["fall", "lights", "run", "chair"], **TINY)
    fall = next(e for e in stream.events if e.kind == "fall")
    assert stream.truth_at(fall.start) == "solo" and fall.end > fall.start
    with pytest.raises(UserError, match="fall"):
        Stream("empty:30", events=["fall"], **TINY)
    with pytest.raises(UserError, match="explode"):
        Stream("solo:30", events=["explode"], **TINY)


def test_sim_camera_runs_faster_than_real_time_with_scene_timestamps():
    camera = SimCamera("sim-cam", "presentation:2,group:2", speed=20.0, loop=False, **TINY)
    started = time.monotonic()
    frames = list(camera.frames())
    wall = time.monotonic() - started
    assert len(frames) == 32
    assert [f.timestamp for f in frames] == pytest.approx([k / 8 for k in range(32)])
    assert 4.0 / 20 * 0.9 <= wall < 3.0
    assert camera.truth_at(frames[10].timestamp) == "presentation" and camera.truth_at(frames[20].timestamp) == "group"
    assert frames[0].image.shape == (48, 48, 3) and frames[0].wall_time.tzinfo is not None


def test_sim_camera_loops_and_closes_from_another_thread():
    camera = SimCamera.from_config(
        "cam", SimSourceConfig(timeline="solo:1,empty:1", fps=8, width=48, height=48), speed=0
    )
    assert camera.status == "online"
    stamps = []
    threading.Timer(0.5, camera.close).start()
    for frame in camera.frames():
        stamps.append(frame.timestamp)
    assert camera.status == "offline"
    assert len(stamps) > 16, "the timeline loops: a camera does not run out"
    assert camera.truth_at(2.5) == "solo" and camera.truth_at(3.5) == "empty"


@pytest.mark.parametrize(
    "args",
    [
        ["--out", "{tmp}/d", "--size", "10x10"],
        ["--out", "{tmp}/d", "--size", "big"],
        ["--out", "{tmp}/d", "-n", "0"],
        ["--out", "{tmp}/d", "--modes", "group,party"],
        ["--out", "{tmp}/d", "--fps", "0"],
        [],
        ["--stream", "--timeline", "group:", "--out", "{tmp}/s.mp4"],
        ["--stream", "--timeline", "group:10"],
        ["--stream", "--timeline", "group:10", "--events", "explode", "--out", "{tmp}/s.mp4"],
        ["--stream", "--timeline", "group:10", "--out", "{tmp}/s.avi"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(cli, tmp_path, args):
    result = cli("simulate", *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "d" / "manifest.json").exists()


def test_cli_dataset_sheet_and_stream(cli, tmp_path):
    result = cli(
        "simulate", "--out", tmp_path / "d", "-n", "1", "--seconds", "0.5", "--fps", "8", "--size", "48x48",
        "--modes", "solo,group", "--contact-sheet", tmp_path / "sheet.png", "--sheet-clips", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["modes"] == ["solo", "group"]
    assert (tmp_path / "sheet.png").exists() and paths["contact_sheet"].endswith("sheet.png")
    result = cli("simulate", "--stream", "--timeline", "solo:10", "--events", "lights", "--fps", "4",
                 "--size", "48x48", "--out", tmp_path / "s.mp4")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["events"][0]["kind"] == "lights"
