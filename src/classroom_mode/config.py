"""The one configuration file, `classroom-mode.yaml`, validated with pydantic.

Nothing else in the code reads raw YAML. Secrets are never stored here: the file names the
environment variable that holds each one, and `secret()` reads it at the moment of use.
A missing file means the defaults: one room with one simulated camera, which is what the
offline demo runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from classroom_mode.errors import UserError
from classroom_mode.records import OutputKind

DEFAULT_CONFIG_FILE = "classroom-mode.yaml"
SHIPPED_MODEL_ID = "classroom-mode/vjepa2-tiny-sim"
"""The project's own small V-JEPA, shipped in the package: the default backbone, found offline."""
OFFICIAL_BACKBONE = "facebook/vjepa2-vitl-fpc64-256"


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _env_name(name: str) -> str:
    # a secret pasted where its variable's name belongs would otherwise be looked up, found unset, and ignored
    if not _ENV_NAME.match(name):
        raise ValueError(
            "must be the NAME of an environment variable (letters, digits, '_'; at most 64), not the secret itself"
        )
    return name


_NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,64}$")


def _reachable_names(names: dict[str, Any]) -> dict[str, Any]:
    # a room or camera name is a URL path segment (/api/rooms/NAME, /cameras/NAME) and a folder name
    for name in names:
        if not _NAME.match(name) or name.strip() != name:
            raise ValueError(
                f"{name!r}: a room or camera name is 1 to 64 characters without '/', '\\', control characters "
                "or spaces at either end (it is part of URLs and file names)"
            )
    return names


EnvName = Annotated[str, AfterValidator(_env_name)]
"""A field naming the environment variable that holds a secret: the secret never sits in the file."""


def redact_url(url: str) -> str:
    """The URL without its password, for logs, status lines and `config check` (IP cameras put it in the URL)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


def _no_credentials(url: str | None) -> str | None:
    if url is not None and "@" in url.partition("://")[2].split("/", 1)[0]:
        raise ValueError("must not hold credentials: put the token in the environment variable the *_env field names")
    return url


ServiceUrl = Annotated[str | None, AfterValidator(_no_credentials)]


class Section(BaseModel):
    # `.inf` and `.nan` are valid YAML floats; no interval, limit or threshold of ours means anything at either
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ClipSettings(Section):
    """How a live camera's frames become one clip for the encoder."""

    frames: int = Field(16, ge=2, le=128, description="frames per clip (resampled to the model's frames-per-clip)")
    seconds: float = Field(3.0, gt=0.0, le=60.0, description="wall-clock span one clip covers")


class FileSourceConfig(Section):
    kind: Literal["file"] = "file"
    path: Path
    loop: bool = Field(True, description="play again from the start at the end, paced in real time")


class WebcamSourceConfig(Section):
    kind: Literal["webcam"] = "webcam"
    index: int = Field(0, ge=0)
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)


class StreamSourceConfig(Section):
    """An RTSP or HTTP stream (IP cameras)."""

    kind: Literal["stream"] = "stream"
    url: str
    open_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("rtsp://", "rtsps://", "http://", "https://")):
            raise ValueError("must start with rtsp://, rtsps://, http:// or https://")
        return url


class OakSourceConfig(Section):
    kind: Literal["oak"] = "oak"
    device_id: str | None = Field(None, description="MX id or IP of one OAK device; the first one found if unset")
    fps: float = Field(15.0, gt=0)


class SimSourceConfig(Section):
    """The simulator's classroom played in real time: the demo's camera."""

    kind: Literal["sim"] = "sim"
    timeline: str = Field("group:60,presentation:60,solo:40,empty:30", description="mode:seconds,...")
    seed: int = 0
    fps: float = Field(8.0, gt=0, le=60)
    width: int = Field(256, ge=32, le=1920)
    height: int = Field(256, ge=32, le=1080)


CameraSource = Annotated[
    FileSourceConfig | WebcamSourceConfig | StreamSourceConfig | OakSourceConfig | SimSourceConfig,
    Field(discriminator="kind"),
]


