"""What the live loop and the API ask of the model: one clip in, a prediction and a surprise energy out.

Two implementations behind one interface, chosen by `encoding.where`:

- `LocalEncoder` runs the backbone, the room's probe and the surprise model in this process.
- `RemoteEncoder` posts the clip (as a small H.264 MP4) to another `classroom-mode serve`, typically
  a GPU box that edge devices share, whose `POST /api/classify` runs a `LocalEncoder`.

So the loop has a single code path, and the remote server's answer is computed by the very code a
local run uses. One `LocalEncoder` is shared by every camera and calls the model under a lock: the
cameras take turns on one accelerator rather than contending for it.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import httpx
import numpy as np
from pydantic import ValidationError

from classroom_mode.clock import utc_now
from classroom_mode.config import Config, secret
from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.model.cache import embedding_key, frames_hash
from classroom_mode.model.probes.artifact import probe_paths
from classroom_mode.records import Clip, Embedding, Prediction
from classroom_mode.service.api_models import UPLOAD_FRAME_PIXELS, ClassifyResult, Health

if TYPE_CHECKING:  # torch loads with the model, not with a read-only API
    import torch


class Analysis(NamedTuple):
    prediction: Prediction
    energy: float | None
    """Raw surprise energy (mean L1 prediction error); None when no surprise model is loaded."""
    attention: np.ndarray | None = None
    """The attentive probe's (rows, cols) attention over the patch grid, for the dashboard; None otherwise."""


class Analyzer(Protocol):
    def analyse(self, clip: Clip, room: str) -> Analysis:
        """Classify `clip` with `room`'s probe and compute its surprise energy."""
        ...


class Probe(Protocol):
    """The part of `classroom_mode.model.probes.TrainedProbe` the service uses."""

    reference: torch.Tensor | None
    """The room its clips are erased of before they are embedded (`model.erasure`); None: plain clips."""

    def classify(self, embedding: Embedding, *, camera_id: str, at: datetime) -> Prediction: ...

    def attention_map(self, embedding: Embedding) -> np.ndarray | None: ...


class EnergyModel(Protocol):
    """The part of `classroom_mode.model.surprise.SurpriseModel` the service uses."""

    def energy(self, inputs: torch.Tensor | list[Clip], encoded: torch.Tensor | None = None) -> list[float]: ...


class EncoderBackbone(Protocol):
    """The part of `classroom_mode.model.backbone.Backbone` the service uses."""

    fingerprint: str
    model_id: str
    frames_per_clip: int

    @property
    def numerics(self) -> str: ...

    @property
    def short_side(self) -> int: ...

    def embed(self, clips: list[Clip]) -> list[Embedding]: ...

    def preprocess(self, clips: list[Clip]) -> torch.Tensor: ...

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor: ...

    def embedding_from_features(self, features: torch.Tensor, key: str) -> Embedding: ...

    def with_reference(self, reference: torch.Tensor) -> EncoderBackbone: ...


def clip_time(clip: Clip) -> datetime:
    """When a clip was taken: its end, else its start, else now."""
    return clip.ended_at or clip.started_at or utc_now()


class LocalEncoder:
    """The backbone, each room's probe and the surprise model, in this process."""

    def __init__(
        self, backbone: EncoderBackbone, probes: Mapping[str, Probe], surprise: EnergyModel | None = None
    ) -> None:
        self.backbone = backbone
        self.probes = dict(probes)
        self.surprise = surprise
        self._lock = threading.Lock()
        self._room_backbones = {
            room: backbone.with_reference(probe.reference)
            for room, probe in self.probes.items()
            if probe.reference is not None
        }
        """The backbone as each room-erasing probe needs it fed."""

    @property
    def fingerprint(self) -> str:
        return self.backbone.fingerprint

    @property
    def frames_per_clip(self) -> int:
        """Frames the backbone reads per clip: what an uploaded video is sampled to."""
        return self.backbone.frames_per_clip

    @property
    def short_side(self) -> int:
        """The shorter side the backbone resizes frames to: what an uploaded video is decoded at."""
        return self.backbone.short_side

    def probe(self, room: str) -> Probe:
        try:
            return self.probes[room]
        except KeyError:
            known = ", ".join(sorted(self.probes)) or "none"
            raise UserError(f"room {room!r}: no probe loaded here (rooms with a probe: {known})") from None

    def embed(self, clip: Clip) -> Embedding:
        with self._lock:
            return self.backbone.embed([clip])[0]

    def energy(self, clip: Clip) -> float | None:
        if self.surprise is None:
            return None
        with self._lock:
            return float(self.surprise.energy([clip])[0])

    def analyse(self, clip: Clip, room: str) -> Analysis:
        """One window: the clip is preprocessed once and encoded once; the surprise model reads its targets from
        that pass and adds only the context frames' pass and the predictor. A room-erasing probe's clip is erased
        before all of it, so the surprise is measured on what that room's probe sees."""
        probe = self.probe(room)
        backbone = self._room_backbones.get(room, self.backbone)
        key = embedding_key(frames_hash(clip.frames), backbone, exact_tokens=False)
        with self._lock:
            pixels = backbone.preprocess([clip])
            encoded = backbone.encode(pixels)
            energy = float(self.surprise.energy(pixels, encoded)[0]) if self.surprise is not None else None
            features = encoded.cpu()
        embedding = backbone.embedding_from_features(features[0], key)
        prediction = probe.classify(embedding, camera_id=clip.camera_id, at=clip_time(clip))
        return Analysis(prediction, energy, probe.attention_map(embedding))


