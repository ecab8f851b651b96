"""The bodies the API answers with, beyond the shared records, and the limit an upload's frames are held to: one
definition for the server that writes them and the clients that read them (`RemoteEncoder`), so the two cannot
drift apart."""

from __future__ import annotations

import av
from pydantic import BaseModel

from classroom_mode.records import Prediction
from classroom_mode.video.decode import max_frame_pixels

UPLOAD_MEMORY = 128 * 2**20
"""The most one upload's decoding may hold on the server (bytes), its decoder's pictures at their deepest included."""
UPLOAD_FRAME_PIXELS = max_frame_pixels(UPLOAD_MEMORY, av.VideoFormat("yuv420p"))
"""The largest frame an upload in 8-bit 4:2:0 (what `RemoteEncoder` sends) may have: 3,728,270 pixels."""


class Health(BaseModel):
    status: str = "ok"
    version: str
    rooms: list[str]
    probes: list[str]
    """Rooms whose probe this server holds: what `POST /api/classify?room=` accepts."""
    fingerprint: str | None
    """The backbone's fingerprint (model, weights, preprocessing), when this server encodes clips."""
    live: bool
    """Whether this server runs the live loop itself (`serve --live`)."""


class ClassifyResult(BaseModel):
    prediction: Prediction
    energy: float | None
    """Raw surprise energy of the clip; None when the server has no surprise model."""
    fingerprint: str


class EmbedResult(BaseModel):
    model_id: str
    fingerprint: str
    dim: int
    pooled: list[float]


class SurpriseResult(BaseModel):
    energy: float | None
    fingerprint: str