RelativeCoordinate = Annotated[float, Field(ge=0.0, le=1.0)]
MaskPoint = tuple[RelativeCoordinate, RelativeCoordinate]


def _cross(o: MaskPoint, a: MaskPoint, b: MaskPoint) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p: MaskPoint, q: MaskPoint, r: MaskPoint, s: MaskPoint) -> bool:
    """Whether segments pq and rs share a point (touching or overlapping counts)."""
    d1, d2, d3, d4 = _cross(r, s, p), _cross(r, s, q), _cross(p, q, r), _cross(p, q, s)
    if ((d1 > 0) != (d2 > 0) and d1 != 0 and d2 != 0) and ((d3 > 0) != (d4 > 0) and d3 != 0 and d4 != 0):
        return True

    def on(a: MaskPoint, b: MaskPoint, c: MaskPoint, d: float) -> bool:
        return d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return on(r, s, p, d1) or on(r, s, q, d2) or on(p, q, r, d3) or on(p, q, s, d4)


def _simple_polygon(points: list[MaskPoint]) -> list[MaskPoint]:
    if len(points) < 3:
        raise ValueError(f"a mask polygon needs at least 3 points [x, y], got {len(points)}")
    edges = list(zip(points, points[1:] + points[:1], strict=True))
    for i, (p, q) in enumerate(edges):
        for j in range(i + 1, len(edges)):
            if j == i + 1 or (i == 0 and j == len(edges) - 1):
                continue  # neighbours share a corner
            if _segments_cross(p, q, *edges[j]):
                raise ValueError(f"the polygon crosses itself (edges {i + 1} and {j + 1})")
    if abs(sum(_cross((0.0, 0.0), p, q) for p, q in edges)) < 1e-9:
        raise ValueError("the polygon has no area (its points are on one line)")
    return points


def _inside(x: float, y: float, polygon: list[MaskPoint]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


_COVERAGE_GRID = 64


def _not_the_whole_frame(polygons: list[list[MaskPoint]]) -> list[list[MaskPoint]]:
    # a mask over the whole picture leaves the camera nothing to see: a mistake, or a camera to switch off instead
    if polygons:
        centres = [(i + 0.5) / _COVERAGE_GRID for i in range(_COVERAGE_GRID)]
        if all(any(_inside(x, y, polygon) for polygon in polygons) for y in centres for x in centres):
            raise ValueError("the masks cover the whole frame: the camera would see nothing (remove the camera)")
    return polygons


MaskPolygon = Annotated[list[MaskPoint], AfterValidator(_simple_polygon)]
"""One polygon of a privacy mask: [[x, y], ...] relative to the frame, 0–1, x to the right and y down."""


class CameraConfig(Section):
    source: CameraSource = Field(default_factory=SimSourceConfig)
    interval_s: float = Field(10.0, gt=0, description="seconds between the starts of two clips")
    clip: ClipSettings = Field(default_factory=ClipSettings)
    offline_after_s: float = Field(15.0, gt=0, description="no frame for this long marks the camera offline")
    privacy_masks: Annotated[list[MaskPolygon], AfterValidator(_not_the_whole_frame)] = Field(
        default_factory=list,
        description="polygons blacked out of every frame before anything (encoder, recorder, dashboard) sees it: "
        "[[x, y], ...] relative to the frame, 0-1",
    )
    snapshot: bool = Field(
        True, description="the dashboard may show this camera's latest frames (held in memory only); false: never"
    )


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 16:00 as the base-60 number 960: read it back as the time it was written as
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    if isinstance(value, str) and re.fullmatch(r"\d:\d\d(:\d\d)?", value.strip()):
        return "0" + value.strip()  # 9:00 as people write it
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]
"""A time of day written HH:MM (quoted or not)."""


class ActivePeriod(Section):
    """One stretch of a week the room is watched: these days, from `start` to `end` (local time, same day)."""

    days: list[Weekday] = Field(min_length=1)
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> ActivePeriod:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} must be after start {self.start:%H:%M} (within one day)")
        return self


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known time zone (e.g. Europe/Dublin, America/New_York, UTC)") from None
    return name


