"""Probe layer on synthetic embeddings: shapes, learning, honest CV, artifacts, `uncertain`, pictures."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import save_file as save_numpy
from transformers import VJEPA2Config, VJEPA2ForVideoClassification

from classroom_mode.errors import UserError
from classroom_mode.model.probes import (
    AttentiveSettings,
    CVReport,
    FeatureSet,
    cross_validate,
    fit_probe,
    load_probe,
    probe_paths,
    save_probe,
)
from classroom_mode.model.probes.attentive import AttentiveClassifier
from classroom_mode.model.probes.calibration import negative_log_likelihood
from classroom_mode.model.probes.card import BackboneRecord, Confusion, CVSummary, ProbeCard
from classroom_mode.model.probes.evaluate import data_warnings, learning_curve, make_splits
from classroom_mode.model.probes.plots import attention_png, confusion_png
from classroom_mode.records import UNCERTAIN, Embedding
from probe_helpers import MODES, session_embeddings, synthetic_embeddings

FAST = AttentiveSettings(
    max_epochs=40, patience=10, learning_rates=(1e-2, 3e-3), weight_decays=(0.01,), background="none"
)
"""The synthetic clips have no room in them (zero-mean noise), so there is no background to subtract."""
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def data() -> tuple[FeatureSet, list[str], FeatureSet, list[str]]:
    train, train_labels = synthetic_embeddings(12, signal=3.0, seed=0)
    test, test_labels = synthetic_embeddings(8, signal=3.0, seed=1)
    return FeatureSet.from_embeddings(train), train_labels, FeatureSet.from_embeddings(test), test_labels


@pytest.fixture(scope="module")
def attentive(data):
    features, labels, _, _ = data
    return fit_probe(features, labels, kind="attentive", seed=0, attentive=FAST)


def accuracy(probe, features: FeatureSet, labels: list[str]) -> float:
    predicted = np.array(probe.classes)[probe.predict_proba(features).argmax(axis=1)]
    return float((predicted == np.array(labels)).mean())


def test_attentive_classifier_shapes_and_attention_is_a_distribution():
    settings = AttentiveSettings(self_attention_layers=2, num_heads=16)
    model = AttentiveClassifier(dim=24, grid=(3, 5), n_classes=4, settings=settings)
    logits, attention = model(torch.randn(7, 15, 24))
    assert logits.shape == (7, 4) and attention.shape == (7, 15)
    torch.testing.assert_close(attention.sum(dim=1), torch.ones(7))
    assert len(model.pooler.self_attention_layers) == 2
    assert model.pooler.cross_attention_layer.cross_attn.num_heads == 12  # the largest divisor of 24 not above 16


def test_attentive_probe_tensors_are_named_as_in_the_transformers_classifier():
    settings = AttentiveSettings(self_attention_layers=1, num_heads=4)
    model = AttentiveClassifier(dim=24, grid=(3, 5), n_classes=4, settings=settings)
    config = VJEPA2Config(hidden_size=24, num_attention_heads=4, num_pooler_layers=1, num_labels=4)
    with torch.device("meta"):
        reference = VJEPA2ForVideoClassification(config).state_dict()
    ours = {name: tuple(t.shape) for name, t in model.state_dict().items() if name != "background"}
    assert ours == {
        name: tuple(t.shape) for name, t in reference.items() if name.split(".")[0] in ("pooler", "classifier")
    }


def test_fast_cross_attention_equals_the_transformers_layer():
    model = AttentiveClassifier(dim=24, grid=(3, 5), n_classes=4, settings=AttentiveSettings(num_heads=4)).double()
    with torch.no_grad():  # non-trivial LayerNorm affine and biases, so nothing passes by being zero
        for parameter in model.pooler.cross_attention_layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    hidden = torch.randn(5, 15, 24, dtype=torch.float64)
    layer = model.pooler.cross_attention_layer
    layer.cross_attn.config._attn_implementation = "eager"
    reference, weights = layer(model.pooler.query_tokens.expand(5, -1, -1), hidden)
    pooled, attention = model.cross_attend(hidden)
    # float64 throughout, except that transformers' eager attention takes its softmax in float32
    torch.testing.assert_close(pooled, reference.squeeze(1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(attention, weights.squeeze(2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "prototype"])
def test_pooled_probes_learn_held_out_clips(data, kind):
    features, labels, test, test_labels = data
    probe = fit_probe(features, labels, kind=kind)
    assert probe.kind == kind and probe.classes == sorted(MODES)
    assert accuracy(probe, test, test_labels) > 0.8


def test_attentive_probe_learns_and_keeps_the_best_grid_head(attentive, data):
    _, _, test, test_labels = data
    assert accuracy(attentive, test, test_labels) > 0.8
    hparams = attentive.head.hparams()
    assert len(hparams["grid_scores"]) == 2
    assert hparams["val_balanced_accuracy"] == max(s["val_balanced_accuracy"] for s in hparams["grid_scores"])


def test_attentive_training_is_deterministic(data, attentive):
    features, labels, test, _ = data
    again = fit_probe(features, labels, kind="attentive", seed=0, attentive=FAST)
    np.testing.assert_array_equal(again.predict_proba(test), attentive.predict_proba(test))


def test_auto_picks_prototype_for_tiny_sets_and_attentive_above(data):
    features, labels, _, _ = data
    tiny = np.concatenate([np.flatnonzero(np.array(labels) == m)[:4] for m in MODES])
    assert fit_probe(features.subset(tiny), [labels[i] for i in tiny]).kind == "prototype"
    assert fit_probe(features, labels, attentive=FAST).kind == "attentive"


def test_cross_validation_does_not_leak_random_labels_score_near_chance():
    embeddings, _ = synthetic_embeddings(15, dim=64, signal=0.0, seed=3)
    labels = list(np.random.default_rng(0).permutation(np.repeat(MODES, 15)))
    features = FeatureSet.from_embeddings(embeddings)
    memorised = fit_probe(features, labels, kind="linear")
    assert accuracy(memorised, features, labels) > 0.9  # fitting and scoring the same clips would look great
    for kind in ("linear", "prototype"):
        report = cross_validate(features, labels, kind=kind, folds=5)
        assert report.accuracy[0] < 0.45, (kind, report.accuracy)  # chance is 0.25
        assert sum(map(sum, report.confusion.matrix)) == len(labels)


def test_cross_validation_report_on_separable_data(data):
    features, labels, _, _ = data
    report = cross_validate(features, labels, kind="prototype", folds=4)
    assert report.scheme == "stratified 4-fold" and report.kinds == ["prototype"] * 4
    assert report.accuracy[0] > 0.8 and report.accuracy[1] is not None
    assert set(report.per_class) == set(MODES)
    assert "true \\ predicted" in report.confusion.text()
    assert report.warnings == [] and report.classes == sorted(MODES)
    assert CVReport.model_validate_json(report.model_dump_json()) == report
    kept = CVSummary.model_validate_json(report.model_dump_json())  # as a probe's card reads it back
    assert kept.confusion == report.confusion and kept.accuracy == report.accuracy


def test_the_temperature_fitted_on_held_out_folds_makes_new_sessions_likelier():
    # a probe that learned its sessions' look along with the modes is too sure of clips from other sessions
    clips, labels, sessions = session_embeddings(range(10), 3, shift=0.5, dim=128)
    features = FeatureSet.from_embeddings(clips)
    report = cross_validate(features, labels, kind="linear", folds=5, groups=sessions)
    calibration = report.calibration
    assert calibration.clips == len(labels) and calibration.temperature > 1.0
    assert calibration.calibrated_nll < calibration.nll

    fresh, fresh_labels, _ = session_embeddings(range(1000, 1010), 5, shift=0.5, dim=128)
    unseen = FeatureSet.from_embeddings(fresh)
    probe = fit_probe(features, labels, kind="linear")
    y = np.array([probe.classes.index(label) for label in fresh_labels])
    raw = probe.predict_proba(unseen)
    assert probe.temperature == 1.0
    probe.card = ProbeCard(cv=report)
    calibrated = probe.predict_proba(unseen)
    assert probe.temperature == calibration.temperature
    np.testing.assert_array_equal(calibrated.argmax(axis=1), raw.argmax(axis=1))  # the ranking is kept
    assert negative_log_likelihood(calibrated, y) < negative_log_likelihood(raw, y)
    assert calibrated.max(axis=1).mean() < raw.max(axis=1).mean()


def test_a_probe_keeps_its_temperature_on_disk_and_one_without_loads_as_one(data, tmp_path):
    features, labels, test, _ = data
    probe = fit_probe(features, labels, kind="linear")
    probe.card = ProbeCard(cv=cross_validate(features, labels, kind="linear", folds=4))
    _, sidecar_path = save_probe(probe, tmp_path / "room")
    loaded = load_probe(tmp_path / "room")
    assert loaded.temperature == probe.temperature == probe.card.cv.calibration.temperature
    np.testing.assert_allclose(loaded.predict_proba(test), probe.predict_proba(test))

    sidecar = json.loads(sidecar_path.read_text())
    del sidecar["cv"]["calibration"]  # as a probe trained before calibration was written
    sidecar_path.write_text(json.dumps(sidecar))
    old = load_probe(tmp_path / "room")
    assert old.temperature == 1.0
    np.testing.assert_allclose(old.predict_proba(test), old.head.predict_proba(test))


def test_learning_curve_covers_the_sizes_every_fold_can_train_on(data):
    features, labels, _, _ = data
    # 12 clips per mode in 4 folds: every fold trains on 9 of each, so 20 is no point
    points, left_out = learning_curve(features, labels, (5, 8, 20), kind="prototype", folds=4)
    assert [p.clips_per_mode for p in points] == [5, 8] and left_out == []
    assert points[0].scheme == "stratified 4-fold, 5 training clips per mode" and points[1].accuracy[0] > 0.7
    points, left_out = learning_curve(features, labels, (2,), kind="attentive", folds=2)
    assert points == [] and "at least 3 clips per mode" in left_out[0]


def test_a_learning_curve_point_tests_every_clip_and_keeps_sessions_apart(data):
    features, labels, _, _ = data
    sessions = [f"{label}-{i % 4}" for i, label in enumerate(labels)]  # 4 sessions of 3 clips per mode
    report = cross_validate(features, labels, kind="prototype", folds=4, groups=sessions, train_size=3)
    assert report.scheme == "stratified grouped 4-fold (16 groups), 3 training clips per mode"
    assert sum(map(sum, report.confusion.matrix)) == len(labels)  # the test sides are the full run's
    points, _ = learning_curve(features, labels, (3, 9, 10), kind="prototype", folds=4, groups=sessions)
    assert [p.clips_per_mode for p in points] == [3, 9]  # a fold holds out one whole session of each mode
    assert all(p.scheme.startswith("stratified grouped") for p in points)


def test_small_and_imbalanced_modes_are_warned_about():
    warnings = data_warnings(np.repeat([0, 1], [4, 20]), ["group", "solo"])
    assert any("'group' has only 4 clips" in w for w in warnings)
    assert any("imbalanced (group 4, solo 20)" in w for w in warnings)


def test_tiny_sets_use_leave_one_out_and_groups_never_straddle_folds():
    y = np.array([0, 0, 0, 1, 1, 1])
    splits, scheme = make_splits(y, None, 5, 0)
    assert scheme == "leave-one-out" and len(splits) == 6
    y = np.repeat([0, 1], 12)
    groups = [f"cam{i % 6}" for i in range(24)]
    splits, scheme = make_splits(y, groups, 3, 0)
    assert scheme.startswith("stratified grouped 3-fold")
    for train, test in splits:
        assert not {groups[i] for i in train} & {groups[i] for i in test}


def test_bad_labels_are_refused_by_name(data):
    features, labels, _, _ = data
    with pytest.raises(UserError, match="at least two modes"):
        fit_probe(features.subset(np.arange(5)), ["group"] * 5)
    with pytest.raises(UserError, match="mode party has no usable clips"):
        fit_probe(features, labels, classes=[*MODES, "party"])
    with pytest.raises(UserError, match="not among the modes"):
        fit_probe(features, labels, classes=["group", "solo"])
    two_each = np.concatenate([np.flatnonzero(np.array(labels) == m)[:2] for m in MODES])
    with pytest.raises(UserError, match="at least 3 clips per mode"):
        fit_probe(features.subset(two_each), [labels[i] for i in two_each], kind="attentive")


def test_artifact_round_trip_and_refusal(attentive, data, tmp_path):
    _, _, test, _ = data
    attentive.card = ProbeCard(backbone=BackboneRecord(model_id="config:tiny", fingerprint="abc123"))
    tensors_path, sidecar_path = save_probe(attentive, tmp_path / "room.safetensors")
    assert (tensors_path.name, sidecar_path.name) == ("room.safetensors", "room.json")
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["kind"] == "attentive" and sidecar["classes"] == sorted(MODES)
    assert sidecar["head"]["lr"] in FAST.learning_rates and sidecar["head"]["temperature"] > 0

    loaded = load_probe(tmp_path / "room", expect_fingerprint="abc123")
    assert loaded.card == attentive.card
    np.testing.assert_allclose(loaded.predict_proba(test), attentive.predict_proba(test), rtol=1e-6)
    assert loaded.gate.threshold == attentive.gate.threshold
    with pytest.raises(UserError, match=r"config:tiny \(fingerprint abc123\), not the backbone in use"):
        load_probe(tmp_path / "room", expect_fingerprint="other")
    with pytest.raises(UserError, match="probe file not found"):
        load_probe(tmp_path / "missing")
    tensors_path.write_bytes(b"not safetensors")
    with pytest.raises(UserError, match="not a readable probe"):
        load_probe(tmp_path / "room")
    assert probe_paths(tmp_path / "room.json") == (tensors_path, sidecar_path)


def test_a_probe_saved_under_the_old_tensor_names_still_loads(attentive, data, tmp_path):
    _, _, test, _ = data
    tensors_path, _ = save_probe(attentive, tmp_path / "room.safetensors")
    with safe_open(tensors_path, framework="np") as handle:
        metadata, tensors = handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    legacy = {"head.pooler.query_tokens": "head.query", "head.pooler.cross_attention_layer.": "head.cross."}
    renamed = {}
    for name, value in tensors.items():
        old = next((legacy[new] + name.removeprefix(new) for new in legacy if name.startswith(new)), name)
        renamed[old] = value
    assert "head.query" in renamed and any(name.startswith("head.cross.") for name in renamed)
    save_numpy(renamed, str(tensors_path), metadata=metadata)
    np.testing.assert_allclose(load_probe(tmp_path / "room").predict_proba(test), attentive.predict_proba(test))


@pytest.mark.parametrize("kind", ["linear", "prototype"])
def test_pooled_probe_artifacts_round_trip(data, kind, tmp_path):
    features, labels, test, _ = data
    probe = fit_probe(features, labels, kind=kind)
    save_probe(probe, tmp_path / kind)
    np.testing.assert_allclose(load_probe(tmp_path / kind).predict_proba(test), probe.predict_proba(test))


def test_background_makes_the_probe_blind_to_the_rooms_fixed_look(data, tmp_path):
    """Whatever a fixed camera always sees, added to every clip, changes nothing: the probe reads differences."""
    features, labels, test, _ = data
    scenery = np.random.default_rng(3).normal(scale=4.0, size=features.tokens.shape[1:]).astype(np.float32)

    def in_room(f: FeatureSet) -> FeatureSet:
        return FeatureSet(f.pooled, f.tokens + scenery, f.grid)

    settings = replace(FAST, background="mean")
    plain = fit_probe(features, labels, kind="attentive", seed=0, attentive=settings)
    room = fit_probe(in_room(features), labels, kind="attentive", seed=0, attentive=settings)
    np.testing.assert_allclose(room.head.model.background.numpy(), in_room(features).tokens.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(room.predict_proba(in_room(test)), plain.predict_proba(test), atol=1e-4)
    save_probe(room, tmp_path / "room")
    np.testing.assert_allclose(load_probe(tmp_path / "room").predict_proba(in_room(test)), plain.predict_proba(test),
                               atol=1e-4)  # fmt: skip
    without = fit_probe(in_room(features), labels, kind="attentive", seed=0, attentive=FAST)
    assert not np.allclose(without.predict_proba(in_room(test)), plain.predict_proba(test), atol=1e-2)


def test_uncertain_for_low_confidence_and_far_from_every_class(attentive, data):
    _, _, test, _ = data
    embeddings, labels = synthetic_embeddings(3, signal=3.0, seed=7)
    predictions = [attentive.classify(e, camera_id="cam", at=NOW) for e in embeddings]
    right = [i for i, p in enumerate(predictions) if p.label == labels[i] and p.uncertain_reason is None]
    assert len(right) >= 0.75 * len(labels)
    assert set(predictions[0].probabilities) == set(MODES)

    least = min(right, key=lambda i: predictions[i].confidence)
    threshold = predictions[least].confidence + 1e-3
    unsure = attentive.classify(embeddings[least], camera_id="cam", at=NOW, uncertain_below=threshold)
    assert unsure.label == UNCERTAIN and unsure.uncertain_reason.startswith("low confidence")

    # a scene unlike any training clip: pooled features orthogonal to every class direction
    means = attentive.gate.means
    basis, _ = np.linalg.qr(means.centroids.T)
    away = np.random.default_rng(0).normal(size=means.mean.shape)
    away -= basis @ (basis.T @ away)
    alien = Embedding(
        "alien", "synthetic", (means.mean + away).astype(np.float32), np.zeros((16, 32), np.float16), (1, 4, 4)
    )
    far = attentive.classify(alien, camera_id="cam", at=NOW)
    assert far.label == UNCERTAIN and far.uncertain_reason.startswith("far from every trained mode")
    # in-distribution held-out clips mostly pass the calibrated gate
    assert (attentive.gate.distances(test) <= attentive.gate.threshold).mean() > 0.8


def test_classify_refuses_an_embedding_from_another_backbone(attentive):
    embeddings, _ = synthetic_embeddings(1, seed=5)
    card = attentive.card.model_copy(update={"backbone": BackboneRecord(model_id="tiny", fingerprint="abc123")})
    probe = replace(attentive, card=card)
    ours = replace(embeddings[0], meta={"fingerprint": "abc123"})
    assert probe.classify(ours, camera_id="cam", at=NOW).camera_id == "cam"
    with pytest.raises(UserError, match="trained on fingerprint abc123"):
        probe.classify(replace(ours, meta={"fingerprint": "zzz"}), camera_id="cam", at=NOW)


def test_attention_map_and_explain_picture(attentive, tmp_path):
    embeddings, _ = synthetic_embeddings(1, seed=5)
    attention = attentive.attention_map(embeddings[0])
    assert attention.shape == (4, 4) and np.isclose(attention.sum(), 1.0, atol=1e-5)
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    assert Image.open(io.BytesIO(attention_png(frame, attention, caption="group"))).format == "PNG"
    matrix = confusion_png(Confusion(classes=["a", "b"], matrix=[[3, 1], [0, 4]]))
    assert Image.open(io.BytesIO(matrix)).size[0] > 100


def test_linear_probe_has_no_attention_map(data):
    features, labels, _, _ = data
    embeddings, _ = synthetic_embeddings(1, seed=5)
    assert fit_probe(features, labels, kind="linear").attention_map(embeddings[0]) is None
