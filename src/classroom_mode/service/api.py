"""The HTTP API: room state and history for the dashboard and the bot, clip analysis for edge devices.

Responses are the shared records (`ModeState`, `ModeChange`, `CameraStatus`, `Prediction`,
`SurpriseReading`), so the OpenAPI page at `/docs` documents exactly what the store holds. GET
endpoints read the history store, which `serve --live` fills in-process or a `classroom-mode run`
fills from another process. POST endpoints take a clip upload (multipart field `file`) and run the
`LocalEncoder`; they need `Authorization: Bearer <token>`, the token in the variable that
`server.api_token_env` names (a server that encodes clips does not start while it is unset; `null` means no
token, chosen openly). Upload limits: over `max_upload_mb` → 413, not a readable video (or more pixels than a
clip may hold) → 415, longer than `max_upload_seconds` → 422, each with a JSON `detail` saying why; frames are scaled
to `UPLOAD_MAX_SIDE` as they are decoded, so a small file of huge frames costs no more than a small one.

States and camera statuses are served as judged against the clock (`modes.Freshness`), never as stored.

`create_app(config, store, encoder=, loop=, clock=)` builds the app; the dashboard mounts its pages on it.
"""

from __future__ import annotations

import hmac
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, UploadFile
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from classroom_mode import __version__
from classroom_mode.clock import Clock, utc_now
from classroom_mode.config import Config, secret
from classroom_mode.errors import UserError
from classroom_mode.modes import Freshness
from classroom_mode.outputs import stored_statuses
from classroom_mode.records import (
    CameraStatus,
    Clip,
    ModeChange,
    ModeState,
    Prediction,
    SinkStatus,
    SurpriseReading,
)
from classroom_mode.service.analysis import LocalEncoder
from classroom_mode.service.limits import BodyLimit
from classroom_mode.service.loop import LiveLoop
from classroom_mode.service.sse import stored_events
from classroom_mode.store import HistoryStore

UPLOAD_MAX_SIDE = 1280
"""Uploaded frames are scaled to at most this many pixels a side as they are decoded: well above what any
backbone looks at (ViT-L resizes the short edge to 292), far below what an 8K clip would hold in RGB."""
MULTIPART_SLACK = 64 * 1024
"""Bytes allowed over `max_upload_mb` for the multipart envelope around the file."""
HISTORY_DEFAULT = timedelta(days=1)
Upload = Annotated[UploadFile, File(description="a video clip (MP4, WebM, ...)")]


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