class ActiveHours(Section):
    """When a room is watched. Outside these hours its cameras are released and nothing is encoded or recorded."""

    timezone: Annotated[str, AfterValidator(_zone)] = Field(description="the room's IANA time zone, e.g. Europe/Dublin")
    periods: list[ActivePeriod] = Field(min_length=1, description="days and times the room is watched")
    closed: list[date] = Field(default_factory=list, description="dates (holidays) the room is not watched at all")

    def active(self, at: datetime) -> bool:
        """Whether the room is watched at `at` (an aware time; naive is read as UTC), in the room's own zone."""
        local = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(ZoneInfo(self.timezone))
        if local.date() in self.closed:
            return False
        day, clock = WEEKDAYS[local.weekday()], local.time().replace(tzinfo=None)
        return any(day in period.days and period.start <= clock < period.end for period in self.periods)


class RoomConfig(Section):
    cameras: Annotated[dict[str, CameraConfig], AfterValidator(_reachable_names)] = Field(
        default_factory=lambda: {"sim-cam": CameraConfig()}
    )
    probe: Path | None = Field(None, description="the trained probe for this room (safetensors + JSON sidecar)")
    consensus: Literal["average", "most_confident", "agreement"] = "average"
    active_hours: ActiveHours | None = Field(None, description="when the room is watched; always when unset")
    phase_labels: dict[str, str] = Field(
        default_factory=dict,
        description="lesson phases the room server announces, each mapped to the mode the labelling page suggests "
        "for clips recorded during it (e.g. lecture: presentation); the teacher confirms every one",
    )

    @field_validator("cameras")
    @classmethod
    def _at_least_one_camera(cls, cameras: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        if not cameras:
            raise ValueError("a room needs at least one camera")
        return cameras


class ModeConfig(Section):
    display_name: str
    emoji: str = "❔"
    ambience: str
    color: str | None = Field(
        None, pattern=r"^#[0-9a-fA-F]{6}$", description="#rrggbb for the dashboard; a palette colour when unset"
    )


def _default_modes() -> dict[str, ModeConfig]:
    return {
        "empty": ModeConfig(display_name="Empty", emoji="🪑", ambience="off", color="#64748b"),
        "solo": ModeConfig(display_name="Solo", emoji="🕺", ambience="party", color="#d946ef"),
        "group": ModeConfig(display_name="Group", emoji="☕", ambience="café", color="#f59e0b"),
        "presentation": ModeConfig(display_name="Presentation", emoji="🎤", ambience="full silence", color="#0ea5e9"),
    }


class BackboneConfig(Section):
    model: str = Field(SHIPPED_MODEL_ID, description="hub id, local directory, or the shipped small model")
    revision: str | None = None
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    compile: bool = Field(False, description="torch.compile the encoder (CUDA)")
    quantize: Literal["none", "int8"] = Field("none", description="int8 dynamic quantisation of linear layers (CPU)")
    crop_size: int | None = Field(
        None,
        gt=0,
        description="pixels a side the model sees; default its own (larger shows far-away people over more patches)",
    )


class EncodingConfig(Section):
    """Where clips are encoded: in this process, or on a remote `classroom-mode serve` (e.g. a GPU box)."""

    where: Literal["local", "remote"] = "local"
    remote_url: ServiceUrl = None
    remote_token_env: EnvName | None = Field(None, description="environment variable holding the remote API token")

    @model_validator(mode="after")
    def _remote_needs_url(self) -> EncodingConfig:
        if self.where == "remote" and not self.remote_url:
            raise ValueError("remote_url is required when where is 'remote'")
        return self


class PathsConfig(Section):
    data: Path = Path("data")
    cache: Path = Path(".classroom-mode/cache")
    database: Path = Path(".classroom-mode/history.db")
    probes: Path = Path(".classroom-mode/probes")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    api_token_env: EnvName | None = Field(
        "CLASSROOM_MODE_API_TOKEN",
        description="POST endpoints need the bearer token this variable holds; a server that encodes clips will not "
        "start while it is unset. null: POST endpoints without a token (only for a server nobody else can reach)",
    )
    max_upload_mb: float = Field(50.0, gt=0)
    max_upload_seconds: float = Field(60.0, gt=0)
    max_upload_decodes: int = Field(
        2,
        ge=1,
        description="uploads in the works at once (decoded, each within 128 MiB, or with the model); the others wait "
        "up to 30 s, then get 503 with Retry-After",
    )


class DiscordConfig(Section):
    token_env: EnvName = "DISCORD_TOKEN"
    prefix: str = "!"
    prefix_commands: bool = Field(True, description="off for servers that do not grant the message-content intent")
    notify_channel_id: int | None = None
    webhook_url_env: EnvName | None = "CLASSROOM_MODE_WEBHOOK_URL"
    api_url: ServiceUrl = Field(None, description="read the room state from this `serve` URL instead of the database")
    cooldown_s: float = Field(300.0, ge=0)
    min_dwell_s: float = Field(60.0, ge=0)


class SurpriseThresholds(Section):
    unusual: float = Field(3.0, gt=0, description="robust z-score at which a window is unusual")
    anomaly: float = Field(6.0, gt=0, description="robust z-score at which a window is an anomaly")
    baseline_window: int = Field(120, ge=5, description="readings kept in each camera's rolling baseline")
    min_baseline: int = Field(10, ge=3, description="readings needed before a level other than normal is given")

    @model_validator(mode="after")
    def _ordered(self) -> SurpriseThresholds:
        if self.anomaly <= self.unusual:
            raise ValueError("anomaly must be greater than unusual")
        return self


class HmmSettings(Section):
    """The forward filter's prior and decision rule (`thresholds.estimator: hmm`, `modes/hmm.py`)."""

    dwell_s: float = Field(
        120.0,
        gt=0,
        description="expected seconds a room stays in one mode; a camera's per-window stay prior is "
        "exp(-interval_s / dwell_s), the rest spread evenly over the other modes",
    )
    change_posterior: float = Field(
        0.7, gt=0, lt=1, description="posterior probability a mode needs to become the camera's mode"
    )
    uncertain_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="weight of an `uncertain` reading's evidence (its probabilities raised to this power): "
        "0 ignores it, 1 counts it as any other reading",
    )


