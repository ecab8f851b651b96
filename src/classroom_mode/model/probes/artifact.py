"""A probe on disk: `NAME.safetensors` (every array) + `NAME.json` (everything a person or a check reads).

No pickle: the tensors file holds only named arrays, the sidecar only JSON, and a probe is rebuilt
from them by the head class its sidecar names. The sidecar records the backbone fingerprint the
features came from; `load_probe` refuses a probe whose fingerprint differs from the backbone that
will feed it, because features of another model or another preprocessing are silently meaningless
to a probe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch
from pydantic import Field, ValidationError, field_validator
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from classroom_mode.config import validation_message
from classroom_mode.errors import UserError
from classroom_mode.files import write_bytes
from classroom_mode.model.probes.card import ProbeCard
from classroom_mode.model.probes.gate import DistanceGate
from classroom_mode.model.probes.probe import HEADS, TrainedProbe

FORMAT: Final = "classroom-mode-probe/1"
REFERENCE = "erasure.reference"
"""The tensor of a room-erasing probe's reference (`model.erasure`)."""


class ProbeSidecar(ProbeCard):
    """A probe's JSON sidecar: its card, and what rebuilding the head and gate from the tensors needs."""

    format: Literal["classroom-mode-probe/1"] = FORMAT
    kind: str
    classes: list[str] = Field(min_length=2)
    uncertain_below: float = Field(ge=0.0, le=1.0)
    head: dict[str, Any]
    gate: dict[str, Any]

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in HEADS:
            raise ValueError(f"unknown probe kind (known: {', '.join(HEADS)})")
        return kind

    @field_validator("classes")
    @classmethod
    def _distinct(cls, classes: list[str]) -> list[str]:
        if len(set(classes)) != len(classes):
            raise ValueError("a mode is listed twice")
        return classes

    @property
    def card(self) -> ProbeCard:
        return ProbeCard.model_validate({name: getattr(self, name) for name in ProbeCard.model_fields})


