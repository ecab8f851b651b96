"""The record types every layer shares: one type per concept, one payload for many views.

The store writes them, the API serves them as JSON, the dashboard draws them and the bot
formats them, so a field added here shows up everywhere at once. `Clip` and `Embedding`
carry arrays and stay plain dataclasses; the rest are pydantic models so FastAPI can turn
them into an OpenAPI schema and the store can round-trip them through JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

UNCERTAIN = "uncertain"
"""The label a prediction carries when the probe does not know; never flips a room's state on its own."""

SurpriseLevel = Literal["normal", "unusual", "anomaly"]

OutputKind = Literal["reading", "mode", "surprise", "camera"]
"""What the outputs layer delivers: every camera reading, a room's mode change (its whole `ModeState`), a
camera's surprise level change, a camera going on- or offline."""
OUTPUT_KINDS: tuple[OutputKind, ...] = ("reading", "mode", "surprise", "camera")

Watch = Literal["watching", "off-hours", "paused"]
"""Whether a room or camera is being watched: `off-hours` outside the room's active hours, `paused` when someone
paused it. Neither is a mode: the room keeps its mode (no mode change is recorded for the gap) and shows this."""

ProbeKind = Literal["attentive", "linear", "prototype", "auto"]
"""Which probe to train; `auto` chooses by how many clips the smallest mode has (`model.probes.choose_kind`)."""
GroupBy = Literal["session", "camera"]
"""What cross-validation keeps in one fold: a recording session's clips, or a camera's (from the file names)."""


@dataclass(frozen=True)
class Clip:
    """A short piece of video: `frames` is (T, H, W, 3) uint8 RGB, `timestamps` (T,) seconds from the clip start."""

    frames: np.ndarray
    timestamps: np.ndarray
    camera_id: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    source: str | None = None
    """Where the frames came from (a file path or a camera URL), for error messages."""

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"Clip frames must be (T, H, W, 3) uint8, got {self.frames.shape} {self.frames.dtype}")
        if len(self.timestamps) != len(self.frames):
            raise ValueError(f"Clip has {len(self.frames)} frames but {len(self.timestamps)} timestamps")

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass(frozen=True)
class Embedding:
    """Frozen-backbone features of one clip, as the probes consume them.

    `pooled` is (D,); `tokens` is the patch-token grid the attentive probe reads, (N, D), at the
    resolution the cache documents (time-averaged unless exact tokens were asked for).
    """

    key: str
    """Content hash of the clip plus model and preprocessing: the cache key."""
    model_id: str
    pooled: np.ndarray
    tokens: np.ndarray | None = None
    grid: tuple[int, int, int] | None = None
    """(time, rows, cols) of `tokens`, so a heatmap can be drawn over the frame."""
    meta: dict[str, str] = field(default_factory=dict)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Skipped(Record):
    """A file a batch job went on past, and why: every command prints and writes it with these same keys."""

    path: str
    reason: str


class Prediction(Record):
    """One probe result for one clip of one camera."""

    camera_id: str
    at: datetime
    label: str
    """A mode name, or `uncertain`."""
    confidence: float = Field(ge=0.0, le=1.0)
    probabilities: dict[str, float]
    uncertain_reason: str | None = None
    """Why the label is `uncertain` (low top probability, far from every class), when it is."""


class SurpriseReading(Record):
    """The world model's prediction error for one window, and how unusual it is for this camera."""

    camera_id: str
    at: datetime
    energy: float
    """Mean L1 between predicted and target tokens of the last frames; scene-dependent."""
    score: float
    """Energy calibrated against the camera's rolling baseline (robust z-score)."""
    level: SurpriseLevel
    baseline: float | None = None
    """The baseline's centre (median energy), when the baseline has enough readings."""


class CameraStatus(Record):
    """Whether a camera is delivering frames, as its worker last saw it."""

    camera_id: str
    room: str
    online: bool
    since: datetime
    """When the camera last changed between online and offline."""
    last_frame_at: datetime | None = None
    last_error: str | None = None
    watch: Watch = "watching"
    """`paused` or `off-hours` when the camera is released on purpose (then `online` is false, and it is not
    offline)."""
    age_s: float | None = None
    """Seconds since the last frame, when judged against the clock (`modes.Freshness`); None as stored."""
    fresh_until: datetime | None = None
    """When the camera counts as offline if no frame comes before then; None as stored."""


class ModeState(Record):
    """A room's current, smoothed mode: what the dashboard shows and `!classroom-mode` answers."""

    room: str
    mode: str
    display_name: str
    emoji: str
    ambience: str
    confidence: float = Field(ge=0.0, le=1.0)
    probabilities: dict[str, float]
    since: datetime
    updated_at: datetime
    cameras: list[str]
    """The cameras whose readings contributed to this state."""
    offline_cameras: list[str] = Field(default_factory=list)
    stale: bool = False
    """True when no camera has delivered a reading within the configured staleness window."""
    watch: Watch = "watching"
    """`off-hours` or `paused` while the room is not watched: `mode` is then the last one it had."""
    age_s: float | None = None
    """Seconds since `updated_at`, when judged against the clock (`modes.Freshness`); None as stored."""
    fresh_until: datetime | None = None
    """When the state turns stale if no reading comes before then; None as stored."""


class ModeSpan(Record):
    """A stretch of time a room spent in one mode: a band of the dashboard's day, a bar of the bot's chart."""

    mode: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


class ModeChange(Record):
    """One change of a room's mode, as the history, the SSE stream and the bot's notifier see it."""

    room: str
    mode: str
    previous: str | None = None
    """The mode the room left (None for the first state the store saw)."""
    at: datetime
    confidence: float = Field(ge=0.0, le=1.0)


class PhaseChange(Record):
    """The phase of a lesson the class's room server announced for a room (`room.phase.changed`: arrival,
    lecture, activity, conclude, departure, or whatever its console sets), kept beside the room's modes."""

    room: str
    phase: str = Field(min_length=1, max_length=80)
    at: datetime
    source: str | None = None
    """Who set it on the server (its console, a project), as the server said."""
    event_id: str | None = None
    """The server's id of the event that announced it."""


class SinkStatus(Record):
    """How one configured output sink is doing: what `GET /api/outputs`, the dashboard and `outputs test` show."""

    name: str
    kind: str
    events: list[OutputKind]
    state: Literal["connected", "retrying", "stopped"]
    """`connected`: its last attempt went through (or none was needed yet); `retrying`: it is failing and backing
    off; `stopped`: no delivery worker runs in this process (a `serve` without `--live`, or a worker that failed:
    `last_error` says why)."""
    target: str
    """Where it delivers (a URL without credentials, a broker address, a program), for a person to check."""
    retrying_since: datetime | None = None
    last_delivery_at: datetime | None = None
    last_error: str | None = None
    """The newest failure, one line, never holding a secret."""
    detail: str | None = None
    """Sink-specific: a command's last exit status and stderr line."""
    delivered: int = 0
    """Events delivered by this process since it started."""
    pending: int = 0
    """Events in the outbox it has not delivered yet."""
    parked: int = 0
    """Events it refused for good (kept with their error, not retried)."""
    last_parked_error: str | None = None
