"""Clip analysis: a clip uploaded by an edge device, classified, embedded or scored for surprise.

Each takes a multipart field `file` and runs the server's `LocalEncoder`, behind `Authorization: Bearer
<token>` (the token in the variable `server.api_token_env` names). Upload limits: a body over `max_upload_mb`
→ 413 (`limits.BodyLimit`, enforced while the body streams in, before the form is parsed), not a
readable video (or frames larger than an upload may be) → 415, longer than `max_upload_seconds` → 422, each with
a JSON `detail` saying why.

Bytes are not what costs memory: a 100 KB file of 8K frames decodes to gigabytes. So each upload is decoded within
`UPLOAD_MEMORY`: frames larger than that lets a decoder hold (`video.decode.max_frame_pixels`: 2560 x 1440 in 8-bit
4:2:0) are refused before any is decoded, frames are decoded on one thread and shrunk, one at a time, to the
backbone's own input size; and at most `server.max_upload_decodes` uploads are in the works at once (decoded on
threads of their own, `deps.Workers`, then their clip with the model, on one thread of its own), the others waiting
up to `UPLOAD_WAIT_S` and then answered 503 with `Retry-After`. What uploads hold is then at most
`max_upload_decodes × UPLOAD_MEMORY` and one model pass, whatever is sent.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile

from classroom_mode.errors import UserError
from classroom_mode.records import Clip
from classroom_mode.service.analysis import Analysis, LocalEncoder
from classroom_mode.service.api.deps import Encoder, Services, authorised, errors
from classroom_mode.service.api_models import UPLOAD_MEMORY, ClassifyResult, EmbedResult, SurpriseResult

UPLOAD_WAIT_S = 30.0
"""How long an upload waits for its place before it is answered 503."""
RETRY_AFTER_S = 10
"""The `Retry-After` of that 503, in seconds."""
T = TypeVar("T")
Upload = Annotated[UploadFile, File(description="a video clip (MP4, WebM, ...)")]
UPLOAD_ERRORS = errors(
    e401="missing or wrong bearer token",
    e413="the upload is larger than `server.max_upload_mb`",
    e415="not a readable video, or frames larger than decoding an upload may hold",
    e422="longer than `server.max_upload_seconds`, no file, or a parameter out of range",
    e503="this server encodes no clips, its token variable is no longer set, or every upload place stayed taken",
)

router = APIRouter(prefix="/api", tags=["analysis"], dependencies=[Depends(authorised)], responses=UPLOAD_ERRORS)


def too_large(max_upload_mb: float) -> str:
    """The 413's reason."""
    return f"clip too large: the limit is {max_upload_mb:g} MB (server.max_upload_mb)"


async def encoded(
    file: UploadFile, app: Services, encoder: Encoder, use: Callable[[Clip], T], camera: str = "upload"
) -> T:
    """What `use` makes of the upload's clip on the model's thread, or the 4xx or 503 that says why there is none.

    An upload keeps its place from the start of its decoding until the model is done with its clip, so no more than
    `server.max_upload_decodes` are decoded, or wait for the model with their clip, at once.
    """
    limits = app.config.server
    with tempfile.TemporaryDirectory(prefix="classroom-mode-upload-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        if path.stat().st_size > limits.max_upload_mb * 1e6:  # the file alone, without the multipart envelope
            raise HTTPException(413, too_large(limits.max_upload_mb))
        try:
            async with asyncio.timeout(UPLOAD_WAIT_S):
                await app.uploads.acquire()
        except TimeoutError:
            raise HTTPException(
                503,
                f"every upload place stayed taken for {UPLOAD_WAIT_S:g} s "
                f"(server.max_upload_decodes: {limits.max_upload_decodes}); retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        try:  # a client that goes away frees its place at once, but its work keeps its thread until it ends
            clip = await app.decoding.run(partial(_decode_upload, path, encoder, camera, limits.max_upload_seconds))
            return await app.encoding.run(partial(use, clip))
        finally:
            app.uploads.release()


@router.post("/classify", responses=errors(e404="no probe for that room on this server"))
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

    def analyse(clip: Clip) -> Analysis:
        if at is not None:
            clip = Clip(clip.frames, clip.timestamps, camera, started_at=at, ended_at=at, source=clip.source)
        return encoder.analyse(clip, room)

    analysis = await encoded(file, app, encoder, analyse, camera)
    return ClassifyResult(prediction=analysis.prediction, energy=analysis.energy, fingerprint=encoder.fingerprint)


@router.post("/embed")
async def embed(file: Upload, app: Services, encoder: Encoder) -> EmbedResult:
    """The clip's pooled backbone embedding."""
    embedding = await encoded(file, app, encoder, encoder.embed)
    return EmbedResult(
        model_id=embedding.model_id,
        fingerprint=encoder.fingerprint,
        dim=len(embedding.pooled),
        pooled=[float(x) for x in embedding.pooled],
    )


@router.post("/surprise")
async def surprise_upload(file: Upload, app: Services, encoder: Encoder) -> SurpriseResult:
    """The clip's raw surprise energy (calibrating it is the caller's job: it knows the camera's baseline)."""
    energy = await encoded(file, app, encoder, encoder.energy)
    return SurpriseResult(energy=energy, fingerprint=encoder.fingerprint)


def _only_probe(encoder: LocalEncoder) -> str:
    if len(encoder.probes) != 1:
        raise HTTPException(422, f"room is required: this server has probes for {', '.join(encoder.probes) or 'none'}")
    return next(iter(encoder.probes))


def _decode_upload(path: Path, encoder: LocalEncoder, camera: str, max_seconds: float) -> Clip:
    from classroom_mode.video.decode import VideoFile

    try:
        with VideoFile(path, memory_budget=UPLOAD_MEMORY) as video:
            duration = video.info().duration
            if duration > max_seconds:
                raise HTTPException(422, f"clip is {duration:.1f} s long; at most {max_seconds:g} s is allowed")
            return video.clip(encoder.frames_per_clip, camera_id=camera, short_side=encoder.short_side)
    except UserError as exc:
        raise HTTPException(415, f"not a readable video: {str(exc).removeprefix(f'{path}: ')}") from None
