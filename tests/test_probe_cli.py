"""`train`, `evaluate`, `classify` end to end: simulator clips, real decoding, the tiny random backbone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from probe_helpers import labelled_folder

MODEL = ("--model", "config:tiny")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return labelled_folder(tmp_path_factory.mktemp("probe-cli") / "data", 6)


@pytest.fixture(autouse=True)
def scratch(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the embedding cache (./.classroom-mode/cache) stays in the test's folder
    return tmp_path


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from classroom_mode.cli import app

    out = tmp_path_factory.mktemp("probe-cli-out") / "room"
    args = [
        "train",
        str(dataset),
        *MODEL,
        "--probe",
        "attentive",
        "--folds",
        "3",
        "--learning-curve",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_probe_with_sidecar(trained, dataset):
    sidecar = json.loads(trained.with_name("room.json").read_text())
    assert trained.with_name("room.safetensors").stat().st_size > 0
    assert sidecar["kind"] == "attentive"
    assert sidecar["classes"] == ["empty", "group", "presentation", "solo"]
    assert sidecar["backbone"]["model_id"] == "config:tiny" and sidecar["backbone"]["random_weights"] is True
    assert sidecar["data"]["per_mode"] == {"empty": 6, "group": 6, "presentation": 6, "solo": 6}
    assert sidecar["cv"]["scheme"] == "stratified 3-fold"
    assert sidecar["display_names"]["group"] == "Group"
    assert [p["clips_per_mode"] for p in sidecar["learning_curve"]] == [3]  # 3 folds of 6: 4 to train on


def test_classify_prints_every_probability_and_explains(cli, trained, dataset, scratch):
    clip = dataset / "group" / "group-0000.mp4"
    result = cli("classify", clip, "--probe", trained, "--json", "--explain", scratch / "why.png")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["classified"]
    assert set(entry["probabilities"]) == {"empty", "group", "presentation", "solo"}
    assert entry["label"] in (*entry["probabilities"], "uncertain")
    assert Image.open(scratch / "why.png").format == "PNG"


@pytest.mark.slow  # a fresh process imports torch and loads the model: 12 s on 2 idle cores, 30 s on busy ones
def test_classify_through_a_pipe_prints_every_name_whole(trained, dataset, scratch):
    """cron, systemd and CI logs read stdout through a pipe: no name is cut to fit 80 columns, nor read as markup."""
    stem = "front-camera-of-room-101-seen-from-the-back-corner-on-a-monday-morning-"
    names = [f"{stem}0001.mp4", f"{stem}0002.mp4", "cam[1] [bold]solo[red] take.mp4"]
    for name, source in zip(names, ("group/group-0000.mp4", "solo/solo-0000.mp4", "solo/solo-0001.mp4"), strict=True):
        shutil.copy(dataset / source, scratch / name)
    command = [sys.executable, "-m", "classroom_mode", "classify", *names, "--probe", str(trained)]
    result = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=120)  # stdout: a pipe
    assert result.returncode == 0, result.stderr
    for name in names:
        assert name in result.stdout, result.stdout


def test_classify_refuses_a_probe_for_another_backbone(cli, trained, dataset, scratch):
    sidecar = json.loads(trained.with_name("room.json").read_text())
    sidecar["backbone"]["fingerprint"] = "made-with-another-preprocessing"
    (scratch / "other.json").write_text(json.dumps(sidecar))
    shutil.copy(trained.with_name("room.safetensors"), scratch / "other.safetensors")
    result = cli("classify", dataset / "solo" / "solo-0000.mp4", "--probe", scratch / "other")
    assert result.exit_code == 2
    assert "not the backbone in use" in result.stderr


def test_the_live_encoder_labels_with_the_configs_threshold_not_the_one_at_training(trained, dataset):
    from classroom_mode.config import parse_config
    from classroom_mode.service.analysis import load_local_encoder
    from classroom_mode.video.decode import sample_clip

    assert json.loads(trained.with_name("room.json").read_text())["uncertain_below"] == 0.3
    room = f"{{probe: {trained}, cameras: {{c: {{}}}}}}"
    strict = "thresholds: {uncertain_below: 1.0}"
    encoder = load_local_encoder(parse_config(f"backbone: {{model: 'config:tiny'}}\nrooms: {{lab: {room}}}\n{strict}"))
    clip = sample_clip(dataset / "solo" / "solo-0000.mp4", encoder.frames_per_clip)
    prediction = encoder.analyse(clip, "lab").prediction
    assert prediction.label == "uncertain" and prediction.uncertain_reason is not None
    assert prediction.uncertain_reason.endswith("< 1.00)")


def test_the_classifier_reads_clips_with_the_backbone_its_card_names(trained, dataset, scratch):
    """What `classify` runs, without the command line: the card's backbone (not the config's), the threshold in
    force, and an unreadable file skipped with its reason."""
    from classroom_mode.config import BackboneConfig
    from classroom_mode.model.cache import EmbeddingCache
    from classroom_mode.model.probes.clip_files import load_clip_classifier

    classifier = load_clip_classifier(trained, BackboneConfig(model="facebook/not-downloaded"))
    assert classifier.backbone.model_id == "config:tiny"
    broken = scratch / "broken.mp4"
    broken.write_text("this is not a video")
    clips = [dataset / "group" / "group-0000.mp4", broken]
    with EmbeddingCache(scratch / "cache") as cache:
        result = classifier.classify_files(clips, cache, uncertain_below=1.0)
    (prediction,) = result.predictions.values()
    assert prediction.label == "uncertain" and set(prediction.probabilities) == set(classifier.probe.classes)
    assert [skipped.path for skipped in result.skipped] == [str(broken)]


def test_evaluate_with_confusion_png_and_skipped_clip(cli, dataset, scratch):
    data = scratch / "data"
    shutil.copytree(dataset, data)
    (data / "group" / "broken.mp4").write_text("this is not a video")
    result = cli("evaluate", data, *MODEL, "--probe", "prototype", "--confusion", "cm.png", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["scheme"] == "stratified 5-fold"
    assert sum(map(sum, report["confusion"]["matrix"])) == 24
    assert [s["path"].endswith("broken.mp4") for s in report["skipped"]] == [True]
    assert Image.open(scratch / "cm.png").format == "PNG"


def test_bad_data_folders_get_one_line_errors(cli, dataset, scratch):
    one = scratch / "one"
    shutil.copytree(dataset / "group", one / "group")
    result = cli("train", one, *MODEL, "--out", "p")
    assert result.exit_code == 2 and "at least two modes" in result.stderr

    empty = scratch / "empty-mode"
    shutil.copytree(dataset / "group", empty / "group")
    shutil.copytree(dataset / "solo", empty / "solo")
    (empty / "party").mkdir()
    result = cli("train", empty, *MODEL, "--out", "p", "--folds", "0")
    assert result.exit_code == 2 and "mode party has no usable clips" in result.stderr

    result = cli("evaluate", dataset, *MODEL, "--group-by", "camera")
    assert result.exit_code == 2 and "CAMERA__SESSION__NAME" in result.stderr
    assert cli("train", dataset, "--probe", "svm", "--out", "p").exit_code == 2


def test_group_ids_come_from_camera_and_session_in_the_file_name():
    from classroom_mode.errors import UserError
    from classroom_mode.model.probes.dataset import group_of

    clip = Path("data/group/front__2025-03-04-0900__0007.mp4")
    assert group_of(clip, "camera") == "front"
    assert group_of(clip, "session") == "front__2025-03-04-0900"
    with pytest.raises(UserError, match="CAMERA__SESSION__NAME"):
        group_of(Path("data/group/front__0007.mp4"), "session")


def test_a_probe_trained_at_a_larger_crop_classifies_at_that_crop(cli, dataset, scratch):
    (scratch / "big.yaml").write_text("backbone: {model: 'config:tiny', crop_size: 96}\n")
    trained = cli("train", dataset, "-c", scratch / "big.yaml", "--folds", "0", "--out", scratch / "big")
    assert trained.exit_code == 0, trained.output
    preprocessing = json.loads((scratch / "big.json").read_text())["backbone"]["preprocessing"]
    assert preprocessing["crop_size"] == 96 and preprocessing["token_grid"] == [8, 6, 6]  # config:tiny is 64 px
    # no config here: the sidecar says which model, and at which size, made the features
    result = cli("classify", dataset / "solo" / "solo-0000.mp4", "--probe", scratch / "big", "--json")
    assert result.exit_code == 0, result.output


@pytest.mark.timeout(60)
def test_classify_refuses_what_is_not_a_regular_file_without_blocking(cli, trained, dataset, scratch):
    fifo = scratch / "camera.mp4"
    os.mkfifo(fifo)  # a reader of a named pipe with no writer blocks forever
    for path in (fifo, Path("/dev/zero"), scratch):
        result = cli("classify", path, "--probe", trained)
        assert result.exit_code == 2, result.output
        assert str(path) in result.stderr and "Traceback" not in result.output
    assert "named pipe" in cli("classify", fifo, "--probe", trained).stderr
    assert "device or socket" in cli("classify", "/dev/zero", "--probe", trained).stderr


def _tampered(trained: Path, scratch: Path, name: str, change) -> Path:
    """A copy of the trained probe with its sidecar (a dict) or tensors (a dict of arrays) changed."""
    from safetensors.numpy import load_file, save_file

    sidecar = json.loads(trained.with_suffix(".json").read_text())
    tensors = load_file(str(trained.with_suffix(".safetensors")))
    change(sidecar, tensors)
    (scratch / f"{name}.json").write_text(json.dumps(sidecar))
    save_file(tensors, str(scratch / f"{name}.safetensors"))
    return scratch / name


TAMPERINGS = {
    "classes-not-a-list": (lambda s, t: s.update(classes="empty,solo"), "classes: Input should be a valid list"),
    "no-threshold": (lambda s, t: s.pop("uncertain_below"), "uncertain_below: Field required"),
    "threshold-a-word": (lambda s, t: s.update(uncertain_below="high"), "uncertain_below: Input should be"),
    "one-mode-twice": (lambda s, t: s.update(classes=["empty", "empty", "solo", "group"]), "a mode is listed twice"),
    "modes-missing": (lambda s, t: s.update(classes=["empty", "solo", "group"]), "3 modes listed, but the tensors"),
    "kind-unknown": (lambda s, t: s.update(kind="oracle"), "kind: unknown probe kind"),
    "gate-gone": (lambda s, t: [t.pop(k) for k in list(t) if k.startswith("gate.")], "do not match its sidecar"),
    "confusion-not-square": (lambda s, t: s["cv"]["confusion"]["matrix"].pop(), "matrix must be 4 × 4"),
    "created-no-zone": (lambda s, t: s.update(created="2026-03-02T09:00:00"), "created: Input should have timezone"),
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_a_tampered_probe_is_one_line_naming_its_file_and_field(cli, trained, dataset, scratch, name):
    change, expected = TAMPERINGS[name]
    probe = _tampered(trained, scratch, name, change)
    result = cli("classify", dataset / "solo" / "solo-0000.mp4", "--probe", probe)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and name in result.stderr, result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def _wider(array: np.ndarray) -> np.ndarray:
    return np.concatenate([array, np.zeros((*array.shape[:-1], 1), array.dtype)], axis=-1)


def _with_nan(array: np.ndarray) -> np.ndarray:
    spoilt = array.copy()
    spoilt.flat[0] = np.nan
    return spoilt


SPOILERS = {"shape": _wider, "dtype": lambda a: a.astype(np.int32), "nan": _with_nan}
"""Ways to spoil one tensor of an artifact: one more column, integers in place of floats, a NaN."""


def _one_line_naming(result, *parts: str) -> str | None:
    """None when the command refused with exit 2 and one line naming every part, else what it did instead."""
    lines = result.stderr.strip().splitlines()
    if result.exit_code == 2 and len(lines) == 1 and all(part in lines[0] for part in parts):
        return None
    return f"exit {result.exit_code}: {result.output.strip()[-400:]}"


@pytest.fixture(scope="module")
def probes(trained, dataset, tmp_path_factory) -> dict[str, Path]:
    """A trained probe of every kind (the attentive one is `trained`)."""
    from typer.testing import CliRunner

    from classroom_mode.cli import app

    out = tmp_path_factory.mktemp("probe-kinds")
    (out / "c.yaml").write_text(f"paths: {{cache: {out / 'cache'}}}\n")
    for kind in ("linear", "prototype"):
        args = ["train", str(dataset), *MODEL, "-c", str(out / "c.yaml"), "--probe", kind, "--folds", "0"]
        result = CliRunner().invoke(app, [*args, "--out", str(out / kind)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return {"attentive": trained, "linear": out / "linear", "prototype": out / "prototype"}


@pytest.mark.parametrize("kind", ["attentive", "linear", "prototype"])
def test_every_tensor_of_a_probe_spoilt_is_one_line_naming_file_tensor_and_shapes(cli, probes, dataset, scratch, kind):
    from safetensors.numpy import load_file

    original = load_file(str(probes[kind].with_suffix(".safetensors")))
    clip = dataset / "solo" / "solo-0000.mp4"
    failures = []
    for name, tensor in original.items():
        for how, spoil in SPOILERS.items():
            spoilt = {name: spoil(tensor)}
            probe = _tampered(probes[kind], scratch, f"{kind}-{how}", lambda s, t, spoilt=spoilt: t.update(spoilt))
            shapes = (f"is {spoilt[name].shape}, expected {tensor.shape}",) if how == "shape" else ()
            wrong = _one_line_naming(cli("classify", clip, "--probe", probe), str(probe), name, *shapes)
            if wrong:
                failures.append(f"{name} ({how}): {wrong}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_every_tensor_of_a_model_spoilt_is_one_line_naming_file_and_tensor(cli, dataset, scratch):
    from safetensors.numpy import load_file, save_file

    from model_helpers import save_tiny

    save_tiny(scratch / "model")
    original = load_file(str(scratch / "model" / "model.safetensors"))
    failures = []
    for name, tensor in original.items():
        for how, spoil in SPOILERS.items():
            model = scratch / f"model-{how}"
            shutil.copytree(scratch / "model", model, dirs_exist_ok=True)
            save_file({**original, name: spoil(tensor)}, str(model / "model.safetensors"), metadata={"format": "pt"})
            shapes = (f"checkpoint {spoil(tensor).shape} vs model {tensor.shape}",) if how == "shape" else ()
            wrong = _one_line_naming(cli("evaluate", dataset, "--model", model), str(model), name, *shapes)
            if wrong:
                failures.append(f"{name} ({how}): {wrong}")
    assert not failures, "\n".join(failures)
