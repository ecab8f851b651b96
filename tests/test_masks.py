"""Privacy masks: bad polygons are config errors with their field path; a masked camera's frames are black under
the mask in the encoder's input, in a recorded clip and in the dashboard's snapshot (real file camera, real
H.264 decoding, the real live loop and a real uvicorn server); a probe trained under another mask is refused."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from classroom_mode.config import ConfigErrors, parse_config
from classroom_mode.errors import UserError
from classroom_mode.model.probes import FeatureSet, fit_probe, save_probe
from classroom_mode.model.probes.card import ProbeCard
from classroom_mode.model.probes.masks import check_mask
from classroom_mode.records import Clip
from classroom_mode.service.analysis import Analysis, load_local_encoder
from classroom_mode.service.api.app import create_app
from classroom_mode.service.api.dashboard import mount_dashboard
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore
from classroom_mode.video.decode import sample_clip
from classroom_mode.video.mask import NO_MASK, apply_mask, coverage, fingerprint
from classroom_mode.video.writer import write_mp4
from live_helpers import ServerThread, reading
from probe_helpers import synthetic_embeddings

LEFT_HALF = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
HEIGHT, WIDTH = 64, 128


def _config_text(source: str, masks: object, extra: str = "") -> str:
    return f"""
rooms:
  lab:
    cameras:
      cam:
        source: {source}
        interval_s: 0.5
        clip: {{frames: 4, seconds: 0.5}}
        privacy_masks: {json.dumps(masks)}
{extra}"""


@pytest.fixture(scope="module")
def white_video(tmp_path_factory) -> Path:
    frames = np.full((20, HEIGHT, WIDTH, 3), 235, np.uint8)
    return write_mp4(tmp_path_factory.mktemp("masks") / "white.mp4", frames, 20.0)


def _bright_right_dark_left(frame: np.ndarray, *, exact: bool) -> None:
    """The left half (the mask) black, the right half as the camera sees it; a decoded frame is allowed the
    codec's few levels of ringing along the mask's edge, which the margin leaves out."""
    if exact:
        assert not frame[coverage([LEFT_HALF], *frame.shape[:2])].any()
    margin = 6
    assert frame[:, : WIDTH // 2 - margin].max() <= 8
    assert frame[:, WIDTH // 2 + margin :].min() >= 200


@pytest.mark.parametrize(
    ("masks", "problem"),
    [
        ([[[0, 0], [0.5, 0]]], "privacy_masks.0: a mask polygon needs at least 3 points"),
        ([[[0, 0], [1.5, 0], [0.5, 0.5]]], "privacy_masks.0.1.0: Input should be less than or equal to 1"),
        ([[[0, 0], [-0.1, 0], [0.5, 0.5]]], "privacy_masks.0.1.0: Input should be greater than or equal to 0"),
        ([[[0, 0], [1, 1], [1, 0], [0, 1]]], "privacy_masks.0: the polygon crosses itself"),
        ([[[0, 0], [0.5, 0.5], [1, 1]]], "privacy_masks.0: the polygon has no area"),
        ([[[0, 0], [1, 0], [1, 1], [0, 1]]], "privacy_masks: the masks cover the whole frame"),
        ([[[0, 0], [1, 0], [1, 1]], [[0, 0], [1, 1], [0, 1]]], "privacy_masks: the masks cover the whole frame"),
    ],
)
def test_a_bad_polygon_is_a_config_error_naming_its_field(masks, problem) -> None:
    with pytest.raises(ConfigErrors) as caught:
        parse_config(_config_text("{kind: sim}", masks), "room.yaml")
    assert f"room.yaml: rooms.lab.cameras.cam.{problem}" in str(caught.value)


def test_masks_are_relative_to_the_frame_and_fingerprinted() -> None:
    frame = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    masked = apply_mask(frame, [LEFT_HALF])
    _bright_right_dark_left(masked, exact=True)
    assert frame.min() == 200  # the caller's frame is untouched
    small = apply_mask(np.full((16, 32, 3), 200, np.uint8), [LEFT_HALF])  # another resolution, the same half
    assert not small[:, :15].any() and small[:, 17:].min() == 200
    assert fingerprint([]) == NO_MASK and fingerprint([LEFT_HALF]) == fingerprint([[(0.0, 0.0), *LEFT_HALF[1:]]])
    assert fingerprint([LEFT_HALF]) != fingerprint([[[0, 0], [0.4, 0], [0.4, 1], [0, 1]]])


class ClipsSeen:
    """An analyzer that keeps what it was handed: the encoder's input, exactly."""

    def __init__(self) -> None:
        self.clips: list[Clip] = []

    def analyse(self, clip: Clip, room: str) -> Analysis:
        self.clips.append(clip)
        return Analysis(reading(clip.camera_id, clip.ended_at, {"empty": 0.9, "solo": 0.1}), None)


