"""The live dashboard: `/` (every room at a glance), `/cameras/{camera}` and `/probe`, mounted on the API app.

The pages are static HTML + plain JavaScript from `static/` beside this module (no build step, nothing fetched
from the internet). Each page loads one JSON view from `/dashboard/api/...`, listens to the API's
server-sent events (`/api/events`) and reloads its view when one arrives, so a mode change written
to the store reaches the card in one event plus one request. Images (the latest frame, the last
clip as a strip, the probe's attention, its confusion matrix and learning curve) are drawn on the server.

Three routers, one per kind of answer, each declaring what its routes share: `pages` (the HTML shell at `/`,
`/cameras/{camera}` and `/probe`, left out of the API's documentation), `views` (the JSON under `/dashboard/api`,
tagged `dashboard`) and `images` (under `/dashboard`, left out of the documentation too).

`mount_dashboard(app, live=...)` adds them to an app `create_app` built (its config and store come from
`app.state.services`); `live` is whatever holds the cameras' last analysed clips (the live loop when `serve` runs
it in-process). Without it the pages say that frames are shown only while the live loop runs in the same process.
Its stylesheet and script are served by `StaticFiles`.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Annotated, Protocol

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from classroom_mode import __version__
from classroom_mode.errors import UserError
from classroom_mode.model.probes.artifact import ProbeSidecar
from classroom_mode.outputs import stored_statuses
from classroom_mode.records import CameraStatus, Clip
from classroom_mode.service.api import dashboard_probes as probes
from classroom_mode.service.api.dashboard_images import frame_strip_jpeg, thumbnail_jpeg
from classroom_mode.service.api.dashboard_views import (
    CameraDetail,
    Overview,
    camera_detail,
    frame_version,
    overview,
)
from classroom_mode.service.api.deps import Services, errors
from classroom_mode.service.live.loop import LiveLoop

STATIC = Path(__file__).parent / "static"
_NO_STORE = {"Cache-Control": "no-store"}


class LiveFrames(Protocol):
    """What the live loop shares with the dashboard: each camera's last analysed clip and the probe's view of it."""

    def last_clip(self, camera_id: str) -> Clip | None:
        """The camera's most recent clip, or None before its first one."""

    def last_attention(self, camera_id: str) -> np.ndarray | None:
        """The attentive probe's (rows, cols) attention over that clip's patch grid; None for other probes."""


@cache
def _page_template() -> str:
    return (STATIC / "dashboard.html").read_text(encoding="utf-8")


def render_page(page: str, title: str, subject: str = "", status_code: int = 200) -> HTMLResponse:
    """The one HTML shell; `page` picks what dashboard.js draws into it, `subject` is the camera on its page."""
    fields = {"page": page, "title": title, "subject": subject, "version": __version__}
    text = _page_template()
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return HTMLResponse(text, status_code=status_code, headers=_NO_STORE)


def mount_dashboard(app: FastAPI, live: LiveFrames | None = None) -> None:
    """Add the dashboard's pages, its JSON views and its images to the API app (`create_app`'s)."""
    app.state.live = live
    for router in (pages, views, images):
        app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC / "dashboard"), name="dashboard-static")


def _live(request: Request) -> LiveFrames | None:
    return request.app.state.live


Live = Annotated[LiveFrames | None, Depends(_live)]


def known_camera(camera: str, app: Services) -> str:
    try:
        app.config.camera(camera)
    except UserError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return camera


KnownCamera = Annotated[str, Depends(known_camera)]


def last_clip(camera: KnownCamera, live: Live, app: Services) -> Clip:
    if not app.config.camera(camera)[1].snapshot:
        raise HTTPException(status_code=404, detail=f"camera {camera!r}: its live picture is switched off (snapshot)")
    clip = live.last_clip(camera) if live is not None else None
    if clip is None:
        raise HTTPException(status_code=404, detail=f"no clip from camera {camera!r} yet")
    return clip


LastClip = Annotated[Clip, Depends(last_clip)]


def probe_file(index: int, app: Services) -> ProbeSidecar:
    files = probes.configured_probes(app.config)
    if not 0 <= index < len(files):
        raise HTTPException(status_code=404, detail=f"no probe number {index}")
    try:
        return probes.read_sidecar(files[index][0])
    except UserError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


ProbeFile = Annotated[ProbeSidecar, Depends(probe_file)]


