"""Notifications: the dwell/cooldown policy as pure logic, webhook posts to a local stand-in for Discord,
the poller over a real store, channel posts through dpytest, and an API outage."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, timedelta

import discord
import discord.ext.test as dpytest
import pytest

from bot_helpers import NOW, WEBHOOK_PATH, FakeDiscord, closed_port_url, config, fill_store, state
from classroom_mode.bot.app import ClassroomBot, intents_for
from classroom_mode.bot.client import HttpRoomStateClient, StoreRoomStateClient
from classroom_mode.bot.notify import (
    AnomalySeen,
    ChannelSender,
    ModeChanged,
    NotificationPolicy,
    Notifier,
    WebhookSender,
)
from classroom_mode.errors import UserError
from classroom_mode.records import SurpriseReading


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Collect:
    """A sender that keeps what it is given."""

    def __init__(self) -> None:
        self.embeds: list[discord.Embed] = []

    async def send(self, embed: discord.Embed) -> None:
        self.embeds.append(embed)


def later(seconds: float):
    return NOW + timedelta(seconds=seconds)


def room_in(mode: str, since_s: float, **extra):
    """room-101's state at some moment: in `mode` since `since_s` seconds after NOW."""
    return state("room-101", mode, since=later(since_s), updated=later(since_s), **extra)


def anomaly(seconds: float, level: str = "anomaly") -> SurpriseReading:
    return SurpriseReading(camera_id="front", at=later(seconds), energy=0.9, score=8.0, level=level, baseline=0.4)


def test_policy_takes_the_first_state_as_baseline_and_waits_for_the_dwell():
    policy = NotificationPolicy(cooldown_s=300, min_dwell_s=60)
    assert policy.on_state(room_in("group", -600), NOW) is None  # what is there at start is not news
    assert policy.on_state(room_in("solo", 0), later(30)) is None  # not held long enough yet
    change = policy.on_state(room_in("solo", 0), later(61))
    assert isinstance(change, ModeChanged) and (change.previous, change.state.mode) == ("group", "solo")
    assert policy.on_state(room_in("solo", 0), later(120)) is None  # announced once


def test_a_flickering_room_stays_quiet():
    policy = NotificationPolicy(cooldown_s=300, min_dwell_s=60)
    policy.on_state(room_in("group", -600), NOW)
    sent = []
    for step in range(20):  # flips every 30 s, never holds a mode for the dwell
        mode = "solo" if step % 2 == 0 else "group"
        sent.append(policy.on_state(room_in(mode, step * 30), later(step * 30 + 29)))
    assert sent == [None] * 20


def test_cooldown_holds_a_second_change_then_announces_it_if_it_stuck():
    policy = NotificationPolicy(cooldown_s=300, min_dwell_s=60)
    policy.on_state(room_in("group", -600), NOW)
    assert policy.on_state(room_in("solo", 0), later(60)) is not None
    assert policy.on_state(room_in("presentation", 100), later(200)) is None  # held 100 s, but in the cooldown
    late = policy.on_state(room_in("presentation", 100), later(360))
    assert late is not None and (late.previous, late.state.mode) == ("solo", "presentation")


def test_stale_states_never_announce():
    policy = NotificationPolicy(cooldown_s=0, min_dwell_s=0)
    policy.on_state(room_in("group", -600), NOW)
    assert policy.on_state(room_in("solo", 0, stale=True), later(600)) is None


def test_anomalies_are_announced_once_each_with_a_per_room_cooldown():
    policy = NotificationPolicy(cooldown_s=300, min_dwell_s=60)
    policy.baseline_surprise("front", later(0))
    assert policy.on_surprise("room-101", anomaly(0), later(1)) is None  # already known at start
    assert policy.on_surprise("room-101", anomaly(5, "unusual"), later(6)) is None
    seen = policy.on_surprise("room-101", anomaly(10), later(11))
    assert isinstance(seen, AnomalySeen) and seen.room == "room-101"
    assert policy.on_surprise("room-101", anomaly(10), later(12)) is None  # same reading again
    assert policy.on_surprise("room-101", anomaly(60), later(61)) is None  # cooldown
    assert policy.on_surprise("room-101", anomaly(400), later(401)) is not None
    assert policy.on_state(room_in("group", 0), later(402)) is None  # anomalies do not fake a mode baseline


def test_webhook_url_is_checked_without_echoing_it():
    good = "https://discord.com" + WEBHOOK_PATH
    assert isinstance(WebhookSender.from_env("HOOK", good), WebhookSender)
    with pytest.raises(UserError) as error:
        WebhookSender.from_env("HOOK", "https://discord.com/api/webhooks/12/short-secret")
    assert "$HOOK" in str(error.value) and "short-secret" not in str(error.value)


