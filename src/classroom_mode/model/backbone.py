"""The frozen V-JEPA 2 encoder: strict loading, official preprocessing, batched embedding.

Built on `transformers`' `VJEPA2Model`, loaded with its own `from_pretrained` (safetensors only, local
files only). The loader never trusts that call's warnings: it reads its loading info and refuses anything
partial, missing, unexpected or of another shape, because a checkpoint that loads nothing still "runs" and
returns random features that look fine. Hub ids come from the normal Hugging Face cache only; nothing is
downloaded at load time (`classroom-mode models pull ID` does that).

Frames per clip: the official checkpoints are named fpc64 (pretrained on 64-frame clips), but RoPE
positions are per tubelet so any multiple of the tubelet size runs correctly; our clips are ~3 s at
16 frames, so we feed `min(config.frames_per_clip, 16)` frames (8 tubelets for ViT-L), which is also
the official frozen-evaluation setting for 256 px.

Input size: RoPE positions have no learned table, so the encoder also runs on a larger crop than it
was trained at (`crop_size`), only on a larger token grid. A camera that sees a whole classroom shows
a person far back as a few pixels, under one 16 px patch at the trained size; a larger crop spreads
them over several patches, at about the square of the size in compute.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from transformers import VJEPA2Config, VJEPA2Model
from transformers.utils import logging as transformers_logging

from classroom_mode.config import SHIPPED_MODEL_ID, BackboneConfig
from classroom_mode.errors import UserError
from classroom_mode.model.cache import embedding_key, frames_hash
from classroom_mode.model.compute import autocast
from classroom_mode.model.configs import CONFIG_PREFIX, RANDOM_SEED, named_config
from classroom_mode.model.erasure import CONFIG_KEY, ERASED_INPUT, erase, erased_fingerprint
from classroom_mode.model.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PREPROCESS_VERSION,
    centre_crop_video,
    normalise,
    resize_size,
)
from classroom_mode.model.token_grid import TokenGrid, clip_frames
from classroom_mode.records import Clip, Embedding

log = logging.getLogger(__name__)

SHIPPED_MODEL_DIR = Path(__file__).parent / "weights" / "vjepa2-tiny-sim"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class LoadReport:
    """How a checkpoint's tensors matched the model's state_dict. Loading succeeds only when it is `complete`."""

    expected: int
    matched: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_shape: list[str] = field(default_factory=list)
    """`name: checkpoint (a, b) vs model (c, d)` for each tensor whose shape differs."""

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape) and self.matched == self.expected

    def summary(self) -> str:
        def some(names: list[str]) -> str:
            return f" (e.g. {', '.join(names[:3])})" if names else ""

        return (
            f"{self.matched} of {self.expected} tensors matched, {len(self.missing)} missing{some(self.missing)}, "
            f"{len(self.unexpected)} unexpected{some(self.unexpected)}, "
            f"{len(self.wrong_shape)} with the wrong shape{some(self.wrong_shape)}"
        )


def _load_report(model: torch.nn.Module, info: dict[str, Any]) -> LoadReport:
    """`from_pretrained`'s loading info as a `LoadReport` (it counts against the model's own state_dict)."""
    expected = len(model.state_dict())
    missing = sorted(info["missing_keys"])
    wrong_shape = [
        f"{name}: checkpoint {tuple(saved)} vs model {tuple(wanted)}" for name, saved, wanted in info["mismatched_keys"]
    ]
    return LoadReport(
        expected=expected,
        matched=expected - len(missing) - len(wrong_shape),
        missing=missing,
        unexpected=sorted(info["unexpected_keys"]),
        wrong_shape=wrong_shape,
    )


class Backbone:
    """A loaded, frozen V-JEPA 2 model with everything needed to turn clips into embeddings.

    Use `load_backbone`; the constructor takes an already-checked model.
    """

    def __init__(  # noqa: PLR0913 -- keyword-only identity of the weights, each named at the call
        self,
        model: VJEPA2Model,
        *,
        model_id: str,
        revision: str | None,
        weights_identity: str,
        random_weights: bool,
        device: torch.device,
        quantize: str = "none",
        compiled: bool = False,
        load_report: LoadReport | None = None,
    ) -> None:
        self.model = model.eval()
        self.config: VJEPA2Config = model.config
        self.model_id = model_id
        self.revision = revision
        self.weights_identity = weights_identity
        self.random_weights = random_weights
        self.device = device
        self.quantize = quantize
        self.compiled = compiled
        self.load_report = load_report
        self.frames_per_clip = clip_frames(self.config.frames_per_clip, self.config.tubelet_size)
        self.crop_size: int = self.config.crop_size
        self.grid: tuple[int, int, int] = TokenGrid.for_config(self.config, self.frames_per_clip).astuple()
        """(time, rows, cols) of the encoder's token grid for one clip."""
        self.plain_fingerprint = _fingerprint(
            model_id, revision, weights_identity, self.crop_size, self.frames_per_clip
        )
        """The model's identity (weights, geometry, preprocessing): what a probe records and is checked against."""
        self.fingerprint = self.plain_fingerprint
        """The features' identity: the model's, and the room reference when one is subtracted (cache keys)."""
        self.reference: torch.Tensor | None = None
        """The camera's room, (3, crop, crop) in 0–255, subtracted from every frame (`model.erasure`)."""

    @property
    def erases_room(self) -> bool:
        """Whether the model was pretrained on room-erased clips, and so must be fed nothing else."""
        return getattr(self.config, CONFIG_KEY, None) == ERASED_INPUT

    def with_reference(self, reference: torch.Tensor) -> Backbone:
        """This backbone (the same model, not a copy of it) reading clips minus `reference`, the camera's room."""
        expected = (3, self.crop_size, self.crop_size)
        if tuple(reference.shape) != expected:
            raise UserError(f"a room reference for this backbone is {expected}, got {tuple(reference.shape)}")
        view = copy.copy(self)
        view.reference = reference.float().cpu()
        view.fingerprint = erased_fingerprint(self.plain_fingerprint, view.reference)
        return view

    @property
    def numerics(self) -> str:
        """How the encoder computes: `fp32`, `bf16-autocast` (CUDA) or `int8-dynamic` (CPU). Cached separately."""
        if self.quantize == "int8":
            return "int8-dynamic"
        return "bf16-autocast" if self.device.type == "cuda" else "fp32"

    @property
    def hidden_size(self) -> int:
        return int(self.config.hidden_size)

    @property
    def short_side(self) -> int:
        """The shorter side a frame is resized to before the centre crop: a frame decoded at it is not resized."""
        return resize_size(self.crop_size)

    def describe(self) -> str:
        """One line for logs and CLI output; says loudly when the weights are random."""
        weights = (
            "RANDOM WEIGHTS (timing/tests only)" if self.random_weights else f"weights {self.weights_identity[:12]}"
        )
        shape = f"{self.frames_per_clip}×{self.crop_size}px"
        return f"{self.model_id} [{weights}] on {self.device.type}, {self.numerics}, {shape}"

    def preprocess(self, clips: list[Clip]) -> torch.Tensor:
        """Clips → (B, T, C, H, W) float32 at this model's frames per clip and crop size."""
        return torch.stack([self.preprocess_frames(c.frames) for c in clips])

    def preprocess_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(T, H, W, 3) uint8 → (T', C, H', W') float32, resampled to this model's frames per clip and crop size."""
        video = self.centre_crop(frames)
        if self.reference is not None:
            return normalise(erase(video, self.reference))
        if self.erases_room:
            raise UserError(
                f"{self.model_id} was pretrained on room-erased clips and needs the camera's room to subtract: use "
                "it through a probe trained with it (`classroom-mode train` on a folder with an `empty` mode)"
            )
        return normalise(video)

    def centre_crop(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(T, H, W, 3) uint8 → (T', 3, crop, crop) uint8: the pixels this model sees, before any normalisation."""
        return centre_crop_video(frames, crop_size=self.crop_size, num_frames=self.frames_per_clip)

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) → encoder patch tokens (B, N, D) float32, token order time → row → column."""
        expected = (self.frames_per_clip, 3, self.crop_size, self.crop_size)
        if pixel_values.ndim != 5 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"pixel_values must be (B, {', '.join(map(str, expected))}), got {tuple(pixel_values.shape)}"
            )
        with torch.inference_mode(), autocast(self.device):
            features = self.model.get_vision_features(pixel_values.to(self.device, non_blocking=True))
        return features.float()

    def embed(self, clips: list[Clip], *, exact_tokens: bool = False, keys: list[str] | None = None) -> list[Embedding]:
        """Encode clips into `Embedding`s: pooled (D,) float32 and tokens (time-averaged unless `exact_tokens`).

        `keys` are the cache keys to stamp on the results; by default each is computed from the clip's frames.
        """
        if not clips:
            return []
        if keys is None:
            keys = [embedding_key(frames_hash(c.frames), self, exact_tokens=exact_tokens) for c in clips]
        features = self.encode(self.preprocess(clips)).cpu()
        return [
            self.embedding_from_features(f, key, exact_tokens=exact_tokens)
            for f, key in zip(features, keys, strict=True)
        ]

    def embedding_from_features(self, features: torch.Tensor, key: str, *, exact_tokens: bool = False) -> Embedding:
        """One clip's (N, D) encoder output → an `Embedding` (pooled mean over all tokens; tokens float16)."""
        time, rows, cols = self.grid
        pooled = features.mean(dim=0).numpy().astype(np.float32)
        if exact_tokens:
            tokens, grid = features, (time, rows, cols)
        else:
            tokens, grid = features.view(time, rows * cols, -1).mean(dim=0), (1, rows, cols)
        return Embedding(
            key=key,
            model_id=self.model_id,
            pooled=pooled,
            tokens=tokens.to(torch.float16).numpy(),
            grid=grid,
            meta={
                "fingerprint": self.fingerprint,
                "numerics": self.numerics,
                "random_weights": str(self.random_weights).lower(),
                "tokens": "exact" if exact_tokens else "time-averaged",
            },
        )


