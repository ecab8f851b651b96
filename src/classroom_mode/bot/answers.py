"""What each command answers, independent of how it was asked (`!prefix` or `/slash`).

An `Answers` reads the room state through a `RoomStateClient`, judges staleness and offline
cameras against its injected clock, and returns a `Reply` (text, embeds, attached files). The
Discord plumbing in `bot.app` only delivers replies, so every answer is tested without Discord.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import discord

from classroom_mode.bot.chart import timeline_png, timeline_text
from classroom_mode.bot.client import RoomServiceUnreachable, RoomStateClient
from classroom_mode.bot.format import (
    MAX_EMBEDS,
    cameras_embed,
    clip_lines,
    help_embed,
    prediction_embed,
    room_embed,
    surprise_embed,
    surprise_history_embed,
)
from classroom_mode.clock import Clock, as_utc, utc_now
from classroom_mode.config import Config
from classroom_mode.modes import Freshness, mode_spans
from classroom_mode.records import CameraStatus, ModeState

log = logging.getLogger(__name__)

DEFAULT_HISTORY_READINGS = 30
MAX_HISTORY_READINGS = 500
CHART_FILE = "mode-history.png"
RUNNING = "is `classroom-mode run` running?"


@dataclass(frozen=True)
class Reply:
    """A message to post: text, up to ten embeds, and files as (name, bytes)."""

    content: str | None = None
    embeds: tuple[discord.Embed, ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()

    def discord_files(self) -> list[discord.File]:
        """Fresh `discord.File`s: each one can be sent only once, so build them at the moment of sending."""
        return [discord.File(io.BytesIO(data), filename=name) for name, data in self.files]


def _capped(embeds: Sequence[discord.Embed], what: str, ask: str) -> Reply:
    """At most ten embeds per message; say what was left out and how to ask for it."""
    if len(embeds) <= MAX_EMBEDS:
        return Reply(embeds=tuple(embeds))
    return Reply(
        content=f"Showing {MAX_EMBEDS} of {len(embeds)} {what}; ask for one with {ask}.",
        embeds=tuple(embeds[:MAX_EMBEDS]),
    )


class Answers:
    """The bot's answers. `zone` is where "today" starts for `mode-history` (the machine's zone by default)."""

    def __init__(
        self, client: RoomStateClient, config: Config, *, clock: Clock = utc_now, zone: tzinfo | None = None
    ) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.zone: tzinfo = zone or datetime.now().astimezone().tzinfo or UTC
        self.freshness = Freshness(config)

    async def guarded(self, answer: Callable[[], Awaitable[Reply]]) -> Reply:
        """Run one answer; an unreachable room service becomes a friendly reply instead of an error."""
        try:
            return await answer()
        except RoomServiceUnreachable as exc:
            log.warning("room service not reachable: %s", exc)
            return Reply(f"🔌 The room service is not reachable right now (`{self.client.where}`). Try again soon.")

    # -- judgement ------------------------------------------------------------------------------------

    def camera_online(self, status: CameraStatus, now: datetime) -> bool:
        """Online as its worker said, unless no frame came for longer than the camera's `offline_after_s`."""
        return self.freshness.camera(status, now).online

    def is_stale(self, state: ModeState, now: datetime) -> bool:
        """Stale as stored, or not updated within `stale_after_s` (a live loop that stopped cannot say so itself)."""
        return self.freshness.room(state, now).stale

    def _room_embed(self, state: ModeState, cameras: Sequence[CameraStatus], now: datetime) -> discord.Embed:
        offline = set(state.offline_cameras)
        offline.update(
            c.camera_id
            for c in cameras
            if c.room == state.room and c.watch == "watching" and not self.camera_online(c, now)
        )
        return room_embed(
            state, modes=self.config.modes, now=now, stale=self.is_stale(state, now), offline=sorted(offline)
        )

    async def _camera_ids(self, camera: str | None) -> list[str]:
        if camera:
            return [camera]
        return sorted(c.camera_id for c in await self.client.cameras())

    async def _known_cameras(self) -> str:
        return ", ".join(f"`{c.camera_id}`" for c in await self.client.cameras()) or "none yet"

    # -- commands -------------------------------------------------------------------------------------

    async def classroom_mode(self, room: str | None = None) -> Reply:
        now = self.clock()
        if room:
            state = await self.client.room(room)
            if state is None and room in self.config.rooms:
                return Reply(f"Room `{room}` has no mode yet: {RUNNING}")
            if state is None:
                known = ", ".join(f"`{s.room}`" for s in await self.client.rooms()) or "none yet"
                return Reply(f"I don't know a room called `{room}`. Rooms: {known}.")
            states = [state]
        else:
            states = await self.client.rooms()
            if not states:
                return Reply(f"No room has a mode yet: {RUNNING}")
        cameras = await self.client.cameras()
        return _capped([self._room_embed(s, cameras, now) for s in states], "rooms", "`classroom-mode <room>`")

    async def classify(self, camera: str | None = None) -> Reply:
        ids = await self._camera_ids(camera)
        latest = await asyncio.gather(*(self.client.predictions(c, 1) for c in ids))
        embeds = [prediction_embed(p[0], modes=self.config.modes) for p in latest if p]
        return await self._per_camera(embeds, ids, [bool(p) for p in latest], "probe result", "classify")

    async def worldmodel(self, camera: str | None = None) -> Reply:
        ids = await self._camera_ids(camera)
        latest = await asyncio.gather(*(self.client.surprise(c, 1) for c in ids))
        thresholds = self.config.thresholds.surprise
        embeds = [surprise_embed(r[0], thresholds=thresholds) for r in latest if r]
        return await self._per_camera(embeds, ids, [bool(r) for r in latest], "surprise reading", "worldmodel")

    async def _per_camera(
        self, embeds: list[discord.Embed], ids: list[str], found: list[bool], what: str, command: str
    ) -> Reply:
        """One embed per camera that has a reading; a line naming the cameras that have none."""
        missing = [c for c, ok in zip(ids, found, strict=True) if not ok]
        if not embeds:
            if ids and len(ids) == len(missing) == 1:
                return Reply(f"No {what} from camera `{ids[0]}`. Cameras: {await self._known_cameras()}.")
            return Reply(f"No {what} yet: {RUNNING}")
        reply = _capped(embeds, "cameras", f"`{command} <camera>`")
        if missing:
            note = f"No {what} yet from {', '.join(f'`{c}`' for c in missing)}."
            reply = Reply(content=f"{reply.content}\n{note}" if reply.content else note, embeds=reply.embeds)
        return reply

    async def surprise_history(self, n: int | None = None) -> Reply:
        n = min(max(1, n or DEFAULT_HISTORY_READINGS), MAX_HISTORY_READINGS)
        ids = await self._camera_ids(None)
        readings = await asyncio.gather(*(self.client.surprise(c, n) for c in ids))
        by_camera = {c: r for c, r in zip(ids, readings, strict=True) if r}
        if not by_camera:
            return Reply(f"No surprise readings yet: {RUNNING} (with a world model)")
        return Reply(embeds=(surprise_history_embed(by_camera, thresholds=self.config.thresholds.surprise),))

    def _window_start(self, now: datetime, hours: float | None) -> datetime:
        if hours:
            return now - timedelta(hours=hours)
        local = as_utc(now).astimezone(self.zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    async def mode_history(self, hours: float | None = None) -> Reply:
        now = as_utc(self.clock())
        start = self._window_start(now, hours)
        states = await self.client.rooms()
        if not states:
            return Reply(f"No room has a mode yet: {RUNNING}")
        changes = await asyncio.gather(*(self.client.mode_changes(s.room, start) for s in states))
        rooms = {s.room: mode_spans(c, s, start, now) for s, c in zip(states, changes, strict=True)}
        png = await asyncio.to_thread(timeline_png, rooms, self.config.modes, start, now, self.zone)
        embed = discord.Embed(title="🗓️ Mode history", description=clip_lines(timeline_text(rooms, self.config.modes)))
        embed.set_image(url=f"attachment://{CHART_FILE}")
        return Reply(embeds=(embed,), files=((CHART_FILE, png),))

    async def cameras(self) -> Reply:
        now = self.clock()
        statuses = await self.client.cameras()
        if not statuses:
            return Reply(f"No camera has reported yet: {RUNNING}")
        return Reply(embeds=(cameras_embed([self.freshness.camera(s, now) for s in statuses]),))

    async def help(self) -> Reply:
        prefix = self.config.discord.prefix if self.config.discord.prefix_commands else None
        return Reply(embeds=(help_embed(prefix),))
