"""The room mode state machine: smoothing, hysteresis, `uncertain`, consensus strategies, staleness, display."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from classroom_mode.config import ConfigErrors, HmmSettings, ModeConfig, Thresholds, parse_config
from classroom_mode.modes import CameraView, EmaTracker, HmmTracker, RoomModel, describe, elect
from classroom_mode.modes.scoring import Change, ScoredWindow, score_following
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
    base = {
        "estimator": "ema",
        "smoothing_alpha": 1.0,
        "consecutive_windows": 2,
        "enter_probability": 0.99,
        "stale_after_s": 60,
    }
    return Thresholds(**{**base, **overrides})


def feed(tracker: EmaTracker | HmmTracker, probabilities: list[dict[str, float]]) -> list[str | None]:
    return [tracker.update(reading("cam", T0, p)).mode for p in probabilities]


def test_ema_smooths_probabilities():
    tracker = EmaTracker("cam", thresholds(smoothing_alpha=0.25))
    tracker.update(reading("cam", T0, {"lab": 1.0, "exam": 0.0}))
    view = tracker.update(reading("cam", T0, {"lab": 0.0, "exam": 1.0}))
    assert view.probabilities == pytest.approx({"lab": 0.75, "exam": 0.25})


def test_ema_handles_classes_appearing_later():
    tracker = EmaTracker("cam", thresholds(smoothing_alpha=0.5))
    tracker.update(reading("cam", T0, {"lab": 1.0}))
    view = tracker.update(reading("cam", T0, {"exam": 1.0}))
    assert view.probabilities == pytest.approx({"lab": 0.5, "exam": 0.5})


def test_new_mode_needs_consecutive_wins():
    tracker = EmaTracker("cam", thresholds(consecutive_windows=3))
    modes = feed(tracker, [one_hot("lab", MODES)] * 3 + [one_hot("exam", MODES)] * 2 + [one_hot("lab", MODES)])
    assert modes == [None, None, "lab", "lab", "lab", "lab"]


def test_an_interrupted_streak_starts_again():
    tracker = EmaTracker("cam", thresholds(consecutive_windows=2))
    seq = ["lab", "lab", "exam", "lecture", "exam", "exam"]
    assert feed(tracker, [one_hot(m, MODES) for m in seq]) == [None, "lab", "lab", "lab", "lab", "exam"]


def test_enter_probability_accepts_at_once():
    tracker = EmaTracker("cam", thresholds(consecutive_windows=5, enter_probability=0.8))
    assert feed(tracker, [one_hot("lab", MODES, 0.7), one_hot("exam", MODES, 0.85)]) == [None, "exam"]


def test_uncertain_never_flips_by_itself():
    tracker = EmaTracker("cam", thresholds(consecutive_windows=1, enter_probability=0.6))
    feed(tracker, [one_hot("lab", MODES)])
    # the probe said `uncertain` (top probability under its threshold) even though `exam` leads
    uncertain = [reading("cam", T0, one_hot("exam", MODES, 0.45), uncertain_below=0.5)] * 5
    assert {tracker.update(r).mode for r in uncertain} == {"lab"}
    assert all(r.label == UNCERTAIN for r in uncertain)


def test_uncertain_readings_still_move_the_average():
    tracker = EmaTracker("cam", thresholds(smoothing_alpha=0.5, consecutive_windows=1, enter_probability=0.95))
    feed(tracker, [one_hot("lab", MODES, 0.9)])
    view = tracker.update(reading("cam", T0, one_hot("exam", MODES, 0.45)))
    assert view.mode == "lab"
    assert view.probabilities["exam"] > 0.05


def test_uncertain_first_reading_leaves_camera_without_mode():
    tracker = EmaTracker("cam", thresholds(consecutive_windows=1))
    view = tracker.update(reading("cam", T0, one_hot("lab", MODES, 0.4)))
    assert view.mode is None and view.confidence == 0.0


def test_smoothing_suppresses_a_single_glitch():
    # a one-window glitch wins the raw argmax but not the smoothed one
    tracker = EmaTracker("cam", thresholds(smoothing_alpha=0.4, consecutive_windows=1))
    seq = [one_hot("lab", MODES, 0.9)] * 3 + [one_hot("exam", MODES, 0.9)] + [one_hot("lab", MODES, 0.9)] * 2
    assert set(feed(tracker, seq)[2:]) == {"lab"}


def hmm(window_s: float = 10.0, **settings) -> HmmTracker:
    return HmmTracker("cam", HmmSettings(**{"dwell_s": 120.0, "change_posterior": 0.6, **settings}), window_s)


def test_hmm_one_sure_reading_sets_the_mode_and_the_posterior_is_a_distribution():
    tracker = hmm()
    assert feed(tracker, [one_hot("lab", MODES, 0.5)]) == [None]  # 0.5 from no opinion: under change_posterior
    view = tracker.update(reading("cam", T0, one_hot("lab", MODES, 0.9)))
    assert view.mode == "lab"
    assert sum(view.probabilities.values()) == pytest.approx(1.0)
    assert view.probabilities["lab"] > 0.9  # two readings for `lab` are surer than either


def test_hmm_a_single_contrary_reading_does_not_flip_a_settled_mode_but_a_run_of_them_does():
    modes = feed(hmm(), [one_hot("lab", MODES, 0.8)] * 6 + [one_hot("exam", MODES, 0.8)] * 3)
    assert modes[:7] == ["lab"] * 7
    assert modes[-1] == "exam"


def test_hmm_a_longer_dwell_needs_more_evidence_to_change():
    def windows_to_change(dwell_s: float) -> int:
        tracker = hmm(dwell_s=dwell_s)
        feed(tracker, [one_hot("lab", MODES, 0.8)] * 10)
        return next(
            i for i in range(1, 50) if tracker.update(reading("cam", T0, one_hot("exam", MODES, 0.8))).mode == "exam"
        )

    assert windows_to_change(20.0) < windows_to_change(2000.0)


def test_hmm_stay_prior_comes_from_the_dwell_and_the_window():
    # no evidence at all (an uncertain reading of weight 0): the belief only drifts toward no opinion
    short, long = hmm(window_s=5.0, uncertain_weight=0.0), hmm(window_s=30.0, uncertain_weight=0.0)
    for tracker in (short, long):
        feed(tracker, [one_hot("lab", MODES, 0.95)])
    before = short.view.probabilities["lab"]
    assert long.view.probabilities["lab"] == pytest.approx(before)
    nothing = reading("cam", T0, one_hot("exam", MODES, 0.4))
    assert nothing.label == UNCERTAIN
    after_short, after_long = (t.update(nothing).probabilities["lab"] for t in (short, long))
    assert 1 / len(MODES) < after_long < after_short < before


def test_hmm_an_uncertain_reading_is_weaker_evidence():
    def posterior(uncertain_below: float, weight: float) -> float:
        tracker = hmm(uncertain_weight=weight)
        feed(tracker, [one_hot("lab", MODES, 0.7)])
        return tracker.update(reading("cam", T0, one_hot("exam", MODES, 0.45), uncertain_below)).probabilities["exam"]

    trusted = posterior(0.4, 0.5)  # 0.45 is over 0.4: an ordinary reading
    assert posterior(0.5, 0.0) < posterior(0.5, 0.5) < trusted
    assert posterior(0.5, 1.0) == pytest.approx(trusted)


def test_hmm_a_reading_without_probabilities_keeps_the_belief():
    tracker = hmm()
    before = dict(tracker.update(reading("cam", T0, one_hot("lab", MODES, 0.9))).probabilities)
    later = T0 + timedelta(seconds=10)
    view = tracker.update(reading("cam", later, {"lab": 1.0}).model_copy(update={"probabilities": {}}))
    assert view.probabilities == before and view.mode == "lab" and view.last_reading_at == later


def test_hmm_starts_over_when_the_probe_brings_other_classes():
    tracker = hmm()
    feed(tracker, [one_hot("lab", MODES, 0.9)] * 3)
    view = tracker.update(reading("cam", T0, {"lab": 0.3, "gym": 0.7}))
    assert set(view.probabilities) == {"lab", "gym"}
    assert view.probabilities["gym"] == pytest.approx(0.7)


def test_room_runs_the_estimator_the_config_names():
    clock = FakeClock()
    model = room(clock, estimator="hmm", hmm={"dwell_s": 60.0, "change_posterior": 0.7})
    assert all(isinstance(t, HmmTracker) for t in model.trackers.values())
    assert model.trackers["a"].stay == pytest.approx(math.exp(-10.0 / 60.0))
    state = model.observe(reading("a", clock.now, one_hot("lab", MODES, 0.8)))
    assert (state.mode, state.cameras) == ("lab", ["a"])
    assert isinstance(room(clock).trackers["a"], EmaTracker)


@pytest.mark.parametrize(
    ("yaml", "field"),
    [
        ("thresholds: {estimator: kalman}", "thresholds.estimator"),
        ("thresholds: {hmm: {dwell_s: 0}}", "thresholds.hmm.dwell_s"),
        ("thresholds: {hmm: {dwell_s: -30}}", "thresholds.hmm.dwell_s"),
        ("thresholds: {hmm: {change_posterior: 1.0}}", "thresholds.hmm.change_posterior"),
        ("thresholds: {hmm: {change_posterior: 0}}", "thresholds.hmm.change_posterior"),
        ("thresholds: {hmm: {uncertain_weight: 1.5}}", "thresholds.hmm.uncertain_weight"),
    ],
)
def test_bad_estimator_settings_name_the_field(yaml, field):
    with pytest.raises(ConfigErrors) as caught:
        parse_config(yaml, "room.yaml")
    assert caught.value.problems[0].startswith(f"{field}: ")
    assert str(caught.value).startswith(f"room.yaml: {field}: ")


def test_a_config_of_the_moving_average_keys_still_loads_and_runs_them_with_estimator_ema():
    keys = "smoothing_alpha: 0.3, consecutive_windows: 3, enter_probability: 0.9"
    assert parse_config(f"thresholds: {{{keys}}}").thresholds.consecutive_windows == 3
    thresholds = parse_config(f"thresholds: {{estimator: ema, {keys}}}").thresholds
    model = RoomModel("r1", {"a": 10.0}, MODE_CONFIG, thresholds, clock=FakeClock())
    tracker = model.trackers["a"]
    assert isinstance(tracker, EmaTracker) and tracker.thresholds.smoothing_alpha == 0.3


def scored(rows: str) -> list[ScoredWindow]:
    """'truth reading room settled' per window, 5 s apart, e.g. 'lab lab lab 1'."""
    out = []
    for i, row in enumerate(rows.split(",")):
        truth, reading_, room_mode, settled = row.split()
        out.append(ScoredWindow(5.0 * (i + 1), truth, reading_, room_mode, settled == "1"))
    return out


def test_following_scores_agreement_latency_and_false_flips():
    windows = scored(
        "lab lab lab 1, lab lab lab 1, lab exam exam 1,"  # 15 s: a wrong reading flips the room early (false)
        "exam lab lab 0, exam lab lab 1,"  # back to lab although the truth is exam now (false)
        "exam exam exam 1, exam exam exam 1, exam exam exam 1"  # 30 s: exam again, 8 s after the room settled
    )
    score = score_following(windows, [Change(at=15.0, settled_at=22.0)], window_s=5.0)
    assert score.settled_windows == 7
    assert score.agreement == pytest.approx(5 / 7)  # 5, 10, 30, 35 and 40 s
    assert score.reading_accuracy == pytest.approx(5 / 7)  # 5, 10, 30, 35, 40 s: the smoothing cost nothing
    assert score.loss_points == pytest.approx(0.0)
    assert score.agreement_all == pytest.approx(5 / 8)
    assert score.latencies_s == (8.0,) and score.latency_s(50) == 8.0
    # the room was in exam when the truth changed, so leaving it and coming back is a flicker: two more
    assert score.false_flips == 3 and score.hours == pytest.approx(40 / 3600)
    assert score.false_flips_per_hour == pytest.approx(3 / (40 / 3600))
    assert [line.split(":")[0] for line in score.lines()] == [
        "settled windows",
        "latency from the room settling into a new mode to the room's mode following",
        "false flips",
    ]


def test_following_counts_a_change_never_followed_as_missed_and_one_followed_early_as_zero():
    windows = scored(
        "lab lab lab 1, exam exam exam 0, exam exam exam 1, lab lab exam 0, lab lab exam 1, lab lab exam 1"
    )
    changes = [Change(at=5.0, settled_at=12.0), Change(at=15.0, settled_at=19.0)]
    score = score_following(windows, changes, window_s=5.0)
    assert score.latencies_s == (0.0, math.inf)  # exam at 10 s, before the room settled; lab never
    assert score.missed == 1 and score.latency_s(90) == math.inf
    assert score.false_flips == 0  # lab → exam was the arrival after the first change; nothing else moved


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
    return RoomModel("r1", {"a": 10.0, "b": 10.0}, MODE_CONFIG, thresholds(**overrides), strategy=strategy, clock=clock)


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
