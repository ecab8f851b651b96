"""Erasing the room at the input: the arithmetic, the pretraining bank, and a room-erasing model and probe end to end
(pretrain --erase-room → train → classify → the live encoder), on real MP4 files and the tiny architecture; and a
model whose targets alone were erased, which reads plain clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.numpy import load_file

from classroom_mode.config import parse_config
from classroom_mode.errors import UserError
from classroom_mode.model.backbone import load_backbone
from classroom_mode.model.erasure import erase, erase_uint8, reference_frame
from classroom_mode.model.jepa.data import ClipBank
from classroom_mode.model.probes import load_probe
from classroom_mode.service.analysis import LocalEncoder
from classroom_mode.service.api.app import create_app
from classroom_mode.store import HistoryStore
from classroom_mode.video.decode import sample_clip
from jepa_helpers import write_clips
from probe_helpers import labelled_folder

TINY_RUN = ("--init", "config:tiny", "--set", "batch_size=2", "--set", "warmup_steps=1", "--device", "cpu")


def test_a_frame_equal_to_its_reference_is_mid_grey_and_nothing_clips():
    reference = torch.tensor([0.0, 100.0, 255.0]).view(3, 1, 1)
    frames = torch.tensor([[[[255]], [[100]], [[0]]]], dtype=torch.uint8)  # (1, 3, 1, 1)
    assert erase(frames, reference).flatten().tolist() == [255.0, 127.5, 0.0]
    assert erase_uint8(reference.to(torch.uint8)[None], reference).flatten().tolist() == [128, 128, 128]


def test_the_bank_erases_each_camera_with_its_own_median():
    frames = torch.zeros(4, 3, 3, 8, 8, dtype=torch.uint8)  # two cameras of two clips, three frames each
    frames[:2] += 40
    frames[2:] += 200  # a brighter room
    frames[1, 2, :, 3, 3] = 250  # someone passes one pixel in one frame of the first room
    bank = ClipBank(frames.clone(), 8, cameras=["a", "a", "b", "b"])
    assert reference_frame(frames[:2]).unique().tolist() == [40.0]  # a passer-by is not the room
    bank.erase_rooms()
    person = bank.frames[1, 2, :, 3, 3]
    assert person.tolist() == [232, 232, 232]  # (250 − 40) / 2 + 127.5, rounded half to even
    bank.frames[1, 2, :, 3, 3] = 128
    assert bank.frames.unique().tolist() == [128]  # both rooms, however bright, are gone


@pytest.fixture(scope="module")
def erasing_model(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from classroom_mode.cli import app

    root = tmp_path_factory.mktemp("erase")
    write_clips(root / "footage" / "room-a", 2, seed=1)
    write_clips(root / "footage" / "room-b", 2, seed=2)
    args = ["pretrain", "--data", root / "footage", "--out", root / "run", "--steps", "1", "--erase-room", "--json"]
    result = CliRunner().invoke(app, [str(a) for a in (*args, *TINY_RUN)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["model"])


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    return labelled_folder(tmp_path_factory.mktemp("erase-data") / "data", 4)


def test_a_model_pretrained_on_erased_rooms_says_so_and_refuses_plain_clips(erasing_model, labelled):
    assert json.loads((erasing_model / "config.json").read_text())["classroom_mode_input"] == "room-erased"
    backbone = load_backbone(str(erasing_model), device="cpu")
    clip = sample_clip(next((labelled / "solo").iterdir()), backbone.frames_per_clip)
    with pytest.raises(UserError, match="pretrained on room-erased clips"):
        backbone.preprocess([clip])
    with pytest.raises(UserError, match=r"is \(3, 64, 64\), got \(3, 8, 8\)"):
        backbone.with_reference(torch.zeros(3, 8, 8))


def test_its_probe_carries_the_room_and_every_consumer_erases_with_it(cli, erasing_model, labelled, tmp_path):
    probe = tmp_path / "room"
    trained = cli("train", labelled, "--model", erasing_model, "--probe", "prototype", "--folds", "2", "--out", probe)
    assert trained.exit_code == 0, trained.stderr
    assert "minus the per-pixel median of the 'empty' clips" in trained.stderr  # automatic for this model
    sidecar = json.loads(probe.with_name("room.json").read_text())
    assert sidecar["erasure"] == {"mode": "empty", "clips": 4}
    assert load_file(str(probe.with_name("room.safetensors")))["erasure.reference"].shape == (3, 64, 64)

    solo = next((labelled / "solo").iterdir())
    classified = cli("classify", solo, "--probe", probe, "--json")
    assert classified.exit_code == 0, classified.stderr

    backbone = load_backbone(str(erasing_model), device="cpu")
    loaded = load_probe(probe, expect_fingerprint=backbone.fingerprint)
    encoder = LocalEncoder(backbone, {"r": loaded})
    # the probe refuses features of any other input, so an answer means the live encoder erased this room
    analysis = encoder.analyse(sample_clip(solo, backbone.frames_per_clip), "r")
    (answer,) = json.loads(classified.stdout)["classified"]
    assert analysis.prediction.probabilities == pytest.approx(answer["probabilities"], abs=1e-4)

    config = parse_config("rooms: {r: {cameras: {c: {}}}}\nserver: {api_token_env: null}")
    with HistoryStore(tmp_path / "history.sqlite") as store, TestClient(create_app(config, store, encoder)) as api:
        upload = {"file": ("solo.mp4", solo.read_bytes(), "video/mp4")}
        served = api.post("/api/classify", params={"room": "r"}, files=upload)
        assert served.status_code == 200, served.text
        assert served.json()["prediction"]["probabilities"] == pytest.approx(answer["probabilities"], abs=1e-4)
        roomless = api.post("/api/embed", files=upload)  # a room-erasing model cannot embed a clip of no room
        assert roomless.status_code == 422 and "pretrained on room-erased clips" in roomless.json()["detail"]


def test_a_plain_model_erases_on_request_and_names_a_missing_mode(cli, labelled, tmp_path):
    plain = cli("train", labelled, "--model", "config:tiny", "--probe", "prototype", "--folds", "0",
                "--out", tmp_path / "plain")  # fmt: skip
    erased = cli("train", labelled, "--model", "config:tiny", "--probe", "prototype", "--folds", "0",
                 "--erase-room", "empty", "--out", tmp_path / "erased")  # fmt: skip
    assert plain.exit_code == erased.exit_code == 0, erased.stderr
    assert json.loads((tmp_path / "plain.json").read_text())["erasure"] is None
    assert json.loads((tmp_path / "erased.json").read_text())["erasure"]["mode"] == "empty"
    missing = cli("train", labelled, "--model", "config:tiny", "--erase-room", "nobody", "--out", tmp_path / "x")
    assert missing.exit_code == 2 and "clips of mode 'nobody', and there are none" in missing.stderr
