"""A labelled dataset recorded in one simulated room: the per-room probe's training data, as a user records it."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest

from classroom_mode.errors import UserError
from classroom_mode.model.probes.dataset import group_of
from classroom_mode.sim.room_dataset import SettledClips, calibration_timeline, generate_room_dataset
from classroom_mode.sim.stream import Stream
from classroom_mode.video.dataset import list_labelled_clips
from classroom_mode.video.decode import sample_clip


def test_calibration_timeline_visits_every_mode_each_round_never_twice_in_a_row():
    modes = ["empty", "solo", "group", "presentation"]
    segments = calibration_timeline(modes, visits=3, visit_s=20.0, seed=5)
    assert len(segments) == 12
    for k in range(3):
        assert sorted(m for m, _ in segments[4 * k : 4 * k + 4]) == sorted(modes)
    assert all(a[0] != b[0] for a, b in pairwise(segments))


def test_room_dataset_layout_sessions_and_room(tmp_path):
    recording = SettledClips(3, seed=42, seconds=1.0, fps=4.0, size=(64, 48), visit_s=20.0, settle_s=1.0)
    manifest = generate_room_dataset(tmp_path, recording, camera_id="cam")
    clips = list_labelled_clips(tmp_path)
    by_mode = {m: [c for c in clips if c.label == m] for m in ("empty", "solo", "group", "presentation")}
    assert {m: len(c) for m, c in by_mode.items()} == dict.fromkeys(by_mode, 3)
    sessions = {group_of(c.path, "session") for c in clips}
    assert len(sessions) == 4  # one 20 s visit holds all three 1 s clips once the room has settled
    assert all(len({group_of(c.path, "session") for c in group}) == 1 for group in by_mode.values())
    clip = sample_clip(by_mode["group"][0].path, 4)
    assert clip.frames.shape == (4, 48, 64, 3)
    recorded = json.loads(manifest.read_text())
    assert recorded["params"]["seed"] == 42 and len(recorded["clips"]) == 12
    heads = {clip["mode"]: clip["num_people"] for clip in recorded["clips"]}  # what the person counter reads
    assert heads["empty"] == 0 and heads["solo"] == 1 and heads["group"] >= 2
    # the room is the seed's: the same one a live SimCamera with that seed shows
    assert recorded["room"]["camera"] == Stream("group:1", fps=4.0, size=(64, 48), seed=42).describe()["camera"]


def test_clips_are_cut_only_from_a_settled_room(tmp_path):
    """A clip cut while people still walk in or out would show one mode under another's label."""
    manifest = json.loads(
        generate_room_dataset(
            tmp_path, SettledClips(2, seed=7, seconds=1.0, fps=4.0, size=(48, 48), visit_s=20.0, settle_s=0.5)
        ).read_text()
    )
    timeline = [(span["mode"], span["end"] - span["start"]) for span in manifest["room"]["timeline"]]
    assert manifest["room"]["duration"] == sum(seconds for _, seconds in timeline)  # the visits played, no more
    replay = Stream(timeline, fps=4.0, size=(48, 48), seed=7)
    starts = sorted(clip["start"] for clip in manifest["clips"])
    unsettled_seen = False
    while starts:
        if abs(replay.time - starts[0]) < 1e-9:
            starts.pop(0)
            for _ in range(4):  # every frame of the clip
                assert replay.settled
                replay.next_frame()
        else:
            unsettled_seen |= not replay.settled
            replay.next_frame()
    assert unsettled_seen, "the timeline has changes that take time; they were skipped, not absent"


def test_room_dataset_says_so_when_a_mode_never_settles_in_a_visit(tmp_path):
    with pytest.raises(UserError, match=r"rarely settled into .*group.*use longer visits"):
        recording = SettledClips(
            2, seed=1, seconds=1.0, fps=4.0, size=(48, 48), visit_s=2.0, settle_s=0.5, modes=["group", "solo"]
        )
        generate_room_dataset(tmp_path, recording)


def test_room_dataset_refuses_a_visit_too_short_for_a_clip(tmp_path):
    with pytest.raises(UserError, match="too short"):
        generate_room_dataset(
            tmp_path, SettledClips(2, seed=1, seconds=3.0, fps=4.0, size=(64, 64), visit_s=4.0, settle_s=2.0)
        )


def test_a_recording_says_which_settings_made_it(tmp_path):
    """What the demo and the per-room benchmark ask before reusing clips instead of recording again."""
    from classroom_mode.sim.manifest import previous_recording, recorded_with

    settings = {"seed": 4, "seconds": 1.0, "fps": 4.0, "size": (48, 48), "visit_s": 20.0, "settle_s": 1.0}
    recording = SettledClips(1, **settings)
    assert previous_recording(tmp_path) is None and not recorded_with(None, recording.params)
    generate_room_dataset(tmp_path, recording)
    manifest = previous_recording(tmp_path)
    assert recorded_with(manifest, SettledClips(1, **settings).params)
    assert not recorded_with(manifest, SettledClips(2, **settings).params)
    assert not recorded_with(manifest, SettledClips(1, **{**settings, "settle_s": 2.0}).params)
    (tmp_path / "manifest.json").write_text('{"generator": "someone else", "params": {"seed": 4}}')
    assert previous_recording(tmp_path) is None


def test_the_ceilings_person_masks_belong_to_exactly_the_recorded_clips():
    settings = {"seed": 3, "seconds": 1.0, "fps": 4.0, "size": (48, 48), "visit_s": 20.0, "settle_s": 1.0}
    plain = list(SettledClips(2, **settings))
    masked = list(SettledClips(2, with_people=True, **settings))
    assert [(c.mode, c.index, c.visit, c.start) for c in plain] == [(c.mode, c.index, c.visit, c.start) for c in masked]
    assert all(np.array_equal(a.frames, b.frames) and a.people is None for a, b in zip(plain, masked, strict=True))
    for clip in masked:
        assert clip.people is not None and clip.people.shape == (4, 48, 48)
        assert clip.people.any() == (clip.mode != "empty") and (clip.num_people == 1) == (clip.mode == "solo")
