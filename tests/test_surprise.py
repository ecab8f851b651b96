"""Surprise: no future leakage into the prediction, and per-camera calibration into levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import torch

from classroom_mode.config import SurpriseThresholds
from classroom_mode.model.surprise import SurpriseCalibrator, SurpriseModel, robust_score
from jepa_helpers import pixel_batch, tiny_model

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _TinyBackbone:
    """The attributes SurpriseModel reads from a loaded Backbone, around a tiny random model."""

    def __init__(self) -> None:
        self.model = tiny_model()
        self.device = torch.device("cpu")
        self.frames_per_clip = 8

    def preprocess(self, clips):  # pragma: no cover - tensors are passed directly in these tests
        raise NotImplementedError


@pytest.fixture(scope="module")
def surprise() -> SurpriseModel:
    return SurpriseModel(_TinyBackbone())


def test_changing_future_frames_changes_the_error_but_not_the_context_or_prediction(surprise):
    assert surprise.context_frames == 4
    pixels = pixel_batch()
    future_changed = pixels.clone()
    future_changed[:, 4:] = torch.randn_like(future_changed[:, 4:])

    torch.testing.assert_close(surprise.context_tokens(future_changed), surprise.context_tokens(pixels), rtol=0, atol=0)
    predicted, target = surprise.predict_future(pixels)
    predicted_changed, target_changed = surprise.predict_future(future_changed)
    torch.testing.assert_close(predicted_changed, predicted, rtol=0, atol=0)
    assert not torch.allclose(target_changed, target)
    energies, energies_changed = surprise.energy(pixels), surprise.energy(future_changed)
    assert all(abs(a - b) > 1e-4 for a, b in zip(energies, energies_changed, strict=True))


def test_changing_context_frames_changes_the_prediction(surprise):
    pixels = pixel_batch()
    context_changed = pixels.clone()
    context_changed[:, :4] = torch.randn_like(context_changed[:, :4])
    assert not torch.allclose(surprise.predict_future(context_changed)[0], surprise.predict_future(pixels)[0])


def test_energy_is_the_mean_l1_over_last_frame_tokens(surprise):
    pixels = pixel_batch(batch=3)
    predicted, target = surprise.predict_future(pixels)
    assert predicted.shape == target.shape == (3, 2 * 16, 48)  # 2 of 4 tubelets predicted, 4 × 4 tokens each
    expected = (predicted - target).abs().mean(dim=(1, 2))
    assert surprise.energy(pixels) == pytest.approx(expected.tolist())


def test_context_length_is_checked():
    with pytest.raises(ValueError, match="context_tubelets"):
        SurpriseModel(_TinyBackbone(), context_tubelets=4)


def _feed(calibrator: SurpriseCalibrator, camera: str, energies: list[float]):
    return [calibrator.update(camera, e, T0 + timedelta(seconds=i)) for i, e in enumerate(energies)]


def test_levels_follow_the_robust_score_once_the_baseline_is_full():
    calibrator = SurpriseCalibrator(SurpriseThresholds(unusual=3.0, anomaly=6.0, min_baseline=5))
    baseline = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]
    readings = _feed(calibrator, "cam", baseline)
    assert all(r.level == "normal" for r in readings)
    assert readings[0].baseline is None and readings[-1].baseline == pytest.approx(1.0)
    scale = 1.4826 * 0.05  # median 1.0, MAD 0.05
    assert calibrator.update("cam", 1.0 + 4 * scale, T0).level == "unusual"
    anomaly = calibrator.update("cam", 1.0 + 10 * scale, T0)
    assert anomaly.level == "anomaly" and anomaly.score > 6
    assert calibrator.update("cam", 0.5, T0).level == "normal"  # less surprising than usual is not an event


def test_too_few_readings_are_normal_but_still_scored():
    calibrator = SurpriseCalibrator(SurpriseThresholds(min_baseline=10))
    readings = _feed(calibrator, "cam", [1.0, 1.1, 0.9, 50.0])
    assert readings[-1].level == "normal" and readings[-1].score > 100
    assert readings[0].score == 0.0


def test_cameras_keep_separate_baselines_and_a_bounded_window():
    calibrator = SurpriseCalibrator(SurpriseThresholds(min_baseline=3, baseline_window=5))
    _feed(calibrator, "quiet", [1.0, 1.01, 0.99, 1.0])
    _feed(calibrator, "busy", [5.0, 5.5, 4.5, 5.0])
    assert calibrator.update("busy", 5.2, T0).level == "normal"
    assert calibrator.update("quiet", 5.2, T0).level == "anomaly"
    _feed(calibrator, "quiet", [5.2] * 5)  # the window forgets the old scene
    assert calibrator.update("quiet", 5.2, T0).level == "normal"


def test_non_finite_energy_is_refused_and_identical_energies_do_not_divide_by_zero():
    calibrator = SurpriseCalibrator()
    with pytest.raises(ValueError, match="finite"):
        calibrator.update("cam", float("nan"), T0)
    score, centre = robust_score(2.0, [1.0] * 20)
    assert centre == 1.0 and score == pytest.approx(50.0)  # scale floored at 2 % of the median


def test_a_live_window_runs_the_encoder_over_the_full_clip_once_and_the_energy_is_unchanged():
    """The live loop's window: the embedding's encoder pass is also the surprise model's target pass."""
    from classroom_mode.model.backbone import load_backbone
    from classroom_mode.service.analysis import LocalEncoder
    from live_helpers import T0 as LIVE_T0
    from live_helpers import CentroidProbe, flat_clip

    backbone = load_backbone("config:tiny", device="cpu")
    clip = flat_clip("cam", 120, LIVE_T0)
    scorer = SurpriseModel(backbone)
    expected = scorer.energy([clip])[0]  # targets from its own pass
    pooled = backbone.embed([clip])[0].pooled
    encoder = LocalEncoder(backbone, {"r": CentroidProbe({"a": pooled, "b": -pooled})}, scorer)
    full_passes = []
    hook = backbone.model.encoder.register_forward_hook(lambda *_: full_passes.append(1))
    try:
        analysis = encoder.analyse(clip, "r")
    finally:
        hook.remove()
    assert len(full_passes) == 1  # the context frames' pass runs the encoder's layers, not its forward
    assert analysis.energy == pytest.approx(expected, rel=1e-5)
