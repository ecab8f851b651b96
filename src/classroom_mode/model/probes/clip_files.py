"""A trained probe read back with the backbone it was trained on, and run on clip files: what `classify` does, here
so that it can be called (and tested) without the command line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classroom_mode.clock import utc_now
from classroom_mode.config import BackboneConfig
from classroom_mode.model.backbone import Backbone, load_backbone
from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.embed import embed_paths
from classroom_mode.model.probes.artifact import load_probe, read_sidecar
from classroom_mode.model.probes.probe import TrainedProbe
from classroom_mode.records import Embedding, Prediction, Skipped


@dataclass(frozen=True)
class ClassifiedFiles:
    predictions: dict[Path, Prediction]
    embeddings: dict[Path, Embedding]
    """What each prediction was made from (an attention map is drawn from it)."""
    skipped: list[Skipped]


@dataclass(frozen=True)
class ClipClassifier:
    """A probe with the one backbone whose features it was trained on (`load_clip_classifier` pairs them)."""

    probe: TrainedProbe
    backbone: Backbone
    """The backbone the probe was trained on, fed clips minus the room when the probe subtracts it."""

    def classify_files(
        self,
        paths: Sequence[Path],
        cache: EmbeddingCache,
        *,
        uncertain_below: float,
        progress: Callable[[int], None] | None = None,
    ) -> ClassifiedFiles:
        """Each readable clip's prediction, all stamped now; `uncertain_below` is the config in force, not the one
        the probe was trained under."""
        embedded = embed_paths(paths, self.backbone, cache, progress=progress)
        now = utc_now()
        predictions = {
            path: self.probe.classify(embedding, camera_id="cli", at=now, uncertain_below=uncertain_below)
            for path, embedding in embedded.embeddings.items()
        }
        return ClassifiedFiles(predictions, embedded.embeddings, embedded.skipped)


def load_clip_classifier(path: Path, settings: BackboneConfig, *, model: str | None = None) -> ClipClassifier:
    """The probe at `path` and the backbone its card names (model, revision and crop size). `model`, or a card that
    names none, picks `settings.model` instead, which the probe's fingerprint check then accepts or refuses."""
    made_for = read_sidecar(path).backbone
    if model or made_for is None:
        spec, revision, crop_size = model or settings.model, None, settings.crop_size
    else:
        preprocessing = made_for.preprocessing
        crop_size = preprocessing.crop_size if preprocessing else None
        spec, revision = made_for.model_id, made_for.revision
    backbone = load_backbone(spec, revision=revision, device=settings.device, crop_size=crop_size)
    probe = load_probe(path, expect_fingerprint=backbone.fingerprint, expect_dim=backbone.hidden_size)
    if probe.reference is not None:
        backbone = backbone.with_reference(probe.reference)
    return ClipClassifier(probe, backbone)
