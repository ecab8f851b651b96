"""The HTTP API: room state and history for the dashboard and the bot, clip analysis for edge devices.

Responses are the shared records (`ModeState`, `ModeChange`, `CameraStatus`, `Prediction`,
`SurpriseReading`), so the OpenAPI page at `/docs` documents exactly what the store holds, with each
endpoint's refusals. The endpoints are one router per area, each a module of this package named after its
OpenAPI tag: `status`, `rooms`, `cameras`, `analysis` (clip uploads, behind the bearer token) and `control`
(pausing cameras and rooms, its changes behind the token too); each router declares its prefix, its tag and what
its endpoints share. What they need from the app sits in `app.state.services` (`deps.AppServices`). A server that
encodes clips does not start while the token variable `server.api_token_env` names is unset (`null` means no
token, chosen openly).

`create_app(config, store, encoder=, loop=, clock=)` builds the app; the dashboard mounts its pages on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from classroom_mode import __version__
from classroom_mode.clock import Clock, utc_now
from classroom_mode.config import Config, secret
from classroom_mode.errors import UserError
from classroom_mode.service.analysis import LocalEncoder
from classroom_mode.service.api import analysis, cameras, control, rooms, status
from classroom_mode.service.api.deps import AppServices
from classroom_mode.service.api.limits import BodyLimit
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore

MULTIPART_SLACK = 64 * 1024
"""Bytes allowed over `max_upload_mb` for the multipart envelope around the file."""


def create_app(
    config: Config,
    store: HistoryStore,
    encoder: LocalEncoder | None = None,
    loop: LiveLoop | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The API app over `store`; POST endpoints need `encoder`; `loop` (if given) runs for the app's lifetime;
    `clock` is what states and statuses are judged against (and what "the last 24 hours" count back from)."""
    limits = config.server
    if encoder is not None and limits.api_token_env and secret(limits.api_token_env) is None:
        # a token that is configured but missing must not leave the upload endpoints silently open
        raise UserError(
            f"server.api_token_env: the variable {limits.api_token_env} is not set; set it to the token clients must "
            "send, or set server.api_token_env: null to accept clips without one"
        )

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        if loop is not None:
            loop.start()
        try:
            yield
        finally:
            served.state.services.close()
            if loop is not None:
                await run_in_threadpool(loop.stop)

    app = FastAPI(
        title="classroom-mode",
        version=__version__,
        summary="What each room is being used for, from its cameras, with a V-JEPA 2 video world model.",
        lifespan=lifespan,
    )
    app.state.services = AppServices(config, store, clock, encoder=encoder, loop=loop)
    too_large = analysis.too_large(limits.max_upload_mb)
    # our own limit, not FastAPI's `max_body_size`: for a declared Content-Length over it, FastAPI's replaces any
    # response with a plain-text "Content Too Large", and a client should learn which limit, and where it is set
    app.add_middleware(BodyLimit, max_bytes=int(limits.max_upload_mb * 1e6) + MULTIPART_SLACK, detail=too_large)
    for area in (status, rooms, cameras, analysis, control):
        app.include_router(area.router)
    app.add_exception_handler(UserError, _unprocessable)
    return app


async def _unprocessable(_: Request, exc: Exception) -> JSONResponse:
    """What the model refuses to do with a request (e.g. a room-erasing model asked for a room-less embedding)
    is the client's to fix: 422 with the reason, never a bare 500."""
    return JSONResponse({"detail": str(exc)}, status_code=422)
