"""The cameras: each camera's status and its latest probe and surprise readings, read from the history store.

Statuses are served as judged against the clock (`modes.Freshness`): a camera is offline once no frame came within
its `offline_after_s`, whichever process was meant to report it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from classroom_mode.records import CameraStatus, Prediction, SurpriseReading
from classroom_mode.service.api.deps import Services

Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many, newest first")]

router = APIRouter(prefix="/api", tags=["cameras"])


@router.get("/cameras")
def cameras(app: Services) -> list[CameraStatus]:
    """Every camera's status, judged against the clock: offline once no frame came within `offline_after_s`."""
    now = app.clock()
    return [app.freshness.camera(status, now) for status in app.store.cameras()]


@router.get("/predictions")
def predictions(app: Services, camera: str | None = None, limit: Limit = 100) -> list[Prediction]:
    """The latest probe readings, newest first."""
    return app.store.predictions(camera, limit)


@router.get("/surprise")
def surprise(app: Services, camera: str | None = None, limit: Limit = 100) -> list[SurpriseReading]:
    """The latest surprise readings, newest first."""
    return app.store.surprise(camera, limit)