UNCERTAIN_BELOW = 0.3
"""The default calibrated top probability under which a reading is `uncertain`. Calibrated, a probe that reads the
demo's four modes at 0.63 puts a median 0.47 on its top mode, so 0.5 made most of its readings uncertain, and no
estimator lets an uncertain reading change the room (docs/benchmarks/room_mode.md, the tuning)."""


class Thresholds(Section):
    uncertain_below: float = Field(
        UNCERTAIN_BELOW, ge=0, le=1, description="calibrated top probability under this is `uncertain`"
    )
    estimator: Literal["ema", "hmm"] = Field(
        "ema",
        description="how a camera's readings become its mode: `ema` (moving average and hysteresis, the three "
        "keys below) or `hmm` (a forward filter, `hmm:`)",
    )
    smoothing_alpha: float = Field(
        1.0, gt=0, le=1, description="EMA weight of the newest reading (1: no average, the hysteresis alone)"
    )
    consecutive_windows: int = Field(2, ge=1, description="wins in a row that accept a new mode")
    enter_probability: float = Field(0.6, gt=0, le=1, description="smoothed probability that accepts at once")
    hmm: HmmSettings = Field(default_factory=HmmSettings)
    stale_after_s: float = Field(60.0, gt=0)
    surprise: SurpriseThresholds = Field(default_factory=SurpriseThresholds)


class RetentionConfig(Section):
    history_days: float | None = Field(90.0, gt=0)
    unlabeled_days: float | None = Field(None, gt=0)
    unlabeled_gb: float | None = Field(None, gt=0)