def test_the_encoder_and_the_snapshot_only_ever_see_the_masked_frame(white_video: Path, tmp_path: Path) -> None:
    config = parse_config(_config_text(f"{{kind: file, path: {white_video}}}", [LEFT_HALF]))
    seen = ClipsSeen()
    with HistoryStore(tmp_path / "history.db") as store:
        loop = LiveLoop(config, store, seen)
        loop.run(windows=1)
        assert seen.clips, "the camera delivered no clip"
        for frame in seen.clips[0].frames:
            _bright_right_dark_left(frame, exact=True)

        app = create_app(config, store)
        mount_dashboard(app, live=loop)
        with ServerThread(app) as server:
            response = httpx.get(f"{server.url}/dashboard/cameras/cam/thumbnail.jpg", timeout=30)
        assert response.status_code == 200, response.text
        snapshot = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB").resize((WIDTH, HEIGHT)))
        _bright_right_dark_left(snapshot, exact=False)


def test_a_recorded_clip_is_masked_on_disk(cli, white_video: Path, tmp_path: Path) -> None:
    config = tmp_path / "classroom-mode.yaml"
    data = tmp_path / "data"
    config.write_text(_config_text(f"{{kind: file, path: {white_video}}}", [LEFT_HALF], f"paths: {{data: {data}}}"))
    result = cli("record", "--camera", "cam", "--label", "solo", "--countdown", "0", "-c", config)
    assert result.exit_code == 0, result.output
    (path,) = (data / "solo").iterdir()
    for frame in sample_clip(path, 4).frames:
        _bright_right_dark_left(frame, exact=False)

    preview = cli("cameras", "preview", "cam", "--out", tmp_path / "preview.png", "--json", "-c", config)
    assert preview.exit_code == 0, preview.output
    assert json.loads(preview.stdout)["privacy_mask"] == fingerprint([LEFT_HALF])
    picture = np.asarray(Image.open(tmp_path / "preview.png").convert("RGB"))
    assert picture.shape == (HEIGHT, WIDTH, 3)
    assert (picture[:, WIDTH // 2 - 1 : WIDTH // 2 + 2] == (255, 64, 64)).all(axis=-1).any()  # the outline
    assert picture[8:-8, 8 : WIDTH // 4].max() <= 8 and picture[8:-8, -WIDTH // 4 : -8].min() >= 200
    assert cli("cameras", "preview", "nope", "-c", config).exit_code == 2


def test_a_probe_trained_under_another_mask_is_refused_with_both_fingerprints(tmp_path: Path) -> None:
    embeddings, labels = synthetic_embeddings(4, classes=("empty", "solo"))
    probe = fit_probe(FeatureSet.from_embeddings(embeddings), labels, kind="prototype")
    _, sidecar = save_probe(probe, tmp_path / "room")  # a card without privacy_mask: as written before masks
    assert (
        "privacy_mask" not in json.loads(sidecar.read_text()) or json.loads(sidecar.read_text())["privacy_mask"] is None
    )
    config = parse_config(_config_text("{kind: sim}", [LEFT_HALF], f"    probe: {tmp_path / 'room'}"))
    with pytest.raises(UserError) as caught:
        load_local_encoder(config)
    message = str(caught.value)
    assert "\n" not in message
    assert f"trained under privacy mask {NO_MASK}, but camera cam has mask {fingerprint([LEFT_HALF])}" in message

    check_mask(ProbeCard(privacy_mask=fingerprint([LEFT_HALF])), sidecar, "cam", fingerprint([LEFT_HALF]))
    check_mask(ProbeCard(), sidecar, "cam", NO_MASK)  # an old probe is a probe without a mask
    with pytest.raises(UserError, match="mask none"):
        check_mask(ProbeCard(privacy_mask=fingerprint([LEFT_HALF])), sidecar, "cam", NO_MASK)
