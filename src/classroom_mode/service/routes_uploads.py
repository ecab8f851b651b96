"""The API's POST endpoints: a clip uploaded by an edge device, classified, embedded or scored for surprise.

Each takes a multipart field `file` and runs the server's `LocalEncoder`, behind `Authorization: Bearer
<token>` (the token in the variable `server.api_token_env` names). Upload limits: a body over `max_upload_mb`
→ 413 (`limits.BodyLimit`, enforced while the body streams in, before the form is parsed), not a
readable video (or more pixels than a clip may hold) → 415, longer than `max_upload_seconds` → 422, each with
a JSON `detail` saying why. Frames are scaled to `UPLOAD_MAX_SIDE` as they are decoded, so a small file of huge
frames costs no more than a small one.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile
from starlette.concurrency import run_in_threadpool

from classroom_mode.errors import UserError
from classroom_mode.records import Clip
from classroom_mode.service.analysis import LocalEncoder
from classroom_mode.service.api_models import ClassifyResult, EmbedResult, SurpriseResult
from classroom_mode.service.deps import Encoder, Services, authorised, errors

UPLOAD_MAX_SIDE = 1280
"""Uploaded frames are scaled to at most this many pixels a side as they are decoded: well above what any
backbone looks at (ViT-L resizes the short edge to 292), far below what an 8K clip would hold in RGB."""
Upload = Annotated[UploadFile, File(description="a video clip (MP4, WebM, ...)")]
UPLOAD_ERRORS = errors(
    e401="missing or wrong bearer token",
    e413="the upload is larger than `server.max_upload_mb`",
    e415="not a readable video, or frames with more pixels than a clip may hold",
    e422="longer than `server.max_upload_seconds`, no file, or a parameter out of range",
    e503="this server encodes no clips, or its token variable is no longer set",
)

router = APIRouter(tags=["analysis"], dependencies=[Depends(authorised)], responses=UPLOAD_ERRORS)


def too_large(max_upload_mb: float) -> str:
    """The 413's reason."""
    return f"clip too large: the limit is {max_upload_mb:g} MB (server.max_upload_mb)"


async def uploaded_clip(file: UploadFile, app: Services, encoder: Encoder, camera: str = "upload") -> Clip:
    """The upload as a clip, or the 4xx that says why it cannot be one."""
    limits = app.config.server
    with tempfile.TemporaryDirectory(prefix="classroom-mode-upload-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        if path.stat().st_size > limits.max_upload_mb * 1e6:  # the file alone, without the multipart envelope
            raise HTTPException(413, too_large(limits.max_upload_mb))
        return await run_in_threadpool(_decode_upload, path, encoder, camera, limits.max_upload_seconds)


@router.post("/api/classify", responses=errors(e404="no probe for that room on this server"))
async def classify(
    file: Upload,
    app: Services,
    encoder: Encoder,
    room: str | None = None,
    camera: str = "upload",
    at: datetime | None = None,
) -> ClassifyResult:
    """Classify a clip with `room`'s probe (default: the only probe loaded) and measure its surprise energy."""
    room = room or _only_probe(encoder)
    if room not in encoder.probes:
        raise HTTPException(404, f"room {room!r}: no probe loaded here (have: {', '.join(encoder.probes) or 'none'})")
    clip = await uploaded_clip(file, app, encoder, camera)
    if at is not None:
        clip = Clip(clip.frames, clip.timestamps, camera, started_at=at, ended_at=at, source=clip.source)
    analysis = await run_in_threadpool(encoder.analyse, clip, room)
    return ClassifyResult(prediction=analysis.prediction, energy=analysis.energy, fingerprint=encoder.fingerprint)


@router.post("/api/embed")
async def embed(file: Upload, app: Services, encoder: Encoder) -> EmbedResult:
    """The clip's pooled backbone embedding."""
    embedding = await run_in_threadpool(encoder.embed, await uploaded_clip(file, app, encoder))
    return EmbedResult(
        model_id=embedding.model_id,
        fingerprint=encoder.fingerprint,
        dim=len(embedding.pooled),
        pooled=[float(x) for x in embedding.pooled],
    )


@router.post("/api/surprise")
async def surprise_upload(file: Upload, app: Services, encoder: Encoder) -> SurpriseResult:
    """The clip's raw surprise energy (calibrating it is the caller's job: it knows the camera's baseline)."""
    energy = await run_in_threadpool(encoder.energy, await uploaded_clip(file, app, encoder))
    return SurpriseResult(energy=energy, fingerprint=encoder.fingerprint)


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