def _kinds(*kinds: OutputKind) -> Callable[[], list[OutputKind]]:
    """A sink's default `events`, as a fresh list per config."""
    return lambda: list(kinds)


class OutputSettings(Section):
    events: list[OutputKind] = Field(description="which events this sink takes")
    coalesce_after_s: float = Field(
        60.0,
        ge=0,
        description="once a sink is this far behind, an event a newer one of the same kind and room or camera "
        "supersedes is skipped: a sink down for hours gets the room's state, not every flip",
    )
    max_backoff_s: float = Field(60.0, gt=0, description="longest wait between two retries")

    takes_only: ClassVar[tuple[OutputKind, str] | None] = None
    """For a sink that can take one kind of event: that kind, and why (the error when `events` names others)."""

    @field_validator("events")
    @classmethod
    def _some_events(cls, events: list[OutputKind]) -> list[OutputKind]:
        if not events:
            raise ValueError("a sink needs at least one event kind (reading, mode, surprise, camera)")
        if cls.takes_only is not None and events != [cls.takes_only[0]]:
            raise ValueError(cls.takes_only[1])
        return list(dict.fromkeys(events))


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return url


HttpUrl = Annotated[str, AfterValidator(_http_url), AfterValidator(_no_credentials)]


class BusOutput(OutputSettings):
    """The class's room server: each camera's whole state pushed to `POST {url}/push/state`, and, under a
    `project_id` the server knows, this product as a project of the room (heartbeats, the room's mode and
    surprise as the project's events); with `listen`, the room's requests to the cameras acted on."""

    kind: Literal["bus"] = "bus"
    url: HttpUrl
    api_key_env: EnvName | None = Field(
        None, description="environment variable holding an X-API-Key (the Python reference server checks one)"
    )
    project_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$",
        description="this product's id in the server's project list: heartbeats and the room's own events go there",
    )
    listen: bool = Field(
        False, description="act on the room's requests to these cameras (capture a clip) and record its phase"
    )
    room: str | None = Field(None, description="the room whose phase the server holds (needed with several rooms)")
    heartbeat_s: float = Field(30.0, ge=5, le=600, description="seconds between two heartbeats")
    timeout_s: float = Field(5.0, gt=0, le=120)
    events: list[OutputKind] = Field(default_factory=_kinds("reading", "mode", "surprise", "camera"))

    @model_validator(mode="after")
    def _mode_events_need_a_project(self) -> BusOutput:
        # the server makes its own room mode from pushes; this product's mode goes out as the project's event
        if self.project_id is None and "mode" in self.events:
            if "events" in self.model_fields_set:
                raise ValueError("events: mode changes are published as the project's events: set project_id")
            self.events = [kind for kind in self.events if kind != "mode"]
        return self


class MqttOutput(OutputSettings):
    """An MQTT broker, with Home Assistant discovery so the room shows up there without any YAML."""

    kind: Literal["mqtt"] = "mqtt"
    host: str
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password_env: EnvName | None = Field(None, description="environment variable holding the MQTT password")
    tls: bool = False
    ca_file: Path | None = Field(None, description="CA certificate for TLS; the system's when unset")
    client_id: str | None = None
    topic_prefix: str = Field("classroom-mode", pattern=r"^[^#+\x00]+$")
    discovery_prefix: str | None = Field(
        "homeassistant", pattern=r"^[^#+\x00]+$", description="Home Assistant's discovery prefix; null: none"
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="how long a publish may wait for the broker's ack")
    events: list[OutputKind] = Field(default_factory=_kinds("reading", "mode", "surprise", "camera"))


class WebhookOutput(OutputSettings):
    """POST each event as JSON, signed with HMAC-SHA256 when a secret is named."""

    kind: Literal["webhook"] = "webhook"
    url: HttpUrl
    secret_env: EnvName | None = Field(None, description="environment variable holding the HMAC-SHA256 secret")
    timeout_s: float = Field(5.0, gt=0, le=120)
    events: list[OutputKind] = Field(default_factory=_kinds("mode"))


