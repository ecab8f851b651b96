"""The demo's scoring: windows paired with the simulator's truth and the room mode in force after them."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from itertools import islice

from classroom_mode.config import CameraConfig, ClipSettings
from classroom_mode.modes.scoring import score_following
from classroom_mode.records import ModeChange, Prediction
from classroom_mode.service.live.demo import SteppedFeed, TruthTap, agreement, commonest_share, score_windows
from classroom_mode.sim.camera import SimCamera


def _prediction(at, label="group"):
    return Prediction(camera_id="cam", at=at, label=label, confidence=0.9, probabilities={label: 0.9})


def test_truth_tap_passes_frames_and_remembers_scene_times():
    camera = SimCamera("cam", "group:1,presentation:1", fps=4, size=(64, 48), speed=0, loop=False)
    tap = TruthTap(camera)
    frames = list(tap.frames())
    assert len(frames) == 8
    assert frames[0].image.shape == (48, 64, 3)
    assert [tap.truth(f.wall_time) for f in frames] == ["group"] * 4 + ["presentation"] * 4
    assert tap.scene_time(frames[5].wall_time) == frames[5].timestamp


def test_a_stepped_feed_takes_its_windows_at_the_same_scene_times_however_slow_the_loop():
    """The demo's windows must not depend on the machine: a camera rendering as fast as it can waits for the loop."""
    camera = SimCamera("cam", "group:30", fps=4, size=(32, 32), speed=0)
    tap = TruthTap(camera, lockstep=True)
    feed = SteppedFeed(tap, CameraConfig(clip=ClipSettings(frames=4, seconds=1.0), offline_after_s=10), step_s=2.0)
    try:
        ends = []
        for pause in (0.0, 0.3, 0.0):  # a slow window: an unpaced camera would have run seconds of scene ahead
            time.sleep(pause)
            ends.append(tap.scene_time(feed.next_clip().ended_at))
        assert camera.stream.time == 6.25  # and it rendered nothing past the last window
    finally:
        feed.close()
    # a clip ends on the frame on screen at the centre of its last quarter: one frame before the window's end
    assert ends == [1.75, 3.75, 5.75]


def test_score_windows_uses_the_mode_in_force_after_each_window():
    camera = SimCamera("cam", "group:2,presentation:2", fps=2, size=(32, 32), speed=0, loop=False)
    tap = TruthTap(camera)
    frames = list(islice(tap.frames(), 8))
    ends = [frames[1].wall_time, frames[3].wall_time, frames[5].wall_time, frames[7].wall_time]
    predictions = [_prediction(at) for at in ends]
    tick = timedelta(microseconds=1)
    changes = [
        ModeChange(room="r", mode="group", at=ends[0] + tick, confidence=0.9),
        ModeChange(room="r", mode="presentation", previous="group", at=ends[3] + tick, confidence=0.9),
    ]
    windows = score_windows(predictions, changes, tap, clip_seconds=0.5)
    assert [w.truth for w in windows] == ["group", "group", "presentation", "presentation"]
    # the room switched only after the last window: three windows group, the last one presentation
    assert [w.room_mode for w in windows] == ["group", "group", "group", "presentation"]
    assert agreement(windows) == 0.75


def test_agreement_of_nothing_is_zero():
    assert agreement([]) == 0.0 and commonest_share([]) == 0.0


def test_windows_while_people_walk_in_are_marked_unsettled():
    camera = SimCamera("cam", "empty:2,group:30", fps=2, size=(32, 32), speed=0, loop=False)
    tap = TruthTap(camera)
    frames = list(tap.frames())
    ends = [frames[i].wall_time for i in (3, 5, len(frames) - 1)]  # before the change, just after, the end
    predictions = [_prediction(at) for at in ends]
    changes = [ModeChange(room="r", mode="group", at=ends[0] - timedelta(seconds=1), confidence=0.9)]
    windows = score_windows(predictions, changes, tap, clip_seconds=1.0)
    assert [w.truth for w in windows] == ["empty", "group", "group"]
    assert [w.settled for w in windows] == [True, False, True]
    assert commonest_share(windows) == 2 / 3
    assert [w.end_s for w in windows] == [tap.scene_time(at) for at in ends]
    assert [w.reading for w in windows] == ["group"] * 3


def test_the_tap_says_when_the_room_settled_after_each_change_and_the_demo_scores_the_following():
    camera = SimCamera("cam", "empty:4,group:21,solo:3", fps=2, size=(32, 32), speed=0, loop=False)
    tap = TruthTap(camera)
    frames = list(tap.frames())
    changes = tap.changes()
    assert [c.at for c in changes] == [4.0, 25.0]
    walked_in = next(f.timestamp for f in frames if f.timestamp > 4.0 and tap.settled(f.wall_time, 0.0))
    assert changes[0].settled_at == walked_in and 4.0 < walked_in < 25.0
    assert changes[1].settled_at is None  # the timeline ended with people still walking out
    ends = [f.wall_time for f in frames if f.timestamp % 5 == 4.5]  # a window every 5 s of scene
    predictions = [_prediction(at) for at in ends]
    first = ModeChange(room="r", mode="empty", at=ends[0] - timedelta(seconds=1), confidence=0.9)
    windows = score_windows(predictions, [first], tap, clip_seconds=1.0)
    following = score_following(windows, changes, 5.0)
    assert following.latencies_s == (math.inf,) and following.missed == 1  # the room stayed empty: never followed
    assert following.false_flips == 0 and following.agreement == 0.0


def test_the_demo_writes_a_dwell_in_the_wall_seconds_its_camera_plays_in(tmp_path):
    from classroom_mode.cli.demo_cmd import _write_config
    from classroom_mode.config import HmmSettings, load_config
    from classroom_mode.sim.demo_room import SMALL

    config = load_config(_write_config(tmp_path, SMALL, 0, "config:tiny", None))
    camera = config.rooms["demo-room"].cameras["sim-cam"]
    windows_per_dwell = config.thresholds.hmm.dwell_s / camera.interval_s
    assert windows_per_dwell == HmmSettings().dwell_s / SMALL.scene_interval_s


def test_demo_rerecords_when_its_settings_change_and_leaves_no_stale_clips(tmp_path):
    from classroom_mode.cli.demo_cmd import _record
    from classroom_mode.sim.demo_room import Preset

    data = tmp_path / "data"
    _record(data, Preset(2, "group:10", 5.0, 1.0), room_seed=3)
    assert len(list(data.rglob("*.mp4"))) == 8
    _record(data, Preset(1, "group:10", 5.0, 1.0), room_seed=3)
    assert len(list(data.rglob("*.mp4"))) == 4  # the earlier run's extra clips would have leaked into training


def test_the_demo_sends_the_room_to_an_mqtt_broker_only_when_one_answers(tmp_path):
    from classroom_mode.cli.demo_cmd import _reachable_broker, _write_config
    from classroom_mode.config import load_config
    from classroom_mode.service.api.ports import free_port
    from classroom_mode.sim.demo_room import SMALL
    from outputs_helpers import broker

    assert _reachable_broker(f"127.0.0.1:{free_port('127.0.0.1')}") is None
    assert load_config(_write_config(tmp_path / "a", SMALL, 0, "config:tiny", None)).outputs == {}
    with broker(tmp_path) as running:
        found = _reachable_broker(f"127.0.0.1:{running.port}")
    assert found == ("127.0.0.1", running.port)
    sink = load_config(_write_config(tmp_path / "b", SMALL, 0, "config:tiny", found)).outputs["mqtt"]
    assert (sink.kind, sink.host, sink.port) == ("mqtt", "127.0.0.1", running.port)
