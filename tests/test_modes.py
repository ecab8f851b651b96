"""The room mode state machine: smoothing, hysteresis, `uncertain`, consensus strategies, staleness, display."""

from __future__ import annotations

import pytest

from classroom_mode.config import ModeConfig, Thresholds
from classroom_mode.modes import CameraTracker, CameraView, RoomModel, describe, elect
from classroom_mode.records import UNCERTAIN
from live_helpers import T0, FakeClock, one_hot, reading

# deliberately not the default four: nothing may assume them
MODES = ["lab", "exam", "lecture"]
MODE_CONFIG = {
    "lab": ModeConfig(display_name="Lab work", emoji="🧪", ambience="lo-fi"),
    "exam": ModeConfig(display_name="Exam", emoji="📝", ambience="silence"),
    "lecture": ModeConfig(display_name="Lecture", emoji="🎓", ambience="silence"),
}


def thresholds(**overrides) -> Thresholds:
    base = {"smoothing_alpha": 1.0, "consecutive_windows": 2, "enter_probability": 0.99, "stale_after_s": 60}
    return Thresholds(**{**base, **overrides})


def feed(tracker: CameraTracker, probabilities: list[dict[str, float]]) -> list[str | None]:
    return [tracker.update(reading("cam", T0, p)).mode for p in probabilities]


def test_ema_smooths_probabilities():
    tracker = CameraTracker("cam", thresholds(smoothing_alpha=0.25))
    tracker.update(reading("cam", T0, {"lab": 1.0, "exam": 0.0}))
    view = tracker.update(reading("cam", T0, {"lab": 0.0, "exam": 1.0}))
    assert view.probabilities == pytest.approx({"lab": 0.75, "exam": 0.25})


def test_ema_handles_classes_appearing_later():
    tracker = CameraTracker("cam", thresholds(smoothing_alpha=0.5))
    tracker.update(reading("cam", T0, {"lab": 1.0}))
    view = tracker.update(reading("cam", T0, {"exam": 1.0}))
    assert view.probabilities == pytest.approx({"lab": 0.5, "exam": 0.5})


def test_new_mode_needs_consecutive_wins():
    tracker = CameraTracker("cam", thresholds(consecutive_windows=3))
    modes = feed(tracker, [one_hot("lab", MODES)] * 3 + [one_hot("exam", MODES)] * 2 + [one_hot("lab", MODES)])
    assert modes == [None, None, "lab", "lab", "lab", "lab"]


def test_an_interrupted_streak_starts_again():
    tracker = CameraTracker("cam", thresholds(consecutive_windows=2))
    seq = ["lab", "lab", "exam", "lecture", "exam", "exam"]
    assert feed(tracker, [one_hot(m, MODES) for m in seq]) == [None, "lab", "lab", "lab", "lab", "exam"]


def test_enter_probability_accepts_at_once():
    tracker = CameraTracker("cam", thresholds(consecutive_windows=5, enter_probability=0.8))
    assert feed(tracker, [one_hot("lab", MODES, 0.7), one_hot("exam", MODES, 0.85)]) == [None, "exam"]


def test_uncertain_never_flips_by_itself():
    tracker = CameraTracker("cam", thresholds(consecutive_windows=1, enter_probability=0.6))
    feed(tracker, [one_hot("lab", MODES)])
    # the probe said `uncertain` (top probability under its threshold) even though `exam` leads
    uncertain = [reading("cam", T0, one_hot("exam", MODES, 0.45), uncertain_below=0.5)] * 5
    assert {tracker.update(r).mode for r in uncertain} == {"lab"}
    assert all(r.label == UNCERTAIN for r in uncertain)


def test_uncertain_readings_still_move_the_average():
    tracker = CameraTracker("cam", thresholds(smoothing_alpha=0.5, consecutive_windows=1, enter_probability=0.95))
    feed(tracker, [one_hot("lab", MODES, 0.9)])
    view = tracker.update(reading("cam", T0, one_hot("exam", MODES, 0.45)))
    assert view.mode == "lab"
    assert view.probabilities["exam"] > 0.05


def test_uncertain_first_reading_leaves_camera_without_mode():
    tracker = CameraTracker("cam", thresholds(consecutive_windows=1))
    view = tracker.update(reading("cam", T0, one_hot("lab", MODES, 0.4)))
    assert view.mode is None and view.confidence == 0.0


def test_smoothing_suppresses_a_single_glitch():
    # a one-window glitch wins the raw argmax but not the smoothed one
    tracker = CameraTracker("cam", thresholds(smoothing_alpha=0.4, consecutive_windows=1))
    seq = [one_hot("lab", MODES, 0.9)] * 3 + [one_hot("exam", MODES, 0.9)] + [one_hot("lab", MODES, 0.9)] * 2
    assert set(feed(tracker, seq)[2:]) == {"lab"}


def view(camera: str, mode: str | None, probabilities: dict[str, float]) -> CameraView:
    return CameraView(camera, mode, probabilities, T0)


def test_consensus_average():
    views = [view("a", "lab", {"lab": 0.6, "exam": 0.4}), view("b", "exam", {"lab": 0.3, "exam": 0.7})]
    result = elect(views, "average", current=None)
    assert result.mode == "exam"
    assert result.probabilities == pytest.approx({"lab": 0.45, "exam": 0.55})
    assert result.confidence == pytest.approx(0.55)


