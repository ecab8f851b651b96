"""`TrainedProbe`: a fitted head, its distance gate and its metadata; the runtime API of the live loop.

`fit_probe` turns labelled features into one; `classify` turns one clip's embedding into a
`Prediction`, which is `uncertain` (with the reason) when the top probability is under the
threshold or the clip is far from every class the probe was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import torch

from classroom_mode.config import UNCERTAIN_BELOW
from classroom_mode.errors import UserError
from classroom_mode.model.erasure import erased_fingerprint
from classroom_mode.model.probes.attentive import AttentiveHead, AttentiveSettings
from classroom_mode.model.probes.calibration import with_temperature
from classroom_mode.model.probes.card import ProbeCard
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.model.probes.gate import DistanceGate
from classroom_mode.model.probes.linear import LinearHead
from classroom_mode.model.probes.prototype import PrototypeHead
from classroom_mode.records import UNCERTAIN, Embedding, Prediction, ProbeKind

Head = AttentiveHead | LinearHead | PrototypeHead
HEADS: dict[str, type[Head]] = {h.kind: h for h in (AttentiveHead, LinearHead, PrototypeHead)}

PROTOTYPE_UP_TO = 5
"""`auto` uses the prototype probe when the smallest mode has at most this many clips (the attentive probe
cannot even hold out a validation split below 3, and at 5 per mode it was the weakest in docs/benchmarks/probes.md)."""
AUTO_ABOVE = "attentive"
"""`auto`'s choice with more clips, when the embeddings carry patch tokens: in one room, the product's case, it is
the best of the three (docs/benchmarks/room_probe.md: 64.4 % over 8 simulated rooms, against 53.6 % for the linear
probe and 39.9 % for the prototype)."""
FAR_FROM_MODES = "far from every trained mode"
"""How an `uncertain` reading's reason begins when the distance gate, not a low probability, made it so: a lower
threshold replayed over stored readings must leave those uncertain."""


@dataclass
class TrainedProbe:
    classes: list[str]
    head: Head
    gate: DistanceGate
    uncertain_below: float = UNCERTAIN_BELOW
    """Top probabilities under this make a prediction `uncertain` (config `thresholds.uncertain_below`)."""
    card: ProbeCard = field(default_factory=ProbeCard)
    """How it was made and how well it did: backbone, display names, metrics, data summary, date."""
    reference: torch.Tensor | None = None
    """The room subtracted from every clip before it is embedded for this probe, (3, crop, crop) in 0–255
    (`model.erasure`); None: plain clips."""

    @property
    def features_fingerprint(self) -> str | None:
        """The identity of the features the probe reads: its backbone's, and its room reference when it has one."""
        made_for = self.card.backbone.fingerprint if self.card.backbone else None
        if made_for is None or self.reference is None:
            return made_for
        return erased_fingerprint(made_for, self.reference)

    @property
    def kind(self) -> str:
        return self.head.kind

    @property
    def temperature(self) -> float:
        """The calibration temperature its card keeps (`calibration.calibrate`); 1 for a probe without one."""
        calibration = self.card.cv.calibration if self.card.cv is not None else None
        return calibration.temperature if calibration is not None else 1.0

    def predict_proba(self, features: FeatureSet) -> np.ndarray:
        """(n, C) calibrated class probabilities, columns in the order of `classes`."""
        if features.dim != self.gate.means.mean.shape[0]:
            raise UserError(
                f"these embeddings are {features.dim} wide but the probe was trained on "
                f"{self.gate.means.mean.shape[0]}-wide ones: another backbone"
            )
        return with_temperature(self.head.predict_proba(features), self.temperature)

    def classify(
        self, embedding: Embedding, *, camera_id: str, at: datetime, uncertain_below: float | None = None
    ) -> Prediction:
        """One clip → a `Prediction`: the top class, or `uncertain` with the reason."""
        self._check_source(embedding)
        features = FeatureSet.from_embeddings([embedding])
        probabilities = self.predict_proba(features)[0]
        distance = float(self.gate.distances(features)[0])
        top = int(probabilities.argmax())
        confidence = float(probabilities[top])
        threshold = self.uncertain_below if uncertain_below is None else uncertain_below
        reason = None
        if distance > self.gate.threshold:
            reason = f"{FAR_FROM_MODES} (distance {distance:.3f} > calibrated {self.gate.threshold:.3f})"
        elif confidence < threshold:
            reason = f"low confidence ({confidence:.2f} < {threshold:.2f})"
        return Prediction(
            camera_id=camera_id,
            at=at,
            label=UNCERTAIN if reason else self.classes[top],
            confidence=min(1.0, max(0.0, confidence)),
            probabilities={name: float(p) for name, p in zip(self.classes, probabilities, strict=True)},
            uncertain_reason=reason,
        )

    def _check_source(self, embedding: Embedding) -> None:
        """Refuse an embedding whose backbone fingerprint is known and is not the one the probe was trained on."""
        made_for = self.features_fingerprint
        came_from = embedding.meta.get("fingerprint")
        if made_for and came_from and made_for != came_from:
            raise UserError(
                f"embedding {embedding.key[:12]} comes from backbone {embedding.model_id} (fingerprint {came_from}), "
                f"but the probe was trained on fingerprint {made_for}"
            )

    def attention_map(self, embedding: Embedding) -> np.ndarray | None:
        """(rows, cols) attention of the attentive probe over the patch grid; None for the other probes."""
        if not isinstance(self.head, AttentiveHead):
            return None
        features = FeatureSet.from_embeddings([embedding])
        return self.head.attention(features)[0].reshape(self.head.grid)


def fit_probe(  # noqa: PLR0913 -- keyword-only options, each named at the call
    features: FeatureSet,
    labels: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    kind: ProbeKind = "auto",
    seed: int = 0,
    uncertain_below: float = UNCERTAIN_BELOW,
    attentive: AttentiveSettings | None = None,
) -> TrainedProbe:
    """Fit a probe and its distance gate on labelled features.

    `classes` is the full list of modes the data folder names; a mode with no clips is an error, never
    silently dropped. Without it, the classes are the labels present.
    """
    classes = sorted(set(labels)) if classes is None else list(classes)
    y = encode_labels(labels, classes)
    chosen = choose_kind(kind, features, y, len(classes))
    if chosen == "attentive":
        head: Head = AttentiveHead.fit(features, y, len(classes), seed=seed, settings=attentive)
    else:
        head = HEADS[chosen].fit(features, y, len(classes), seed=seed)
    gate = DistanceGate.fit(features, y, len(classes))
    return TrainedProbe(classes, head, gate, uncertain_below)


def encode_labels(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Class indices of `labels`; refuses unknown labels, empty classes, and fewer than two classes."""
    if len(classes) < 2:
        raise UserError(f"need at least two modes to tell apart, got {len(classes)}: {', '.join(classes) or 'none'}")
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise UserError(f"labels {', '.join(unknown)} are not among the modes {', '.join(classes)}")
    y = np.array([index[label] for label in labels], dtype=np.int64)
    counts = np.bincount(y, minlength=len(classes))
    empty = [classes[int(i)] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise UserError(f"mode {', '.join(empty)} has no usable clips: add clips or remove the folder")
    return y


def choose_kind(kind: ProbeKind, features: FeatureSet, y: np.ndarray, n_classes: int) -> str:
    """The probe `auto` means for this data: prototype for tiny sets, else attentive when tokens exist."""
    if kind != "auto":
        return kind
    if int(np.bincount(y, minlength=n_classes).min()) <= PROTOTYPE_UP_TO:
        return "prototype"
    return AUTO_ABOVE if features.tokens is not None else "linear"