def probe_paths(path: Path | str) -> tuple[Path, Path]:
    """(tensors, sidecar) for a probe named with or without its `.safetensors` / `.json` suffix."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_probe(probe: TrainedProbe, path: Path | str) -> tuple[Path, Path]:
    """Write the probe atomically (tensors first, sidecar last, so a sidecar always has its tensors)."""
    tensors_path, sidecar_path = probe_paths(path)
    tensors = {f"head.{k}": v for k, v in probe.head.tensors().items()}
    tensors |= {f"gate.{k}": v for k, v in probe.gate.tensors().items()}
    if probe.reference is not None:
        tensors[REFERENCE] = probe.reference.round().to(torch.uint8).numpy()  # a median of uint8 pixels: exact
    sidecar = ProbeSidecar(
        kind=probe.kind,
        classes=probe.classes,
        uncertain_below=probe.uncertain_below,
        head=probe.head.hparams(),
        gate=probe.gate.hparams(),
        **dict(probe.card),
    )
    write_bytes(tensors_path, save_tensors({k: np.ascontiguousarray(v) for k, v in tensors.items()}))
    write_bytes(sidecar_path, sidecar.model_dump_json(indent=2, fallback=_plain).encode())
    return tensors_path, sidecar_path


def load_probe(
    path: Path | str, *, expect_fingerprint: str | None = None, expect_dim: int | None = None
) -> TrainedProbe:
    """Read a probe, every tensor checked against what its sidecar implies before any is used; with
    `expect_fingerprint`, refuse one trained on another backbone or preprocessing, and with `expect_dim` (the
    backbone's width) one whose tensors are made for features of another width."""
    tensors_path, sidecar_path = probe_paths(path)
    sidecar = read_sidecar(path)
    try:
        tensors = load_tensors(tensors_path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"{tensors_path}: probe file not found") from None
    except (OSError, SafetensorError) as exc:
        raise UserError(f"{tensors_path}: not a readable probe ({exc})") from None
    made_for = sidecar.backbone.fingerprint if sidecar.backbone else None
    if expect_fingerprint is not None and made_for != expect_fingerprint:
        model = sidecar.backbone.model_id if sidecar.backbone else "an unknown backbone"
        raise UserError(
            f"{sidecar_path}: this probe was trained on features of {model} (fingerprint {made_for}), not the "
            f"backbone in use (fingerprint {expect_fingerprint}); retrain it with `classroom-mode train`"
        )
    tensors = {_current_name(name): value for name, value in tensors.items()}
    _check_tensors(tensors_path, sidecar_path, sidecar, tensors, expect_dim)
    try:
        head = HEADS[sidecar.kind].restore(_section(tensors, "head."), sidecar.head)
        gate = DistanceGate.restore(_section(tensors, "gate."), sidecar.gate)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise UserError(
            f"{tensors_path}: probe tensors do not match its sidecar ({type(exc).__name__}: {reason})"
        ) from None
    stored = tensors.get(REFERENCE)
    reference = None if stored is None else torch.from_numpy(stored).float()
    return TrainedProbe(sidecar.classes, head, gate, sidecar.uncertain_below, sidecar.card, reference)


def _check_tensors(
    tensors_path: Path, sidecar_path: Path, sidecar: ProbeSidecar, tensors: dict[str, np.ndarray], dim: int | None
) -> None:
    """Refuse, in one line, tensors that are not what the sidecar (kind, modes, head, room reference) and the
    backbone's width imply: each present, of its shape, floating point (the reference: uint8 pixels) and finite.
    A probe that passes cannot fail later in numpy with a broadcast error, nor answer NaN."""
    n_classes = len(sidecar.classes)
    centroids = tensors.get("gate.centroids")
    if centroids is not None and centroids.ndim == 2 and len(centroids) != n_classes:
        raise UserError(f"{sidecar_path}: classes: {n_classes} modes listed, but the tensors hold {len(centroids)}")
    if (REFERENCE in tensors) != (sidecar.erasure is not None):
        raise UserError(f"{tensors_path}: the room reference and the sidecar's `erasure` must come together")
    if dim is None:  # no backbone to ask: the width the gate's mean was saved with
        mean = tensors.get("gate.mean")
        dim = int(mean.shape[-1]) if mean is not None and mean.ndim else 0
    try:
        head = HEADS[sidecar.kind].tensor_shapes(sidecar.head, dim, n_classes)
    except ValueError as exc:
        raise UserError(f"{sidecar_path}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise UserError(f"{sidecar_path}: head: not a {sidecar.kind} probe's ({type(exc).__name__}: {exc})") from None
    expected = {f"head.{name}": shape for name, shape in head.items()}
    expected |= {f"gate.{name}": shape for name, shape in DistanceGate.tensor_shapes(dim, n_classes).items()}
    if REFERENCE in tensors:
        preprocessing = sidecar.backbone.preprocessing if sidecar.backbone else None
        crop = preprocessing.crop_size if preprocessing else tensors[REFERENCE].shape[-1]
        expected[REFERENCE] = (3, crop, crop)
    problem = _mismatch(tensors, expected)
    if problem is not None:
        raise UserError(f"{tensors_path}: probe tensors do not match its sidecar: {problem}")


def _mismatch(tensors: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]]) -> str | None:
    """The first way `tensors` differ from `expected` (name → shape), or None."""
    missing = sorted(set(expected) - set(tensors))
    if missing:
        return f"{', '.join(missing)} missing"
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        return f"{', '.join(unexpected)} not expected"
    for name, shape in expected.items():
        found = tensors[name]
        if found.shape != shape:
            return f"{name} is {found.shape}, expected {shape}"
        if name == REFERENCE and found.dtype != np.uint8:
            return f"{name} is {found.dtype}, expected uint8 pixels"
        if name != REFERENCE and not np.issubdtype(found.dtype, np.floating):
            return f"{name} is {found.dtype}, expected floating point"
        if not np.isfinite(found).all():
            return f"{name} holds NaN or infinite values"
    return None


_LEGACY_NAMES = {
    "head.query": "head.pooler.query_tokens",
    "head.cross": "head.pooler.cross_attention_layer",
    "head.blocks": "head.pooler.self_attention_layers",
}
"""Names in attentive probes saved before their modules were transformers' pooler → today's."""


def _current_name(name: str) -> str:
    for old, new in _LEGACY_NAMES.items():
        if name == old or name.startswith(old + "."):
            return new + name.removeprefix(old)
    return name


def read_sidecar(path: Path | str) -> ProbeSidecar:
    """A probe's JSON sidecar alone (cheap: e.g. to learn which backbone to load before loading the probe)."""
    sidecar_path = probe_paths(path)[1]
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{sidecar_path}: probe file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{sidecar_path}: not a readable probe ({exc})") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise UserError(f"{sidecar_path}: not a classroom-mode probe sidecar")
    try:
        return ProbeSidecar.model_validate(sidecar)
    except ValidationError as exc:
        raise UserError(f"{sidecar_path}: {validation_message(exc)}") from None


def _section(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def _plain(value: Any) -> Any:
    """JSON for the numpy scalars and arrays hyper-parameters may hold."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a probe sidecar")
