"""Notifications: tell a channel when a room settles into a new mode or the world model sees an anomaly.

Three parts, each with one job:
- `NotificationPolicy` decides, as pure logic with the time passed in, whether an observation is
  worth a message: a new mode must have held for `min_dwell_s` (a flickering room stays quiet),
  and a room gets at most one message of each kind per `cooldown_s`. A change held back by the
  cooldown is announced once the cooldown ends if the room is still in that mode.
- Senders deliver an embed: to a channel through the bot, or to a Discord webhook URL.
- `Notifier` polls a `RoomStateClient`, feeds the policy and hands what it returns to a sender.

What is already there when the notifier starts (the current mode, old anomalies) is the baseline,
not news: only what happens afterwards is announced.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Protocol

import aiohttp
import discord

from classroom_mode.bot.client import RoomServiceUnreachable, RoomStateClient
from classroom_mode.bot.format import anomaly_embed, mode_change_embed
from classroom_mode.clock import Clock, as_utc, utc_now
from classroom_mode.config import ModeConfig
from classroom_mode.errors import UserError
from classroom_mode.records import ModeState, SurpriseReading

log = logging.getLogger(__name__)

_WEBHOOK_URL = re.compile(r"^https?://[^/?#]+(/[^?#]*)?/api/(v\d+/)?webhooks/\d{17,20}/[A-Za-z0-9._-]{60,}/?$")
"""A Discord webhook URL: a 17-20 digit id and a long token (the same shape discord.py insists on)."""


@dataclass(frozen=True)
class ModeChanged:
    room: str
    previous: str
    state: ModeState


@dataclass(frozen=True)
class AnomalySeen:
    room: str
    reading: SurpriseReading


Notification = ModeChanged | AnomalySeen


@dataclass
class _Room:
    announced: str
    """The mode last announced (at first, the mode the room was in when the notifier started)."""
    last_sent: datetime | None = None


@dataclass
class NotificationPolicy:
    """Which observations become messages. Pure: call it with each observation and the current time."""

    cooldown_s: float
    min_dwell_s: float
    _rooms: dict[str, _Room] = field(default_factory=dict, init=False)
    _anomaly_sent: dict[str, datetime] = field(default_factory=dict, init=False)
    _surprise_seen: dict[str, datetime] = field(default_factory=dict, init=False)

    def _cooled(self, last: datetime | None, now: datetime) -> bool:
        return last is None or (as_utc(now) - last).total_seconds() >= self.cooldown_s

    def on_state(self, state: ModeState, now: datetime) -> ModeChanged | None:
        """A room's current state: a message when it holds a new mode long enough, outside the cooldown."""
        room = self._rooms.get(state.room)
        if room is None:
            self._rooms[state.room] = _Room(announced=state.mode)
            return None
        if state.stale or state.mode == room.announced:
            return None
        if (as_utc(now) - as_utc(state.since)).total_seconds() < self.min_dwell_s:
            return None
        if not self._cooled(room.last_sent, now):
            return None
        change = ModeChanged(room=state.room, previous=room.announced, state=state)
        room.announced, room.last_sent = state.mode, as_utc(now)
        return change

    def on_surprise(self, room_name: str, reading: SurpriseReading, now: datetime) -> AnomalySeen | None:
        """A surprise reading: a message for a new `anomaly`, at most one per room per cooldown."""
        at = as_utc(reading.at)
        seen = self._mark_seen(reading.camera_id, at)
        if seen is None or at <= seen or reading.level != "anomaly":
            return None
        if not self._cooled(self._anomaly_sent.get(room_name), now):
            return None
        self._anomaly_sent[room_name] = as_utc(now)
        return AnomalySeen(room=room_name, reading=reading)

    def baseline_surprise(self, camera_id: str, at: datetime) -> None:
        """Mark a camera's readings up to `at` as already known (the notifier's first look)."""
        self._mark_seen(camera_id, as_utc(at))

    def _mark_seen(self, camera_id: str, at: datetime) -> datetime | None:
        """Remember the newest reading time of a camera; returns the one remembered before."""
        seen = self._surprise_seen.get(camera_id)
        self._surprise_seen[camera_id] = max(seen, at) if seen else at
        return seen