class CommandOutput(OutputSettings):
    """Run a program (never through a shell) per event: the event in CLASSROOM_* variables and as JSON on stdin."""

    kind: Literal["command"] = "command"
    argv: list[str] = Field(min_length=1, description="the program and its arguments")
    timeout_s: float = Field(10.0, gt=0, le=600)
    events: list[OutputKind] = Field(default_factory=_kinds("mode"))


class SoundOutput(OutputSettings):
    """Play each ambience on this machine's speaker, fading over on a change; an ambience without a sound (such
    as `full silence`) fades out."""

    kind: Literal["sound"] = "sound"
    ambiences: dict[str, Path] = Field(
        min_length=1, description="ambience name → a sound file, or a folder whose files play in turn, looped"
    )
    room: str | None = Field(None, description="the room whose mode it follows (needed when there are several)")
    fade_s: float = Field(2.0, ge=0, le=60, description="seconds the old ambience fades out and the new one in")
    volume: float = Field(1.0, ge=0, le=1)
    device: str = Field("default", description="the ALSA device `aplay` plays on")
    player: list[str] | None = Field(
        None,
        min_length=1,
        description="a program reading 44.1 kHz 16-bit stereo PCM on stdin, instead of aplay on `device`",
    )
    events: list[OutputKind] = Field(default_factory=_kinds("mode"))
    takes_only = ("mode", "a sound sink follows mode changes only")


OutputConfig = Annotated[
    BusOutput | MqttOutput | WebhookOutput | CommandOutput | SoundOutput, Field(discriminator="kind")
]
OUTPUT_KINDS = ("bus", "mqtt", "webhook", "command", "sound")


class Config(Section):
    rooms: Annotated[dict[str, RoomConfig], AfterValidator(_reachable_names)] = Field(
        default_factory=lambda: {"demo-room": RoomConfig()}
    )
    modes: dict[str, ModeConfig] = Field(default_factory=_default_modes)
    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    encoding: EncodingConfig = Field(default_factory=EncodingConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    outputs: Annotated[dict[str, OutputConfig], AfterValidator(_reachable_names)] = Field(
        default_factory=dict, description="where the room's events go, by sink name"
    )

    @model_validator(mode="after")
    def _sinks_follow_one_known_room(self) -> Config:
        for name, sink in self.outputs.items():
            if not isinstance(sink, SoundOutput | BusOutput):
                continue
            if sink.room is not None and sink.room not in self.rooms:
                raise ValueError(f"outputs.{name}.room: {sink.room!r} is not a configured room")
            needed = isinstance(sink, SoundOutput) or sink.listen
            if needed and sink.room is None and len(self.rooms) > 1:
                which = "which room's mode it plays" if isinstance(sink, SoundOutput) else "which room it listens for"
                raise ValueError(f"outputs.{name}.room: {which} ({', '.join(self.rooms)})")
        return self

    @model_validator(mode="after")
    def _unique_camera_ids(self) -> Config:
        seen: dict[str, str] = {}
        for room_name, room in self.rooms.items():
            for camera_id in room.cameras:
                if camera_id in seen:
                    raise ValueError(f"camera {camera_id!r} is in both rooms {seen[camera_id]!r} and {room_name!r}")
                seen[camera_id] = room_name
        return self

    @model_validator(mode="after")
    def _phases_label_known_modes(self) -> Config:
        for room_name, room in self.rooms.items():
            for phase, mode in room.phase_labels.items():
                if mode not in self.modes:
                    raise ValueError(
                        f"rooms.{room_name}.phase_labels.{phase}: {mode!r} is not a mode ({', '.join(self.modes)})"
                    )
        return self

    @field_validator("modes")
    @classmethod
    def _at_least_two_modes(cls, modes: dict[str, ModeConfig]) -> dict[str, ModeConfig]:
        if len(modes) < 2:
            raise ValueError("at least two modes are needed to tell a room's use")
        if "uncertain" in modes:
            raise ValueError("'uncertain' is reserved for predictions the probe is unsure of")
        return modes

    def redacted_dump(self) -> dict[str, Any]:
        """The config as JSON with camera URL passwords replaced by `***`: what `config check --json` prints."""
        dumped = self.model_dump(mode="json")
        for room in dumped["rooms"].values():
            for camera in room["cameras"].values():
                if camera["source"].get("url"):
                    camera["source"]["url"] = redact_url(camera["source"]["url"])
        return dumped

    def secret_names(self) -> set[str]:
        """Every environment variable this config names as holding a secret (each `*_env` field that is set)."""
        names: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if isinstance(value, str) and key.endswith("_env"):
                        names.add(value)
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.model_dump())
        return names

    def camera(self, camera_id: str) -> tuple[str, CameraConfig]:
        """The room name and settings of one camera, or a UserError naming the known ones."""
        for room_name, room in self.rooms.items():
            if camera_id in room.cameras:
                return room_name, room.cameras[camera_id]
        known = ", ".join(c for r in self.rooms.values() for c in r.cameras) or "none"
        raise UserError(f"unknown camera {camera_id!r} (configured: {known})")


