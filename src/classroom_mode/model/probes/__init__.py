"""Mode probes on frozen V-JEPA features: attentive, linear and nearest-prototype, with honest evaluation.

The public API: `fit_probe` / `cross_validate` on a `FeatureSet`, `save_probe` / `load_probe`, and
`TrainedProbe.classify(embedding, camera_id=..., at=...)` for the live loop.
"""

from classroom_mode.model.probes.artifact import load_probe, probe_paths, read_sidecar, save_probe
from classroom_mode.model.probes.attentive import AttentiveSettings
from classroom_mode.model.probes.evaluate import CVReport, cross_validate
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.model.probes.probe import ProbeKind, TrainedProbe, fit_probe

__all__ = [
    "AttentiveSettings",
    "CVReport",
    "FeatureSet",
    "ProbeKind",
    "TrainedProbe",
    "cross_validate",
    "fit_probe",
    "load_probe",
    "probe_paths",
    "read_sidecar",
    "save_probe",
]