@pytest.fixture
async def fake_discord():
    fake = await FakeDiscord().start()
    yield fake
    await fake.stop()


async def test_notifier_posts_changes_and_anomalies_to_a_webhook(tmp_path, fake_discord):
    clock = Clock()
    webhook = WebhookSender.from_env("HOOK", fake_discord.url + WEBHOOK_PATH)
    with fill_store(tmp_path / "history.db") as store:
        settings = config().discord
        policy = NotificationPolicy(cooldown_s=settings.cooldown_s, min_dwell_s=settings.min_dwell_s)
        notifier = Notifier(StoreRoomStateClient(store), policy, webhook, config().modes, clock=clock)
        assert await notifier.poll_once() == []  # the morning so far is the baseline
        store.set_state(state("room-101", "group", since=later(1), updated=later(1)))
        store.add_surprise(anomaly(2))
        clock.advance(30)
        sent = await notifier.poll_once()
        assert [type(n) for n in sent] == [AnomalySeen]  # group not held for the dwell yet
        clock.advance(60)
        sent = await notifier.poll_once()
        assert [type(n) for n in sent] == [ModeChanged]
    await webhook.aclose()
    titles = [post["embeds"][0]["title"] for post in fake_discord.posts]
    assert titles == ["🔴 Anomaly in room-101", "☕ Group → café"]
    assert fake_discord.posts[1]["username"] == "classroom-mode"
    assert "from Presentation" in fake_discord.posts[1]["embeds"][0]["description"]


async def test_a_failed_post_is_logged_and_polling_goes_on(tmp_path, fake_discord, caplog):
    caplog.set_level(logging.DEBUG)  # every library's most talkative level: the token must not show up even there
    fake_discord.status = 500
    webhook = WebhookSender.from_env("HOOK", fake_discord.url + WEBHOOK_PATH)
    clock = Clock()
    with fill_store(tmp_path / "history.db") as store:
        notifier = Notifier(
            StoreRoomStateClient(store), NotificationPolicy(cooldown_s=0, min_dwell_s=0), webhook, {}, clock=clock
        )
        await notifier.poll_once()
        store.set_state(state("lab", "solo", since=later(1), updated=later(1)))
        clock.advance(5)
        assert len(await notifier.poll_once()) == 1
    await webhook.aclose()
    assert "could not post a notification for lab" in caplog.text
    assert "T" * 68 not in caplog.text  # the webhook token is never logged


async def test_notifier_survives_an_unreachable_api(caplog):
    client = HttpRoomStateClient(closed_port_url(), timeout_s=1)
    notifier = Notifier(client, NotificationPolicy(cooldown_s=0, min_dwell_s=0), Collect(), {})
    notifier.interval_s = 0.01
    with caplog.at_level(logging.WARNING):
        task = asyncio.create_task(notifier.run())
        await asyncio.sleep(0.3)
        assert not task.done()
        task.cancel()
    await client.aclose()
    outage_lines = [r for r in caplog.records if "not reachable" in r.getMessage()]
    assert len(outage_lines) == 1  # one line per outage, not one per poll


async def test_notifier_outlives_a_failing_poll(tmp_path, caplog):
    class FailsOnce(StoreRoomStateClient):
        calls = 0

        async def rooms(self):
            self.calls += 1
            if self.calls == 1:
                raise ValueError("bad answer")
            return await super().rooms()

    with fill_store(tmp_path / "history.db") as store:
        client = FailsOnce(store)
        notifier = Notifier(client, NotificationPolicy(cooldown_s=0, min_dwell_s=0), Collect(), {}, interval_s=0.01)
        task = asyncio.create_task(notifier.run())
        for _ in range(500):  # at most 5 s
            if client.calls >= 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()
    assert client.calls >= 3  # polling went on after the failure
    assert "notifier poll failed" in caplog.text and "bad answer" in caplog.text


async def test_channel_notifications_through_the_bot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with fill_store(tmp_path / "history.db") as store:
        cfg = config()
        intents = intents_for(cfg.discord)
        intents.members = True
        bot = ClassroomBot(cfg, StoreRoomStateClient(store), zone=UTC, sync_commands=False, intents=intents)
        await bot._async_setup_hook()
        await bot.setup_hook()
        dpytest.configure(bot)
        channel = dpytest.get_config().channels[0]
        await ChannelSender(bot, channel.id).send(discord.Embed(title="☕ Group → café"))
        assert dpytest.verify().message().embed(discord.Embed(title="☕ Group → café"))
        await dpytest.empty_queue()
