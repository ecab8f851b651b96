"""How the bot reads the room state: one small async interface, two ways to fill it.

`HttpRoomStateClient` asks a running `classroom-mode serve` (the bot can live on another machine);
`StoreRoomStateClient` reads the SQLite history directly (same machine, no server needed). Both
return the shared records, so the commands and the notifier cannot tell them apart. A service
that cannot be reached raises `RoomServiceUnreachable`, which the bot turns into a friendly reply
and the notifier into one log line per outage: the bot itself keeps running.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from classroom_mode.config import Config
from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.records import CameraStatus, ModeChange, ModeState, Prediction, SurpriseReading
from classroom_mode.store import HistoryStore

T = TypeVar("T")


class RoomServiceUnreachable(ClassroomModeError):
    """The room service (API or database) did not answer; the message says where and why, never a secret."""


class RoomStateClient(Protocol):
    """The room state as the API serves it. Lists of readings are newest first; mode changes oldest first."""

    async def rooms(self) -> list[ModeState]: ...

    async def room(self, room: str) -> ModeState | None: ...

    async def mode_changes(self, room: str, since: datetime) -> list[ModeChange]: ...

    async def predictions(self, camera_id: str | None = None, limit: int = 1) -> list[Prediction]: ...

    async def surprise(self, camera_id: str | None = None, limit: int = 50) -> list[SurpriseReading]: ...

    async def cameras(self) -> list[CameraStatus]: ...

    async def aclose(self) -> None: ...

    @property
    def where(self) -> str:
        """Where the state comes from, for messages (a URL or a file path)."""
        ...


class HttpRoomStateClient:
    """The JSON API of `classroom-mode serve`, over httpx."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, transport: httpx.AsyncBaseTransport | None = None):
        self._base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self._base_url, timeout=timeout_s, transport=transport)

    @property
    def where(self) -> str:
        return self._base_url

    async def _get(self, path: str, shape: type[T], params: dict[str, Any] | None = None) -> T | None:
        """GET a path and validate it as `shape`; None on 404 (unknown room)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.get(path, params=query)
        except httpx.TransportError as exc:
            raise RoomServiceUnreachable(f"{self._base_url}: {type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 500:
            raise RoomServiceUnreachable(f"{self._base_url}: answered {response.status_code}")
        if response.is_error:
            raise ClassroomModeError(f"{self._base_url}{path}: answered {response.status_code}")
        try:
            return TypeAdapter(shape).validate_json(response.content)
        except ValidationError as exc:
            raise ClassroomModeError(
                f"{self._base_url}{path}: unexpected answer ({exc.error_count()} errors)"
            ) from None

    async def rooms(self) -> list[ModeState]:
        return await self._get("/api/rooms", list[ModeState]) or []

    async def room(self, room: str) -> ModeState | None:
        return await self._get(f"/api/rooms/{quote(room, safe='')}", ModeState)

    async def mode_changes(self, room: str, since: datetime) -> list[ModeChange]:
        return (
            await self._get(
                f"/api/rooms/{quote(room, safe='')}/history", list[ModeChange], {"since": since.isoformat()}
            )
            or []
        )

    async def predictions(self, camera_id: str | None = None, limit: int = 1) -> list[Prediction]:
        params = {"camera": camera_id, "limit": limit}
        return await self._get("/api/predictions", list[Prediction], params) or []

    async def surprise(self, camera_id: str | None = None, limit: int = 50) -> list[SurpriseReading]:
        params = {"camera": camera_id, "limit": limit}
        return await self._get("/api/surprise", list[SurpriseReading], params) or []

    async def cameras(self) -> list[CameraStatus]:
        return await self._get("/api/cameras", list[CameraStatus]) or []

    async def aclose(self) -> None:
        await self._http.aclose()


class StoreRoomStateClient:
    """The SQLite history on this machine; each query runs in a worker thread so the bot's loop never blocks."""

    def __init__(self, store: HistoryStore):
        self._store = store

    @property
    def where(self) -> str:
        return str(self._store.path)

    async def _call(self, method: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(method, *args)
        except (sqlite3.Error, OSError) as exc:  # locked for too long, disk I/O, file gone
            raise RoomServiceUnreachable(f"{self._store.path}: {type(exc).__name__}: {exc}") from None

    async def rooms(self) -> list[ModeState]:
        return await self._call(self._store.states)

    async def room(self, room: str) -> ModeState | None:
        return await self._call(self._store.state, room)

    async def mode_changes(self, room: str, since: datetime) -> list[ModeChange]:
        return await self._call(self._store.mode_changes, room, since)

    async def predictions(self, camera_id: str | None = None, limit: int = 1) -> list[Prediction]:
        return await self._call(self._store.predictions, camera_id, limit)

    async def surprise(self, camera_id: str | None = None, limit: int = 50) -> list[SurpriseReading]:
        return await self._call(self._store.surprise, camera_id, limit)

    async def cameras(self) -> list[CameraStatus]:
        return await self._call(self._store.cameras)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._store.close)


def client_from_config(config: Config) -> RoomStateClient:
    """The API client when `discord.api_url` is set, else the history database at `paths.database`.

    The bot only reads: a database that does not exist yet is a mistake (nothing has run), not
    something to create.
    """
    if config.discord.api_url:
        return HttpRoomStateClient(config.discord.api_url)
    path = config.paths.database
    if not path.exists():
        raise UserError(
            f"paths.database: {path} does not exist (start `classroom-mode run` first, or set discord.api_url)"
        )
    return StoreRoomStateClient(HistoryStore(path))