class RemoteEncoder:
    """Posts clips to another `classroom-mode serve` and reads back its prediction and energy."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def check(self, rooms: list[str]) -> Health:
        """Refuse to start unless the remote server answers and holds a probe for each of `rooms`."""
        try:
            health = Health.model_validate_json(self._client.get("/health").raise_for_status().content)
        except httpx.HTTPError as exc:
            raise UserError(f"encoding.remote_url: {self.url} does not answer ({exc})") from None
        except ValidationError:
            raise UserError(f"encoding.remote_url: {self.url} is not a classroom-mode server (its /health)") from None
        missing = [r for r in rooms if r not in health.probes]
        if missing:
            raise UserError(f"encoding.remote_url: {self.url} has no probe for room(s) {', '.join(missing)}")
        return health

    def analyse(self, clip: Clip, room: str) -> Analysis:
        with tempfile.TemporaryDirectory(prefix="classroom-mode-") as tmp:
            path = _write_clip(clip, Path(tmp) / "clip.mp4")
            with path.open("rb") as handle:
                files = {"file": ("clip.mp4", handle, "video/mp4")}
                params = {"room": room, "camera": clip.camera_id, "at": clip_time(clip).isoformat()}
                try:
                    response = self._client.post("/api/classify", params=params, files=files)
                except httpx.HTTPError as exc:
                    raise ClassroomModeError(f"{self.url}: classify failed ({exc})") from None
        if response.status_code != 200:
            raise ClassroomModeError(f"{self.url}: classify answered {response.status_code}: {_reason(response)}")
        try:
            result = ClassifyResult.model_validate_json(response.content)
        except ValidationError as exc:
            reason = f"{exc.error_count()} validation errors"
            raise ClassroomModeError(f"{self.url}: classify answered an unexpected body ({reason})") from None
        return Analysis(result.prediction, result.energy)

    def close(self) -> None:
        self._client.close()


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def _write_clip(clip: Clip, path: Path) -> Path:
    from classroom_mode.video.writer import write_mp4

    span = float(clip.timestamps[-1] - clip.timestamps[0]) if clip.num_frames > 1 else 0.0
    fps = (clip.num_frames - 1) / span if span > 0 else 8.0
    # near-lossless: the remote prediction should match what a local run would compute; frames larger than the
    # server decodes (more than 2560 x 1440) are shrunk first, which the server would do anyway
    return write_mp4(path, np.ascontiguousarray(clip.frames), fps=fps, crf=12, max_pixels=UPLOAD_FRAME_PIXELS)


def room_probe_path(config: Config, room: str) -> Path:
    """A room's probe file, checked to exist (cheap, so it is checked before any model loads)."""
    path = config.rooms[room].probe
    if path is None:
        raise UserError(f"rooms.{room}.probe: no probe configured (train one with `classroom-mode train`)")
    tensors, sidecar = probe_paths(path)  # named with or without its suffix, as `classify --probe` takes it
    for part in (tensors, sidecar):
        if not part.is_file():
            raise UserError(f"{part}: probe file not found (rooms.{room}.probe)")
    return tensors


def load_local_encoder(config: Config, rooms: list[str] | None = None) -> LocalEncoder:
    """The backbone from `config.backbone`, the probes of `rooms` (default: every room) and the surprise model.

    A probe trained on another backbone is refused by `load_probe`'s fingerprint check, and one trained under
    another privacy mask than a camera of its room has by `check_mask`.
    """
    paths = {room: room_probe_path(config, room) for room in (list(config.rooms) if rooms is None else rooms)}
    from classroom_mode.model.backbone import backbone_from_config
    from classroom_mode.model.probes import load_probe, read_sidecar
    from classroom_mode.model.probes.masks import camera_mask, check_mask
    from classroom_mode.model.surprise import SurpriseModel

    for room, path in paths.items():  # before the model loads: a refusal should not wait for it
        card = read_sidecar(path).card
        for camera_id in config.rooms[room].cameras:
            check_mask(card, path, camera_id, camera_mask(config, camera_id))
    backbone = backbone_from_config(config.backbone)
    threshold = config.thresholds.uncertain_below  # the config in force labels live readings, not the training one
    probes = {
        room: replace(
            load_probe(path, expect_fingerprint=backbone.fingerprint, expect_dim=backbone.hidden_size),
            uncertain_below=threshold,
        )
        for room, path in paths.items()
    }
    return LocalEncoder(backbone, probes, SurpriseModel(backbone))


def build_analyzer(config: Config, rooms: list[str] | None = None) -> Analyzer:
    """The analyzer `encoding.where` asks for, checked so a misconfigured room refuses to start."""
    rooms = list(config.rooms) if rooms is None else rooms
    encoding = config.encoding
    if encoding.where == "remote":
        assert encoding.remote_url is not None  # the config validator guarantees it
        remote = RemoteEncoder(encoding.remote_url, token=secret(encoding.remote_token_env))
        remote.check(rooms)
        return remote
    return load_local_encoder(config, rooms)