def _frame_url(
    live: LiveFrames | None, camera: str, status: CameraStatus | None, kind: str, snapshot: bool
) -> str | None:
    """An image of the camera's last clip, versioned by its last frame so a browser never shows a stale one; None
    when the camera's picture is switched off (`snapshot`) or no clip is held."""
    if not snapshot or live is None or live.last_clip(camera) is None:
        return None
    return f"/dashboard/cameras/{camera}/{kind}?v={frame_version(status)}"


def _image(payload: bytes, media_type: str) -> Response:
    return Response(payload, media_type=media_type, headers=_NO_STORE)


pages = APIRouter(include_in_schema=False)
"""The HTML shell of each page: for browsers, not part of the API's documentation."""
views = APIRouter(prefix="/dashboard/api", tags=["dashboard"])
"""The JSON each page draws, one view per page: documented, a script may read them too."""
images = APIRouter(prefix="/dashboard", include_in_schema=False)
"""The pictures the pages show, drawn on the server."""


@pages.get("/", response_class=HTMLResponse)
def rooms_page() -> HTMLResponse:
    return render_page("rooms", "Rooms")


@pages.get("/cameras/{camera}", response_class=HTMLResponse)
def camera_page(camera: str, app: Services) -> HTMLResponse:
    try:
        app.config.camera(camera)
    except UserError:
        return render_page("missing", f"No camera called {camera}", camera, status_code=404)
    return render_page("camera", f"Camera {camera}", camera)


@pages.get("/probe", response_class=HTMLResponse)
def probe_page() -> HTMLResponse:
    return render_page("probe", "Probe")


@views.get("/overview", response_model=Overview)
def overview_view(app: Services, live: Live) -> Overview:
    """Every room's card in one snapshot: state, today's timeline, camera status, surprise, frame URLs."""
    sinks = live.outputs.statuses() if isinstance(live, LiveLoop) else stored_statuses(app.config, app.store)
    view = overview(app.config, app.store, live=live is not None, outputs=sinks)
    for room in view.rooms:
        for camera in room.cameras:
            camera.thumbnail = _frame_url(live, camera.camera_id, camera.status, "thumbnail.jpg", camera.snapshot)
    return view


@views.get("/cameras/{camera}", response_model=CameraDetail, responses=errors(e404="no such camera in the config"))
def camera_view(camera: KnownCamera, app: Services, live: Live) -> CameraDetail:
    """One camera: status, latest reading, surprise history with its baseline, last clip and attention URLs."""
    view = camera_detail(app.config, app.store, camera)
    view.strip = _frame_url(live, camera, view.status, "strip.jpg", view.snapshot)
    if view.strip is not None and live is not None and live.last_attention(camera) is not None:
        view.attention = _frame_url(live, camera, view.status, "attention.png", view.snapshot)
    return view


@views.get("/probes", response_model=list[probes.ProbeSummary])
def probes_view(app: Services) -> list[probes.ProbeSummary]:
    """Each configured probe and its cross-validation metrics, from its JSON sidecar."""
    return [probes.summarise(path, rooms, i) for i, (path, rooms) in enumerate(probes.configured_probes(app.config))]


@images.get("/cameras/{camera}/thumbnail.jpg")
def thumbnail(clip: LastClip) -> Response:
    return _image(thumbnail_jpeg(clip.frames[-1]), "image/jpeg")


@images.get("/cameras/{camera}/strip.jpg")
def strip(clip: LastClip) -> Response:
    return _image(frame_strip_jpeg(clip.frames), "image/jpeg")


@images.get("/cameras/{camera}/attention.png")
def attention(camera: str, clip: LastClip, live: Live) -> Response:
    weights = live.last_attention(camera) if live is not None else None
    if weights is None:
        raise HTTPException(status_code=404, detail=f"the probe of camera {camera!r} gives no attention map")
    from classroom_mode.model.probes import plots  # matplotlib: loaded at the first picture, not at start-up

    return _image(plots.attention_png(clip.frames[clip.num_frames // 2], weights), "image/png")


@images.get("/probes/{index}/confusion.png")
def confusion(sidecar: ProbeFile) -> Response:
    found = sidecar.cv.confusion if sidecar.cv else None
    if found is None:
        raise HTTPException(status_code=404, detail="the probe's metadata has no confusion matrix")
    from classroom_mode.model.probes import plots

    return _image(plots.confusion_png(found), "image/png")


@images.get("/probes/{index}/learning-curve.png")
def learning_curve(sidecar: ProbeFile) -> Response:
    found = probes.learning_curve(sidecar)
    if found is None:
        raise HTTPException(status_code=404, detail="the probe's metadata has no learning curve")
    from classroom_mode.model.probes import plots

    return _image(plots.learning_curve_png(*found), "image/png")