def test_consensus_average_only_elects_accepted_modes():
    # `lecture` leads the mean but no camera has accepted it yet: the room does not skip the hysteresis
    views = [view("a", "lab", {"lab": 0.4, "lecture": 0.6}), view("b", None, {"lab": 0.2, "lecture": 0.8})]
    assert elect(views, "average", current=None).mode == "lab"


def test_consensus_most_confident():
    views = [view("a", "lab", {"lab": 0.6, "exam": 0.4}), view("b", "exam", {"lab": 0.1, "exam": 0.9})]
    result = elect(views, "most_confident", current="lab")
    assert (result.mode, result.confidence) == ("exam", 0.9)
    assert result.probabilities == {"lab": 0.1, "exam": 0.9}


def test_consensus_ties_keep_the_current_mode():
    views = [view("a", "lab", {"lab": 0.8, "exam": 0.2}), view("b", "exam", {"lab": 0.2, "exam": 0.8})]
    for strategy in ("average", "most_confident"):
        assert elect(views, strategy, current="exam").mode == "exam"
        assert elect(views, strategy, current="lab").mode == "lab"


def test_consensus_agreement():
    agree = [view("a", "lab", {"lab": 0.9}), view("b", "lab", {"lab": 0.7}), view("c", None, {"exam": 1.0})]
    assert elect(agree, "agreement", current="exam").mode == "lab"
    disagree = [view("a", "lab", {"lab": 0.9}), view("b", "exam", {"exam": 0.9})]
    assert elect(disagree, "agreement", current="exam").mode == "exam"
    assert elect(disagree, "agreement", current=None).mode is None


def test_consensus_with_no_voter():
    result = elect([view("a", None, {"lab": 0.4})], "average", current="lab")
    assert result.mode is None and result.confidence == 0.0


def room(clock: FakeClock, strategy: str = "average", **overrides) -> RoomModel:
    return RoomModel("r1", ["a", "b"], MODE_CONFIG, thresholds(**overrides), strategy=strategy, clock=clock)


def test_room_state_carries_display_and_cameras():
    clock = FakeClock()
    model = room(clock, consecutive_windows=1)
    state = model.observe(reading("a", clock.now, one_hot("lab", MODES)))
    assert (state.mode, state.display_name, state.emoji, state.ambience) == ("lab", "Lab work", "🧪", "lo-fi")
    assert state.cameras == ["a"] and state.offline_cameras == [] and not state.stale
    assert state.since == clock.now and state.updated_at == clock.now
    assert state.confidence == pytest.approx(0.9)


def test_room_starts_uncertain():
    clock = FakeClock()
    state = room(clock).state()
    assert state.mode == UNCERTAIN and state.ambience == "unchanged" and state.stale
    assert state.cameras == []


def test_room_since_moves_only_on_change():
    clock = FakeClock()
    model = room(clock, consecutive_windows=1)
    model.observe(reading("a", clock.now, one_hot("lab", MODES)))
    started = clock.now
    clock.advance(10)
    assert model.observe(reading("a", clock.now, one_hot("lab", MODES))).since == started
    clock.advance(10)
    state = model.observe(reading("a", clock.now, one_hot("exam", MODES)))
    assert (state.mode, state.since) == ("exam", clock.now)


def test_stale_camera_stops_contributing():
    clock = FakeClock()
    model = room(clock, strategy="most_confident", consecutive_windows=1, stale_after_s=30)
    model.observe(reading("a", clock.now, one_hot("lab", MODES, 0.95)))
    clock.advance(20)
    state = model.observe(reading("b", clock.now, one_hot("exam", MODES, 0.7)))
    assert state.mode == "lab" and state.cameras == ["a", "b"]
    clock.advance(15)  # a's reading is now 35 s old
    state = model.state()
    assert state.mode == "exam" and state.cameras == ["b"] and not state.stale


def test_room_with_no_fresh_camera_is_stale_and_keeps_its_mode():
    clock = FakeClock()
    model = room(clock, consecutive_windows=1, stale_after_s=30)
    model.observe(reading("a", clock.now, one_hot("lab", MODES)))
    clock.advance(31)
    state = model.state()
    assert state.stale and state.mode == "lab" and state.cameras == []


def test_offline_camera_is_listed_and_excluded():
    clock = FakeClock()
    model = room(clock, strategy="most_confident", consecutive_windows=1)
    model.observe(reading("a", clock.now, one_hot("lab", MODES, 0.95)))
    model.observe(reading("b", clock.now, one_hot("exam", MODES, 0.7)))
    state = model.set_online("a", False)
    assert state.mode == "exam" and state.offline_cameras == ["a"] and state.cameras == ["b"]
    # a new reading from the camera brings it back
    state = model.observe(reading("a", clock.now, one_hot("lab", MODES, 0.95)))
    assert state.mode == "lab" and state.offline_cameras == []


def test_unknown_camera_is_rejected():
    clock = FakeClock()
    with pytest.raises(KeyError, match="ghost"):
        room(clock).observe(reading("ghost", clock.now, one_hot("lab", MODES)))


def test_naive_timestamps_are_utc():
    clock = FakeClock()
    model = room(clock, consecutive_windows=1)
    state = model.observe(reading("a", clock.now.replace(tzinfo=None), one_hot("lab", MODES)))
    assert state.mode == "lab" and not state.stale


def test_describe_unknown_modes():
    assert describe(UNCERTAIN, MODE_CONFIG).display_name == "Uncertain"
    assert describe("yoga", MODE_CONFIG).display_name == "yoga"
    assert describe("exam", MODE_CONFIG).ambience == "silence"
