"""What the dashboard pages draw, assembled from the history store in one snapshot per request.

A page asks for one view (`Overview` for `/`, `CameraDetail` for `/cameras/{camera}`) rather than
making a request per room and camera, so a refresh triggered by a server-sent event is one round
trip and every card on the screen describes the same instant. The views reuse the shared records
(`ModeState`, `CameraStatus`, `SurpriseReading`, `Prediction`) as they are; only the shapes that
exist for drawing (timeline bands, mode colours) are defined here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from classroom_mode.clock import as_utc, utc_now
from classroom_mode.config import Config
from classroom_mode.modes import Freshness, describe, mode_color, mode_spans
from classroom_mode.records import (
    UNCERTAIN,
    CameraStatus,
    ModeSpan,
    ModeState,
    PhaseChange,
    Prediction,
    SinkStatus,
    SurpriseReading,
)
from classroom_mode.store import HistoryStore

"""Colours for modes whose config gives none, in config order (distinct at a glance, readable with white text)."""
"""`uncertain` and any mode name the config does not list."""

SPARKLINE_READINGS = 60
HISTORY_READINGS = 500


class ModeView(BaseModel):
    name: str
    display_name: str
    emoji: str
    ambience: str
    color: str


class CameraCard(BaseModel):
    camera_id: str
    status: CameraStatus | None
    surprise: list[SurpriseReading]
    """The latest readings, oldest first (the sparkline's order)."""
    thumbnail: str | None = None
    """URL of the camera's latest frame, when the server holds its last clip (set by the dashboard's routes)."""
    snapshot: bool = True
    """False when the config switches the camera's live picture off (`snapshot: false`): no frame is shown."""


class RoomCard(BaseModel):
    room: str
    state: ModeState | None
    timeline: list[ModeSpan]
    phases: list[PhaseChange] = []
    """The lesson phases the class's room server announced today (led by the one the day opened in)."""
    cameras: list[CameraCard]


class Overview(BaseModel):
    now: datetime
    day_start: datetime
    live: bool
    """Whether this server measures (runs the live loop) or only serves the stored history."""
    modes: list[ModeView]
    surprise_unusual: float
    surprise_anomaly: float
    rooms: list[RoomCard]
    outputs: list[SinkStatus] = []
    """The configured output sinks and how they are doing (empty when none is configured)."""


class CameraDetail(BaseModel):
    camera_id: str
    room: str
    status: CameraStatus | None
    latest: Prediction | None
    surprise: list[SurpriseReading]
    """Oldest first; each reading carries the baseline it was scored against."""
    surprise_unusual: float
    surprise_anomaly: float
    modes: list[ModeView]
    strip: str | None = None
    """URL of the last clip's frames as one image, when the server holds the clip (set by the routes)."""
    attention: str | None = None
    """URL of the probe's attention over the last clip, when the probe is attentive and the clip is held."""
    snapshot: bool = True
    """False when the config switches the camera's live picture off (`snapshot: false`): no frame is shown."""


def mode_views(config: Config) -> list[ModeView]:
    """Every configured mode with its colour (from config, else the palette), plus `uncertain` in grey."""
    views = [
        ModeView(
            name=name,
            display_name=mode.display_name,
            emoji=mode.emoji,
            ambience=mode.ambience,
            color=mode_color(name, config.modes),
        )
        for name, mode in config.modes.items()
    ]
    uncertain = describe("uncertain", config.modes)
    views.append(
        ModeView(
            name="uncertain",
            display_name=uncertain.display_name,
            emoji=uncertain.emoji,
            ambience=uncertain.ambience,
            color=mode_color(UNCERTAIN, config.modes),
        )
    )
    return views


def start_of_day(now: datetime) -> datetime:
    """Local midnight of `now`'s day on the server, as an aware datetime ("today" is the room's day)."""
    local = as_utc(now).astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def overview(
    config: Config,
    store: HistoryStore,
    *,
    live: bool,
    now: datetime | None = None,
    outputs: list[SinkStatus] | None = None,
) -> Overview:
    """Every configured room's card: state, today's timeline, and each camera's status and surprise, each state
    and status judged against the clock."""
    now = now or utc_now()
    day_start = start_of_day(now)
    freshness = Freshness(config)
    statuses = {s.camera_id: freshness.camera(s, now) for s in store.cameras()}
    rooms = []
    for room_name, room in config.rooms.items():
        stored = store.state(room_name)
        state = freshness.room(stored, now) if stored is not None else None
        changes = store.mode_changes(room_name, since=day_start)
        cameras = [
            CameraCard(
                camera_id=camera_id,
                status=statuses.get(camera_id),
                surprise=store.surprise(camera_id, limit=SPARKLINE_READINGS)[::-1],
                snapshot=camera.snapshot,
            )
            for camera_id, camera in room.cameras.items()
        ]
        rooms.append(
            RoomCard(
                room=room_name,
                state=state,
                timeline=mode_spans(changes, state, day_start, now),
                phases=store.phases(room_name, since=day_start),
                cameras=cameras,
            )
        )
    surprise = config.thresholds.surprise
    return Overview(
        now=now,
        day_start=day_start,
        live=live,
        modes=mode_views(config),
        surprise_unusual=surprise.unusual,
        surprise_anomaly=surprise.anomaly,
        rooms=rooms,
        outputs=outputs or [],
    )


def camera_detail(config: Config, store: HistoryStore, camera_id: str) -> CameraDetail:
    """One camera's page: status, latest reading, and its surprise history against its baseline."""
    room, camera = config.camera(camera_id)
    stored = next((s for s in store.cameras() if s.camera_id == camera_id), None)
    status = Freshness(config).camera(stored, utc_now()) if stored is not None else None
    latest = store.predictions(camera_id, limit=1)
    surprise = config.thresholds.surprise
    return CameraDetail(
        camera_id=camera_id,
        room=room,
        status=status,
        latest=latest[0] if latest else None,
        surprise=store.surprise(camera_id, limit=HISTORY_READINGS)[::-1],
        surprise_unusual=surprise.unusual,
        surprise_anomaly=surprise.anomaly,
        modes=mode_views(config),
        snapshot=camera.snapshot,
    )


def frame_version(status: CameraStatus | None) -> str:
    """A cache-busting token for a camera's frame images: changes whenever the camera delivers a new frame."""
    if status is None or status.last_frame_at is None:
        return "0"
    return str(int(as_utc(status.last_frame_at).timestamp() * 1000))