class ConfigErrors(UserError):
    """Every problem in a config file, one line each with its field path."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def secret(env_var: str | None) -> str | None:
    """The value of a secret named by its environment variable; None when unset or empty."""
    if not env_var:
        return None
    return os.environ.get(env_var) or None


SOURCE_KINDS = ("file", "webcam", "stream", "oak", "sim")


def _is_union_tag(location: tuple[Any, ...], i: int) -> bool:
    part = location[i]
    if i > 0 and location[i - 1] == "source":
        return part in SOURCE_KINDS
    return i == 2 and location[0] == "outputs" and part in OUTPUT_KINDS


def _field_path(location: tuple[Any, ...]) -> str:
    # pydantic puts the discriminator tag in the location of a union member ('source.sim.fps',
    # 'outputs.home.mqtt.port'); users never wrote it, so it is dropped there, and only there: a room, a camera
    # or a sink may well be called `file`, `sim` or `mqtt`
    parts = [str(p) for i, p in enumerate(location) if not _is_union_tag(location, i)]
    return ".".join(parts) or "(top level)"


def validation_problems(exc: ValidationError) -> list[str]:
    """Each problem of a pydantic validation error as `field.path: reason`, in words a user reads."""
    problems = []
    for err in exc.errors():
        path, message = _field_path(err["loc"]), _plain_message(err)
        # a check across sections names the field itself ('outputs.speaker.room: ...')
        problems.append(message if not err["loc"] and _NAMED_FIELD.match(message) else f"{path}: {message}")
    return problems


_NAMED_FIELD = re.compile(r"^[\w-]+(\.[^\s:]+)+: ")


def validation_message(exc: ValidationError) -> str:
    """`validation_problems` on one line."""
    return "; ".join(validation_problems(exc))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (PyYAML keeps the last one silently, so a
    room, a camera or a whole section written twice would lose the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is written twice (first on line {seen[key].line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def parse_config(text: str, source: str = DEFAULT_CONFIG_FILE) -> Config:
    """Validate YAML text; raises ConfigErrors listing every problem with its field path."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigErrors(source, [f"{where}not valid YAML ({problem})"]) from None
    except ValueError as exc:  # a value YAML reads as a date or time that does not exist, e.g. 2026-02-30
        raise ConfigErrors(source, [f"not valid YAML ({exc})"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigErrors(source, ["the file must be a mapping of sections (rooms:, modes:, ...)"])
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigErrors(source, validation_problems(exc)) from None


def _plain_message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return str(err["msg"]).removeprefix("Value error, ")


def load_config(path: Path | str | None = None) -> Config:
    """Load a config file; None means `classroom-mode.yaml` in the working directory if present, else defaults."""
    if path is None:
        default = Path(DEFAULT_CONFIG_FILE)
        if not default.exists():
            return Config()
        path = default
    path = Path(path)
    if str(path) == "-":
        import sys

        return parse_config(sys.stdin.read(), "<stdin>")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read config file ({exc})") from None
    return parse_config(text, str(path))