def _fingerprint(model_id: str, revision: str | None, weights: str, crop_size: int, frames: int) -> str:
    identity = {
        "model_id": model_id,
        "revision": revision,
        "weights": weights,
        "crop_size": crop_size,
        "frames_per_clip": frames,
        "preprocess": PREPROCESS_VERSION,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def resolve_device(device: str) -> torch.device:
    """`auto` → CUDA, else MPS, else CPU; an explicit device that is not there is the user's mistake."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("device: cuda requested but no CUDA device is available")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UserError("device: mps requested but Apple MPS is not available")
    if device not in ("cpu", "cuda", "mps"):
        raise UserError(f"device: {device!r} is not one of auto, cpu, cuda, mps")
    return torch.device(device)


def backbone_from_config(
    settings: BackboneConfig, *, model: str | None = None, device: str | None = None, quantize: str | None = None
) -> Backbone:
    """The backbone `backbone:` describes, the same in every command: a `model` named on the command line replaces
    the config's (and its revision), `device` and `quantize` override theirs; compile and crop size always come
    from the config."""
    return load_backbone(
        model or settings.model,
        revision=None if model else settings.revision,
        device=device or settings.device,
        quantize=quantize or settings.quantize,
        compile=settings.compile,
        crop_size=settings.crop_size,
    )


def load_backbone(
    spec: str,
    *,
    revision: str | None = None,
    device: str = "auto",
    quantize: str = "none",
    compile: bool = False,
    crop_size: int | None = None,
) -> Backbone:
    """Load a backbone from a hub id (cache only), a `save_pretrained` directory, the shipped model or `config:NAME`.

    `crop_size` runs the model on frames of that many pixels a side instead of its own (see the module docstring).
    """
    if quantize not in ("none", "int8"):
        raise UserError(f"quantize: {quantize!r} is not one of none, int8")
    target = resolve_device(device)
    if quantize == "int8" and target.type != "cpu":
        raise UserError(f"quantize: int8 dynamic quantisation runs on the CPU only (device is {target.type})")

    if spec.startswith(CONFIG_PREFIX):
        model = _random_model(_at_crop(named_config(spec.removeprefix(CONFIG_PREFIX)), crop_size))
        identity, random_weights, report = f"random-seed-{RANDOM_SEED}", True, None
    else:
        directory, revision = _resolve_directory(spec, revision)
        model, report = _load_directory(directory, crop_size)
        identity, random_weights = _weights_identity(directory), False

    model.to(device=target).eval().requires_grad_(False)  # type: ignore[call-arg]  # transformers types `to` as an unbound wrapper
    if quantize == "int8":
        _quantize_int8(model)
    if compile:
        model.encoder.compile()
    backbone = Backbone(
        model,
        model_id=spec,
        revision=revision,
        weights_identity=identity,
        random_weights=random_weights,
        device=target,
        quantize=quantize,
        compiled=compile,
        load_report=report,
    )
    log.info("loaded %s", backbone.describe())
    return backbone


def random_twin(backbone: Backbone) -> Backbone:
    """The same architecture as `backbone` with seeded random weights: what pretraining is measured against.

    Its weights identity names the architecture, so two twins of different models (same crop and frame count)
    never share embedding-cache entries.
    """
    config = backbone.config
    architecture = json.dumps(config.to_diff_dict(), sort_keys=True, default=str)
    model = _random_model(config).to(device=backbone.device).eval().requires_grad_(False)  # type: ignore[call-arg]  # transformers types `to` as an unbound wrapper
    return Backbone(
        model,
        model_id=f"random twin of {backbone.model_id}",
        revision=None,
        weights_identity=f"random-seed-{RANDOM_SEED}-" + hashlib.sha256(architecture.encode()).hexdigest()[:16],
        random_weights=True,
        device=backbone.device,
    )


def _random_model(config: VJEPA2Config) -> VJEPA2Model:
    # seeded without disturbing the caller's RNG, so every process gets the same random weights
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return VJEPA2Model(config)


def _at_crop(config: VJEPA2Config, crop_size: int | None) -> VJEPA2Config:
    """`config` with its input size set to `crop_size` (None keeps the model's own)."""
    if crop_size is None:
        return config
    patch = cast(int, config.patch_size)  # V-JEPA 2 patches are square: one int
    if crop_size < patch or crop_size % patch:
        raise UserError(f"backbone crop_size {crop_size}: must be a multiple of the model's {patch} px patch size")
    config.crop_size = crop_size
    return config


def _resolve_directory(spec: str, revision: str | None) -> tuple[Path, str | None]:
    """The local directory holding `spec`'s config and weights, and the revision it is at."""
    if spec == SHIPPED_MODEL_ID:
        if not (SHIPPED_MODEL_DIR / "config.json").is_file():
            raise UserError(
                f"{spec}: the shipped model is not in this install yet (expected {SHIPPED_MODEL_DIR}); "
                "use a hub id, a local directory, or config:tiny for tests"
            )
        return SHIPPED_MODEL_DIR, revision
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{spec}: not a directory (expected a save_pretrained directory with config.json)")
        return path, revision
    if not _HUB_ID.match(spec):
        raise UserError(f"{spec}: no such directory, and not a hub id of the form owner/name")
    return _from_hub_cache(spec, revision)


def _from_hub_cache(repo_id: str, revision: str | None) -> tuple[Path, str]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        snapshot = Path(
            snapshot_download(
                repo_id, revision=revision, local_files_only=True, allow_patterns=["*.json", "*.safetensors"]
            )
        )
    except LocalEntryNotFoundError:
        at = f" at revision {revision}" if revision else ""
        raise UserError(
            f"{repo_id}: not in the local Hugging Face cache{at}; download it first with: "
            f"classroom-mode models pull {repo_id}" + (f" --revision {revision}" if revision else "")
        ) from None
    except HFValidationError as exc:
        raise UserError(f"{repo_id}: not a valid hub id ({exc})") from None
    return snapshot, snapshot.name  # a snapshot directory is named by its commit hash


def _weight_files(directory: Path) -> list[Path]:
    single = directory / WEIGHTS_FILE
    if single.is_file():
        return [single]
    index = directory / WEIGHTS_INDEX
    if index.is_file():
        return _shards(index)
    if any(directory.glob("*.bin")) or any(directory.glob("*.pt*")):
        raise UserError(f"{directory}: only pickle-based weights (.bin/.pt); refusing them, convert to safetensors")
    raise UserError(f"{directory}: no {WEIGHTS_FILE} (or sharded index) found")


def _shards(index: Path) -> list[Path]:
    """The files a sharded checkpoint's index names, each a safetensors file present inside the model folder:
    an index that points at `../elsewhere` or `/etc/...`, or at a shard that is not there, is refused here rather
    than by transformers in a traceback. (A shard may itself be a link, as in a Hugging Face cache snapshot.)"""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{index}: not a valid safetensors index ({exc})") from None
    if not isinstance(weight_map, dict) or not all(isinstance(name, str) for name in weight_map.values()):
        raise UserError(f"{index}: not a valid safetensors index (weight_map must name a shard file per tensor)")
    shards = []
    for name in sorted(set(weight_map.values())):
        shard = Path(name)
        if shard.is_absolute() or ".." in shard.parts or shard.suffix != ".safetensors":
            raise UserError(f"{index}: shard {name!r} is not a safetensors file inside the model folder")
        if not (index.parent / shard).is_file():
            raise UserError(f"{index}: shard {name} is missing")
        shards.append(index.parent / shard)
    return shards


FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
"""What a weight may be stored as: transformers would cast integers or booleans into the model without a word."""


def _tensor_files(directory: Path) -> dict[str, Path]:
    """Each saved tensor's file, read from the safetensors headers (not the data), every one checked to hold
    floating-point weights."""
    owners = {}
    for file in _weight_files(directory):
        try:
            with safe_open(file, framework="pt") as weights:
                for name in weights.keys():  # noqa: SIM118  (safe_open is not iterable)
                    dtype = weights.get_slice(name).get_dtype()
                    if dtype not in FLOAT_DTYPES:
                        raise UserError(
                            f"{file}: tensor {name} is {dtype}, expected floating-point weights "
                            f"({', '.join(FLOAT_DTYPES)})"
                        )
                    owners[name] = file
        except (SafetensorError, OSError) as exc:
            raise UserError(f"{file}: corrupted or unreadable safetensors file ({_one_line(exc)})") from None
    return owners


def _refuse_non_finite(model: VJEPA2Model, owners: dict[str, Path], directory: Path) -> None:
    """A NaN or an infinity in any weight loads without complaint and turns every feature into NaN."""
    for name, value in model.state_dict().items():
        if not bool(torch.isfinite(value).all()):
            raise UserError(f"{owners.get(name, directory)}: tensor {name} holds NaN or infinite values")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _read_config(directory: Path) -> VJEPA2Config:
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise UserError(f"{directory}: no config.json (expected a save_pretrained directory)")
    try:
        raw = json.loads(config_file.read_text())
    except ValueError as exc:
        raise UserError(f"{config_file}: not valid JSON ({exc})") from None
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if model_type != VJEPA2Config.model_type:
        raise UserError(f"{config_file}: architecture is {model_type!r}, expected a V-JEPA 2 model ('vjepa2')")
    try:
        config = VJEPA2Config.from_dict(raw)
        with torch.device("meta"):  # the config must also build a model: e.g. heads must divide the width
            VJEPA2Model(config)
    except Exception as exc:  # transformers and huggingface_hub raise several kinds for a bad field
        raise UserError(f"{config_file}: invalid V-JEPA 2 config ({type(exc).__name__}: {_one_line(exc)})") from None
    return config


def _load_directory(directory: Path, crop_size: int | None) -> tuple[VJEPA2Model, LoadReport]:
    """`from_pretrained` on a local directory, refusing anything it could not load exactly.

    Before transformers sees the folder, its index may name only shards inside it and every saved tensor must be
    floating point; after, every weight must be finite. Mismatched shapes are reported instead of raised, so every
    kind of mismatch reaches the one refusal below; transformers' own load table and progress bar are silenced
    because that refusal says the same in one line.
    """
    config = _at_crop(_read_config(directory), crop_size)
    owners = _tensor_files(directory)
    try:
        with quiet_transformers():
            loaded = VJEPA2Model.from_pretrained(
                directory,
                config=config,
                local_files_only=True,
                use_safetensors=True,
                ignore_mismatched_sizes=True,
                output_loading_info=True,
                dtype=torch.float32,
            )
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise UserError(
            f"{_weight_files(directory)[0]}: corrupted or unreadable safetensors file ({_one_line(exc)})"
        ) from None
    model, info = cast(tuple[VJEPA2Model, dict[str, Any]], loaded)  # output_loading_info: (model, info)
    report = _load_report(model, info)
    if not report.complete:
        raise UserError(f"{directory}: refusing a partial or mismatched checkpoint: {report.summary()}")
    _refuse_non_finite(model, owners, directory)
    return model, report


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off for a load or save whose outcome the caller reports itself."""
    verbosity, bars = transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


_identity_memo: dict[tuple[str, int, int], str] = {}


def _weights_identity(directory: Path) -> str:
    """What the weights are, independent of where they sit: a content hash of the safetensors files.

    A Hugging Face cache snapshot links each file to a blob named by its SHA-256, so that name is used
    as is; a local directory is hashed once per process (a second per GB).
    """
    digests = []
    for file in _weight_files(directory):
        blob = Path(os.path.realpath(file)).name
        if re.fullmatch(r"[0-9a-f]{64}", blob):
            digests.append(blob)
            continue
        stat = file.stat()
        memo_key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
        if memo_key not in _identity_memo:
            with open(file, "rb") as handle:
                _identity_memo[memo_key] = hashlib.file_digest(handle, "sha256").hexdigest()
        digests.append(_identity_memo[memo_key])
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def _quantize_int8(model: VJEPA2Model) -> None:
    """int8 dynamic quantisation of the encoder's linear layers (weights int8, activations quantised per call)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        quantize_dynamic(model.encoder, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def token_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean cosine similarity of corresponding tokens of two (…, D) feature tensors."""
    a, b = a.reshape(-1, a.shape[-1]).double(), b.reshape(-1, b.shape[-1]).double()
    return float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean())


def fidelity_to_fp32(backbone: Backbone, pixel_values: torch.Tensor) -> float:
    """How closely a speed option (int8, bf16, compile) reproduces the plain fp32 CPU encoder on these clips.

    Loads a second, fp32 copy of the same model on the CPU and returns the mean token cosine similarity;
    1.0 when `backbone` already is that reference.
    """
    if backbone.numerics == "fp32" and not backbone.compiled and backbone.device.type == "cpu":
        return 1.0
    reference = load_backbone(backbone.model_id, revision=backbone.revision, device="cpu", crop_size=backbone.crop_size)
    return token_cosine(backbone.encode(pixel_values).cpu(), reference.encode(pixel_values))
