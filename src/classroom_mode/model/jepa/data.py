"""Training clips held in memory, decoded once, and the batches drawn from them.

Decoding a clip costs far more than a training step of a tiny model, so every clip is decoded once into a
uint8 tensor at the model's resize size (short edge `crop × 256/224`, centre square), saved as one safetensors
file beside the checkpoints, and reused on resume. Each batch then draws clips with the trainer's seeded
generator and applies the official video augmentation's random resized crop (scale 0.3–1, aspect 0.75–1.35,
the same window on every frame), scaled to the crop size and normalised with the ImageNet statistics the
backbone uses. The official horizontal flip is left out on purpose: a fixed camera never sees its room
mirrored, and where the board or the door is belongs to what the room's modes look like.

Room-grouped batches (`windows_per_room` > 1) draw several windows of one camera per batch and give them one
crop, so the room itself (its walls, light, furniture and camera pose) is constant within a group and only
what changes between the windows, the people, can tell them apart. A camera is what the recorder's file name
says (`CAMERA_20261201T101500.000Z.mp4`), else the clip's folder. The same camera's per-pixel median is the
room a run may erase from every clip (`model.erasure`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.files import written_path
from classroom_mode.model.erasure import erase_uint8, reference_frame
from classroom_mode.model.jepa.draws import randint, uniform
from classroom_mode.model.preprocess import normalise, resize_size

log = logging.getLogger(__name__)

ASPECT_RATIO = (0.75, 1.35)
"""Aspect-ratio range of the random resized crop (as the official V-JEPA video augmentation)."""
_RECORDED = re.compile(r"^(?P<camera>.+?)(?:__.+__|_)\d{8}T\d{6}\.\d{3}Z(-\d+)*$")
"""`record` / `auto-record` file names: `CAMERA__SESSION__<UTC time>.mp4` (`video.sessions.clip_name`), or the
older `<camera>_<UTC time>.mp4`."""


def camera_of(path: Path, root: Path) -> str:
    """The camera a clip came from: the one its recorder's file name gives, else its folder under `root`."""
    match = _RECORDED.match(path.stem)
    if match:
        return match["camera"]
    return str(path.parent.relative_to(root)) if path.is_relative_to(root) else str(path.parent)


