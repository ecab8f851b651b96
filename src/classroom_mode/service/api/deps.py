"""What the HTTP app's endpoints share, held once in `app.state` and handed to them by FastAPI's `Depends`.

`create_app` stores one `AppServices`; each router's endpoints declare what they need (`Services`, `Encoder`,
`KnownRoom`, the bearer-token check) instead of closing over `create_app`'s arguments, so a router is a plain
module-level object that any app holding `AppServices` can include. `errors(...)` documents an endpoint's
refusals, with the one `ErrorDetail` body they all have, for the OpenAPI page.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, HTTPException, Request
from pydantic import BaseModel

from classroom_mode.clock import Clock
from classroom_mode.config import Config, secret
from classroom_mode.modes import Freshness
from classroom_mode.service.analysis import LocalEncoder
from classroom_mode.service.live.loop import LiveLoop
from classroom_mode.store import HistoryStore

T = TypeVar("T")


@dataclass
class AppServices:
    config: Config
    store: HistoryStore
    clock: Clock
    """What states and statuses are judged against, and what "the last 24 hours" count back from."""
    encoder: LocalEncoder | None = None
    """Set when this server encodes uploaded clips (the POST endpoints)."""
    loop: LiveLoop | None = None
    """Set when this server runs the live loop itself (`serve --live`): its sinks' statuses are live."""

    def __post_init__(self) -> None:
        self.freshness = Freshness(self.config)
        self.uploads = asyncio.Semaphore(self.config.server.max_upload_decodes)
        """Uploads in the works (decoded, or their clip with the model): `server.max_upload_decodes` at once."""
        self.decoding = Workers(self.config.server.max_upload_decodes, "upload-decode")
        self.encoding = Workers(1, "upload-encode")
        """The model takes one clip at a time anyway (`LocalEncoder`'s lock)."""

    def close(self) -> None:
        self.decoding.close()
        self.encoding.close()


class Workers:
    """Threads of their own for one kind of upload work.

    Kept apart from the thread pool the other endpoints share because a thread's memory allocator keeps what one
    piece of work freed for the next: on a few threads of their own, what uploads' decoding and encoding hold stays
    within that many pieces of work, where on the shared pool it could settle on each of its threads in turn.
    """

    def __init__(self, size: int, name: str) -> None:
        self._threads = ThreadPoolExecutor(size, thread_name_prefix=name)

    async def run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def services(request: Request) -> AppServices:
    return request.app.state.services


Services = Annotated[AppServices, Depends(services)]


def need_encoder(app: Services) -> LocalEncoder:
    if app.encoder is None:
        raise HTTPException(503, "this server does not encode clips (started without a backbone)")
    return app.encoder


Encoder = Annotated[LocalEncoder, Depends(need_encoder)]


def authorised(app: Services, authorization: Annotated[str | None, Header()] = None) -> None:
    """The bearer token of `server.api_token_env`, compared in constant time; nothing when the config says null."""
    token_env = app.config.server.api_token_env
    if not token_env:
        return  # chosen in the config: no token (serve says so when it starts)
    token = secret(token_env)
    if token is None:
        raise HTTPException(503, f"server.api_token_env: {token_env} is no longer set on the server")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def known_room(room: str, app: Services) -> str:
    """A room of the config or of the store (a room a `run` elsewhere reports), else 404."""
    if room not in app.config.rooms and app.store.state(room) is None:
        raise HTTPException(404, f"unknown room {room!r} (known: {', '.join(app.config.rooms)})")
    return room


KnownRoom = Annotated[str, Depends(known_room)]


class ErrorDetail(BaseModel):
    detail: str
    """Why the request was refused, in a sentence."""


def errors(**reasons: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the refusals an endpoint can give: `errors(e404="unknown room")`."""
    return {int(code.removeprefix("e")): {"model": ErrorDetail, "description": why} for code, why in reasons.items()}