def notification_embed(notification: Notification, modes: Mapping[str, ModeConfig], now: datetime) -> discord.Embed:
    if isinstance(notification, ModeChanged):
        return mode_change_embed(notification.state, notification.previous, modes=modes, now=now)
    return anomaly_embed(notification.reading, notification.room)


class Sender(Protocol):
    async def send(self, embed: discord.Embed) -> None: ...


class ChannelSender:
    """Posts into a channel the bot can see (`discord.notify_channel_id`)."""

    def __init__(self, bot: discord.Client, channel_id: int):
        self._bot = bot
        self._channel_id = channel_id

    async def send(self, embed: discord.Embed) -> None:
        channel = self._bot.get_channel(self._channel_id) or await self._bot.fetch_channel(self._channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise discord.DiscordException(f"channel {self._channel_id} cannot receive messages")
        await channel.send(embed=embed)


class WebhookSender:
    """Posts to a Discord webhook URL.

    The URL holds the webhook's token, so it is a secret: it is never put in a message or a log
    line. That is why this posts with aiohttp (discord.py's own HTTP library), which does not log
    request URLs, rather than httpx, whose INFO log names every URL it requests.
    """

    def __init__(self, url: str, *, username: str = "classroom-mode"):
        self._url = url
        self._username = username
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls, env_var: str, url: str) -> WebhookSender:
        """Check the URL's shape first, so a typo fails at start-up with the variable's name, not at the first alert."""
        if not _WEBHOOK_URL.match(url):
            raise UserError(
                f"discord.webhook_url_env: ${env_var} is not a Discord webhook URL (…/api/webhooks/ID/TOKEN)"
            )
        return cls(url)

    async def send(self, embed: discord.Embed) -> None:
        if self._session is None:  # created on first use, inside the running loop as aiohttp requires
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        payload = {"username": self._username, "embeds": [embed.to_dict()]}
        for _attempt in range(2):
            async with self._session.post(self._url, json=payload) as response:
                status = response.status
                if status != 429:
                    break
                # rate limited: Discord says how long to wait; wait once (bounded) and try again
                retry_after = (await response.json(content_type=None) or {}).get("retry_after", 1.0)
            await asyncio.sleep(min(float(retry_after), 10.0))
        if status >= 400:
            raise discord.DiscordException(f"webhook answered {status}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass
class Notifier:
    """Polls the room state every `interval_s` and sends what the policy lets through."""

    client: RoomStateClient
    policy: NotificationPolicy
    sender: Sender
    modes: Mapping[str, ModeConfig]
    _: KW_ONLY
    clock: Clock = utc_now
    interval_s: float = 5.0
    surprise_window: int = 50
    """How many recent surprise readings each poll reads."""
    _started: bool = field(default=False, init=False)
    _reachable: bool = field(default=True, init=False)

    async def poll_once(self) -> list[Notification]:
        """Read states and recent surprise once, and send every notification the policy returns."""
        now = self.clock()
        states = await self.client.rooms()
        room_of = {c.camera_id: c.room for c in await self.client.cameras()}
        readings = sorted(await self.client.surprise(None, self.surprise_window), key=lambda r: as_utc(r.at))
        found: list[Notification] = [n for n in (self.policy.on_state(s, now) for s in states) if n]
        if not self._started:
            for reading in readings:
                self.policy.baseline_surprise(reading.camera_id, reading.at)
            self._started = True
        else:
            for reading in readings:
                room = room_of.get(reading.camera_id) or next(
                    (s.room for s in states if reading.camera_id in s.cameras), reading.camera_id
                )
                if anomaly := self.policy.on_surprise(room, reading, now):
                    found.append(anomaly)
        for note in found:
            try:
                await self.sender.send(notification_embed(note, self.modes, now))
            except (discord.DiscordException, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("could not post a notification for %s: %s", note.room, type(exc).__name__)
        return found

    async def run(self) -> None:
        """Poll until cancelled; an unreachable service is logged once per outage and polling goes on."""
        while True:
            try:
                await self.poll_once()
                if not self._reachable:
                    log.info("room service reachable again")
                self._reachable = True
            except RoomServiceUnreachable as exc:
                if self._reachable:
                    log.warning("notifications paused, room service not reachable: %s", exc)
                self._reachable = False
            except Exception:  # a bad answer or a bug must not end notifications for good
                log.exception("notifier poll failed; trying again in %g s", self.interval_s)
            await asyncio.sleep(self.interval_s)