def square_frames(frames: np.ndarray | torch.Tensor, side: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (T, 3, side, side) uint8: centre square of the short edge, antialiased resize."""
    video = torch.as_tensor(frames).permute(0, 3, 1, 2).contiguous()
    height, width = video.shape[-2:]
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    video = video[..., top : top + short, left : left + short]
    if short != side:
        video = F.interpolate(video, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return video


Crop = tuple[int, int, int, int]
"""(top, left, height, width) of a random resized crop in the bank's frames."""


@dataclass(frozen=True)
class BatchPlan:
    """The random draws of one batch: (clip index, crop) per row."""

    rows: list[tuple[int, Crop]]


class ClipBank:
    """Decoded training clips, (N, T, 3, S, S) uint8, and the augmented batches the trainer consumes."""

    def __init__(
        self, frames: torch.Tensor, crop_size: int, sources: Sequence[str] = (), cameras: Sequence[str] = ()
    ) -> None:
        if frames.ndim != 5 or frames.dtype != torch.uint8 or frames.shape[2] != 3:
            raise ValueError(f"clip bank must be (N, T, 3, S, S) uint8, got {tuple(frames.shape)} {frames.dtype}")
        if cameras and len(cameras) != frames.shape[0]:
            raise ValueError(f"{len(cameras)} camera names for {frames.shape[0]} clips")
        self.frames = frames
        self.crop_size = crop_size
        self.sources = list(sources)
        self.cameras = list(cameras) or ["?"] * int(frames.shape[0])
        by_camera: dict[str, list[int]] = {}
        for index, camera in enumerate(self.cameras):
            by_camera.setdefault(camera, []).append(index)
        self.by_camera = by_camera

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @classmethod
    def decode(  # noqa: PLR0913 -- keyword-only options, each named at the call
        cls,
        paths: Sequence[Path],
        *,
        num_frames: int,
        crop_size: int,
        read: Callable[[Path, int], np.ndarray],
        on_skip: Callable[[Path, str], None],
        root: Path,
        on_progress: Callable[[], None] = lambda: None,
    ) -> ClipBank:
        """Decode each clip with `read(path, num_frames)`; unreadable ones go to `on_skip` and are left out.

        `root` is the data folder: a clip's camera is its folder under it unless its file name says otherwise.
        """
        side = resize_size(crop_size)
        clips, sources, cameras = [], [], []
        for path in paths:
            try:
                clips.append(square_frames(read(path, num_frames), side))
                sources.append(str(path))
                cameras.append(camera_of(path, root))
            except ClassroomModeError as exc:
                on_skip(path, str(exc).removeprefix(f"{path}: "))
            on_progress()
        if not clips:
            return cls(torch.empty(0, num_frames, 3, side, side, dtype=torch.uint8), crop_size)
        return cls(torch.stack(clips), crop_size, sources, cameras)

    def save(self, path: Path, fingerprint: str) -> None:
        """Write the bank atomically as safetensors; `fingerprint` names the file list it was decoded from."""
        metadata = {
            "fingerprint": fingerprint,
            "crop_size": str(self.crop_size),
            "sources": json.dumps(self.sources),
            "cameras": json.dumps(self.cameras),
        }
        with written_path(path) as temporary:
            save_file({"frames": self.frames.contiguous()}, str(temporary), metadata=metadata)

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> ClipBank | None:
        """The bank saved at `path` if it was decoded from the same files, else None."""
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                if metadata.get("fingerprint") != fingerprint:
                    return None
                frames = handle.get_tensor("frames")
        except (OSError, SafetensorError):
            return None
        cameras = json.loads(metadata.get("cameras", "[]"))
        return cls(frames, int(metadata["crop_size"]), json.loads(metadata["sources"]), cameras)

    def check_grouping(self, windows_per_room: int) -> None:
        """UserError unless room-grouped batches of `windows_per_room` windows can be drawn from this bank."""
        if windows_per_room == 1:
            return
        usable = [camera for camera, clips in self.by_camera.items() if len(clips) >= windows_per_room]
        if len(self.by_camera) < 2:
            raise UserError(
                f"room-grouped batches need footage of at least two cameras (folders); all {len(self)} clips "
                f"are from {next(iter(self.by_camera))!r}"
            )
        if not usable:
            raise UserError(f"no camera has the {windows_per_room} clips a room group needs (windows_per_room)")
        short = sorted(set(self.by_camera) - set(usable))
        if short:
            log.warning("cameras with fewer than %d clips are left out of training: %s", windows_per_room, short)

    def plan(
        self, batch_size: int, generator: torch.Generator, scale: tuple[float, float], windows_per_room: int = 1
    ) -> BatchPlan:
        """Every random draw of a batch (which clips, which crops), without touching a pixel.

        With `windows_per_room` 1, each clip is drawn independently with its own random resized crop; otherwise
        the batch is batch_size / windows_per_room rooms, each `windows_per_room` distinct windows of one camera
        (room after room) sharing one crop. A distributed run plans its whole effective batch on every rank
        with the same generator and each rank materialises only its rows, so the clips, crops and masks of a
        step do not depend on how many ranks share it.
        """
        if windows_per_room == 1:
            picks = torch.randint(len(self), (batch_size,), generator=generator)
            return BatchPlan([(int(i), self._crop(generator, scale)) for i in picks])
        cameras = [clips for clips in self.by_camera.values() if len(clips) >= windows_per_room]
        rows: list[tuple[int, Crop]] = []
        for room in torch.randint(len(cameras), (batch_size // windows_per_room,), generator=generator):
            clips = cameras[int(room)]
            crop = self._crop(generator, scale)
            rows.extend(
                (clips[int(k)], crop) for k in torch.randperm(len(clips), generator=generator)[:windows_per_room]
            )
        return BatchPlan(rows)

    def materialise(self, plan: BatchPlan, rows: slice = slice(None)) -> torch.Tensor:
        """The planned clips of `rows`, augmented: (B, T, 3, crop, crop) float32."""
        return torch.stack([self._augment(self.frames[clip], crop) for clip, crop in plan.rows[rows]])

    def batch(
        self, batch_size: int, generator: torch.Generator, scale: tuple[float, float], windows_per_room: int = 1
    ) -> torch.Tensor:
        """A random batch, planned and materialised: (B, T, 3, crop, crop) float32."""
        return self.materialise(self.plan(batch_size, generator, scale, windows_per_room))

    def _crop(self, generator: torch.Generator, scale: tuple[float, float]) -> Crop:
        """A random resized crop window (top, left, height, width) of the bank's frames."""
        side = int(self.frames.shape[-1])
        area = side * side * uniform(scale, generator)
        log_ratio = uniform((math.log(ASPECT_RATIO[0]), math.log(ASPECT_RATIO[1])), generator)
        ratio = math.exp(log_ratio)
        width = min(side, max(1, round(math.sqrt(area * ratio))))
        height = min(side, max(1, round(math.sqrt(area / ratio))))
        return randint(side - height + 1, generator), randint(side - width + 1, generator), height, width

    def _augment(self, video: torch.Tensor, crop: Crop) -> torch.Tensor:
        top, left, height, width = crop
        window = video[..., top : top + height, left : left + width].float()
        window = F.interpolate(window, size=(self.crop_size, self.crop_size), mode="bilinear", align_corners=False)
        return normalise(window)

    def erase_rooms(self) -> None:
        """Replace every clip by its room-erased version, each camera's reference the per-pixel median over all
        of its clips (`model.erasure`): no label is read, and a person covers a pixel less than half the time."""
        for clips in self.by_camera.values():
            self.frames[clips] = erase_uint8(self.frames[clips], reference_frame(self.frames[clips]))


def files_fingerprint(paths: Sequence[Path], num_frames: int, crop_size: int) -> str:
    """Identity of a decoded bank: each file's path, size and modification time, and the decode geometry."""
    entries = []
    for path in paths:
        stat = path.stat()
        entries.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    payload = json.dumps({"files": entries, "frames": num_frames, "crop": crop_size}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