def create_app(
    config: Config,
    store: HistoryStore,
    encoder: LocalEncoder | None = None,
    loop: LiveLoop | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The API app over `store`; POST endpoints need `encoder`; `loop` (if given) runs for the app's lifetime;
    `clock` is what states and statuses are judged against (and what "the last 24 hours" count back from)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if loop is not None:
            loop.start()
        try:
            yield
        finally:
            if loop is not None:
                await run_in_threadpool(loop.stop)

    app = FastAPI(
        title="classroom-mode",
        version=__version__,
        summary="What each room is being used for, from its cameras, with a V-JEPA 2 video world model.",
        lifespan=lifespan,
    )
    limits = config.server
    too_large = f"clip too large: the limit is {limits.max_upload_mb:g} MB (server.max_upload_mb)"
    app.add_middleware(BodyLimit, max_bytes=int(limits.max_upload_mb * 1e6) + MULTIPART_SLACK, detail=too_large)

    if encoder is not None and limits.api_token_env and secret(limits.api_token_env) is None:
        # a token that is configured but missing must not leave the upload endpoints silently open
        raise UserError(
            f"server.api_token_env: the variable {limits.api_token_env} is not set; set it to the token clients must "
            "send, or set server.api_token_env: null to accept clips without one"
        )

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        if not limits.api_token_env:
            return  # chosen in the config: no token (serve says so when it starts)
        token = secret(limits.api_token_env)
        if token is None:
            raise HTTPException(503, f"server.api_token_env: {limits.api_token_env} is no longer set on the server")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def need_encoder() -> LocalEncoder:
        if encoder is None:
            raise HTTPException(503, "this server does not encode clips (started without a backbone)")
        return encoder

    def known_room(room: str) -> str:
        if room not in config.rooms and store.state(room) is None:
            raise HTTPException(404, f"unknown room {room!r} (known: {', '.join(config.rooms)})")
        return room

    @app.get("/health", tags=["status"])
    def health() -> Health:
        return Health(
            version=__version__,
            rooms=sorted(config.rooms),
            probes=sorted(encoder.probes) if encoder else [],
            fingerprint=encoder.fingerprint if encoder else None,
            live=loop is not None,
        )

    freshness = Freshness(config)

    @app.get("/api/rooms", tags=["rooms"])
    def rooms() -> list[ModeState]:
        """Every room's current state, judged against the clock (`stale`, `age_s`, `fresh_until`); rooms whose
        cameras have not reported yet are absent."""
        now = clock()
        return [freshness.room(state, now) for state in store.states()]

    @app.get(
        "/api/rooms/{room}",
        tags=["rooms"],
        responses={404: {"description": "unknown room, or no state yet"}},
    )
    async def room_state(room: str) -> ModeState:
        """The room's current state; `stale` is true when no reading came within `thresholds.stale_after_s`,
        whether or not a live loop is still running to say so."""
        # the hottest endpoint (every dashboard, bot and ambience controller polls it): one WAL read of one row,
        # which never waits for the writer, so it is read in the event loop rather than through the thread pool
        state = store.state(room)
        if state is None:
            known_room(room)
            raise HTTPException(404, f"room {room!r} has no state yet (is `classroom-mode run` running?)")
        return freshness.room(state, clock())

    @app.get("/api/rooms/{room}/history", tags=["rooms"])
    def room_history(room: str, since: datetime | None = None) -> list[ModeChange]:
        """The room's mode changes since `since` (default: the last 24 hours), oldest first."""
        return store.mode_changes(known_room(room), since or clock() - HISTORY_DEFAULT)

    @app.get("/api/cameras", tags=["cameras"])
    def cameras() -> list[CameraStatus]:
        """Every camera's status, judged against the clock: offline once no frame came within `offline_after_s`."""
        now = clock()
        return [freshness.camera(status, now) for status in store.cameras()]

    @app.get("/api/outputs", tags=["status"])
    def outputs() -> list[SinkStatus]:
        """Each configured output sink: connected / retrying (since when, why), what it delivered, what waits for it,
        and what it parked. A server without `--live` runs no delivery workers: its sinks show `stopped`, with what
        the store knows."""
        return loop.outputs.statuses() if loop is not None else stored_statuses(config, store)

    @app.get("/api/predictions", tags=["cameras"])
    def predictions(camera: str | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[Prediction]:
        """The latest probe readings, newest first."""
        return store.predictions(camera, limit)

    @app.get("/api/surprise", tags=["cameras"])
    def surprise(
        camera: str | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[SurpriseReading]:
        """The latest surprise readings, newest first."""
        return store.surprise(camera, limit)

    @app.get("/api/events", tags=["status"], response_class=EventSourceResponse)
    async def events(
        last_event_id: Annotated[int | None, Header()] = None, after: int | None = None
    ) -> AsyncIterator[ServerSentEvent]:
        """Server-sent events: `mode_change`, `surprise_alert`, `camera_status`, each with the record as JSON data.

        New events only, unless `after` (or a reconnecting browser's `Last-Event-ID`) gives the id to resume after.
        """
        cursor = after if after is not None else last_event_id
        if cursor is None:
            cursor = await run_in_threadpool(store.last_event_id)
        async for event in stored_events(store, cursor):
            yield event

    async def uploaded_clip(file: UploadFile, camera: str) -> Clip:
        """The upload as a clip, or the 4xx that says why it cannot be one."""
        with tempfile.TemporaryDirectory(prefix="classroom-mode-upload-") as tmp:
            path = Path(tmp) / "upload"
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out)
            if path.stat().st_size > limits.max_upload_mb * 1e6:
                raise HTTPException(413, too_large)
            return await run_in_threadpool(_decode_upload, path, need_encoder(), camera, limits.max_upload_seconds)

    @app.post("/api/classify", tags=["analysis"], dependencies=[Depends(authorised)])
    async def classify(
        file: Upload, room: str | None = None, camera: str = "upload", at: datetime | None = None
    ) -> ClassifyResult:
        """Classify a clip with `room`'s probe (default: the only probe loaded) and measure its surprise energy."""
        enc = need_encoder()
        room = room or _only_probe(enc)
        if room not in enc.probes:
            raise HTTPException(404, f"room {room!r}: no probe loaded here (have: {', '.join(enc.probes) or 'none'})")
        clip = await uploaded_clip(file, camera)
        if at is not None:
            clip = Clip(clip.frames, clip.timestamps, camera, started_at=at, ended_at=at, source=clip.source)
        analysis = await run_in_threadpool(enc.analyse, clip, room)
        return ClassifyResult(prediction=analysis.prediction, energy=analysis.energy, fingerprint=enc.fingerprint)

    @app.post("/api/embed", tags=["analysis"], dependencies=[Depends(authorised)])
    async def embed(file: Upload) -> EmbedResult:
        """The clip's pooled backbone embedding."""
        enc = need_encoder()
        embedding = await run_in_threadpool(enc.embed, await uploaded_clip(file, "upload"))
        return EmbedResult(
            model_id=embedding.model_id,
            fingerprint=enc.fingerprint,
            dim=len(embedding.pooled),
            pooled=[float(x) for x in embedding.pooled],
        )

    @app.post("/api/surprise", tags=["analysis"], dependencies=[Depends(authorised)])
    async def surprise_upload(file: Upload) -> SurpriseResult:
        """The clip's raw surprise energy (calibrating it is the caller's job: it knows the camera's baseline)."""
        enc = need_encoder()
        energy = await run_in_threadpool(enc.energy, await uploaded_clip(file, "upload"))
        return SurpriseResult(energy=energy, fingerprint=enc.fingerprint)

    return app


def _only_probe(encoder: LocalEncoder) -> str:
    if len(encoder.probes) != 1:
        raise HTTPException(422, f"room is required: this server has probes for {', '.join(encoder.probes) or 'none'}")
    return next(iter(encoder.probes))


def _decode_upload(path: Path, encoder: LocalEncoder, camera: str, max_seconds: float) -> Clip:
    from classroom_mode.video.decode import probe_video, sample_clip

    try:
        info = probe_video(path)
    except UserError as exc:
        raise HTTPException(415, f"not a readable video: {str(exc).removeprefix(f'{path}: ')}") from None
    if info.duration > max_seconds:
        raise HTTPException(422, f"clip is {info.duration:.1f} s long; at most {max_seconds:g} s is allowed")
    try:
        return sample_clip(path, encoder.frames_per_clip, camera_id=camera, max_side=UPLOAD_MAX_SIDE)
    except UserError as exc:
        raise HTTPException(415, f"not a readable video: {str(exc).removeprefix(f'{path}: ')}") from None
