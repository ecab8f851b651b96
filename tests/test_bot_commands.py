"""The bot's commands end to end: dpytest drives the prefix commands of a bot wired to a real SQLite
history; the slash commands are called with an interaction double; the API-down path uses the HTTP
client against a closed port."""

from __future__ import annotations

import contextlib
from datetime import UTC, timedelta
from types import SimpleNamespace

import discord.ext.test as dpytest
import pytest
from discord.ext import commands

from bot_helpers import NOW, closed_port_url, config, embed_text, fill_store, state
from classroom_mode.bot.answers import Answers
from classroom_mode.bot.app import ClassroomBot, SlashCommands, intents_for
from classroom_mode.bot.client import HttpRoomStateClient, RoomStateClient, StoreRoomStateClient
from classroom_mode.modes import Freshness
from classroom_mode.service.api.app import create_app
from classroom_mode.store import HistoryStore
from live_helpers import ServerThread


def _bot(client: RoomStateClient, **discord: object) -> ClassroomBot:
    cfg = config(**discord)
    intents = intents_for(cfg.discord)
    intents.members = True  # dpytest's fake guild needs it
    return ClassroomBot(cfg, client, clock=lambda: NOW, zone=UTC, sync_commands=False, intents=intents)


async def _configured(bot: ClassroomBot) -> ClassroomBot:
    await bot._async_setup_hook()
    await bot.setup_hook()
    dpytest.configure(bot)
    return bot


@pytest.fixture
def store(tmp_path):
    with fill_store(tmp_path / "history.db") as history:
        yield history


@pytest.fixture(params=["store", "api"])
async def bot(request, store, tmp_path, monkeypatch):
    """The bot over the SQLite history directly, and over a real `serve` API on loopback reading the same file."""
    monkeypatch.chdir(tmp_path)  # dpytest writes sent attachments into the working directory
    with contextlib.ExitStack() as stack:
        if request.param == "store":
            client = StoreRoomStateClient(store)
        else:
            server = stack.enter_context(ServerThread(create_app(config(), store, clock=lambda: NOW)))
            client = HttpRoomStateClient(server.url)
        yield await _configured(_bot(client))
        await dpytest.empty_queue()
        await client.aclose()


async def test_api_and_store_clients_return_the_same_records(store):
    freshness = Freshness(config())
    with ServerThread(create_app(config(), store, clock=lambda: NOW)) as server:
        api, direct = HttpRoomStateClient(server.url), StoreRoomStateClient(store)
        # the API serves the stored records judged against its clock: stale, age and deadline computed
        assert await api.rooms() == [freshness.room(r, NOW) for r in await direct.rooms()] != []
        served = await api.room("room-101")
        assert served == freshness.room(await direct.room("room-101"), NOW) and served.age_s is not None
        assert await api.room("atrium") is None
        since = NOW - timedelta(hours=6)
        assert await api.mode_changes("room-101", since) == await direct.mode_changes("room-101", since) != []
        assert await api.cameras() == [freshness.camera(c, NOW) for c in await direct.cameras()] != []
        assert await api.predictions("front", 1) == await direct.predictions("front", 1) != []
        assert await api.surprise(None, 7) == await direct.surprise(None, 7) != []
        await api.aclose()


async def ask(text: str):
    await dpytest.message(text)
    return dpytest.get_message()


async def test_classroom_mode_of_one_room(bot):
    message = await ask("!classroom-mode room-101")
    (embed,) = message.embeds
    assert embed.title == "🎤 Presentation → full silence"
    fields = {f.name: f.value for f in embed.fields}
    assert "for 20 min" in fields["Since"]
    assert "Offline" in fields["Note"] and "`corner`" in fields["Note"]
    assert "Stale" not in fields["Note"]


async def test_classroom_mode_of_every_room_marks_the_stale_one(bot):
    message = await ask("!classroom-mode")
    titles = [e.title for e in message.embeds]
    assert titles == ["☕ Group → café", "🎤 Presentation → full silence"]  # lab, room-101
    lab = {f.name: f.value for f in message.embeds[0].fields}
    assert "Stale" in lab["Note"] and "`bench`" in lab["Note"]  # bench: no frame for 110 min


async def test_unknown_room_lists_the_known_ones(bot):
    message = await ask("!classroom-mode atrium")
    assert message.content == "I don't know a room called `atrium`. Rooms: `lab`, `room-101`."


async def test_configured_room_without_a_state_yet(bot):
    message = await ask("!classroom-mode studio")
    assert message.content == "Room `studio` has no mode yet: is `classroom-mode run` running?"


async def test_a_failing_command_apologises_and_logs(store, tmp_path, monkeypatch, caplog):
    class Broken(StoreRoomStateClient):
        async def cameras(self):
            raise ValueError("disk on fire")

    monkeypatch.chdir(tmp_path)
    await _configured(_bot(Broken(store)))
    with pytest.raises(commands.CommandInvokeError):  # dpytest re-raises after the bot's handler answered
        await dpytest.message("!cameras")
    assert dpytest.get_message().content.startswith("Something went wrong answering that")
    assert "disk on fire" in caplog.text
    await dpytest.empty_queue()


async def test_classify_one_camera_and_every_camera(bot):
    (embed,) = (await ask("!classify front")).embeds
    assert embed.title == "🎤 Presentation"
    assert "80%" in embed.description
    message = await ask("!classify")
    assert [e.title for e in message.embeds] == ["❔ Uncertain (low top probability)", "🎤 Presentation"]
    assert message.content == "No probe result yet from `corner`."
    unknown = await ask("!classify attic")
    assert unknown.content.startswith("No probe result from camera `attic`. Cameras: `bench`, `corner`, `front`")


async def test_worldmodel_shows_score_against_baseline(bot):
    (embed,) = (await ask("!worldmodel front")).embeds
    assert embed.title == "🟢 Normal"
    assert "+0.9" in embed.description
    assert "vs baseline 0.4" in embed.fields[0].value


async def test_surprise_history_sparkline_average_and_peak(bot):
    (embed,) = (await ask("!surprise-history 10")).embeds
    (field,) = embed.fields
    assert field.name == "front"
    assert "peak +7.5 🔴" in field.value and "10 readings" in field.value
    with pytest.raises(commands.RangeError):  # dpytest re-raises what the bot's error handler already answered
        await dpytest.message("!surprise-history 0")
    assert "Usage: `!surprise-history [n]`" in dpytest.get_message().content


async def test_mode_history_attaches_a_chart(bot):
    message = await ask("!mode-history 4")
    (attachment,) = message.attachments
    assert attachment.filename == "mode-history.png"
    assert attachment.size > 5000
    # dpytest drops the embeds of a message that carries files: the text fallback is checked in the slash test


async def test_cameras_lists_online_offline_and_silent(bot):
    (embed,) = (await ask("!cameras")).embeds
    assert embed.title == "📷 Cameras · 1/3 online"
    assert "🔴 `corner`" in embed.description and "read timeout" in embed.description
    assert "🔴 `bench`" in embed.description and "silent" in embed.description
    assert "🟢 `front`" in embed.description


async def test_help_lists_every_command(bot):
    (embed,) = (await ask("!help")).embeds
    names = [f.name for f in embed.fields]
    assert names[0] == "!classroom-mode [room]" and "!mode-history [hours]" in names and len(names) == 7


async def test_api_down_gives_a_friendly_reply_and_the_bot_keeps_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    await _configured(_bot(HttpRoomStateClient(closed_port_url(), timeout_s=2)))
    for command in ("!classroom-mode", "!cameras"):
        message = await ask(command)
        assert message.content.startswith("🔌 The room service is not reachable right now")
    await dpytest.empty_queue()


async def test_prefix_commands_can_be_switched_off(store, tmp_path, monkeypatch):
    settings = config(prefix_commands=False).discord
    assert not intents_for(settings).message_content
    assert intents_for(settings).guilds
    monkeypatch.chdir(tmp_path)
    bot = await _configured(_bot(StoreRoomStateClient(store), prefix_commands=False))
    assert bot.get_command("help") is None
    assert {c.name for c in bot.tree.get_commands()} >= {"classroom-mode", "help", "mode-history"}
    await dpytest.message("!help")
    assert dpytest.verify().message().nothing()
    await dpytest.empty_queue()


class InteractionDouble:
    """What the slash commands touch on a `discord.Interaction`: defer, then one follow-up."""

    def __init__(self) -> None:
        self.deferred = False
        self.sent: list[dict] = []
        self.response = SimpleNamespace(defer=self._defer)
        self.followup = SimpleNamespace(send=self._send)

    async def _defer(self, *, thinking: bool = False) -> None:
        self.deferred = thinking

    async def _send(self, **kwargs) -> None:
        assert self.deferred, "a slash command must defer before following up"
        self.sent.append(kwargs)


async def test_slash_commands_answer_like_prefix_commands(store):
    cog = SlashCommands(Answers(StoreRoomStateClient(store), config(), clock=lambda: NOW, zone=UTC))
    interaction = InteractionDouble()
    await cog.classroom_mode.callback(cog, interaction, room="room-101")
    await cog.mode_history.callback(cog, interaction, hours=2.0)
    await cog.surprise_history.callback(cog, interaction, n=5)
    room, history, surprise = interaction.sent
    assert room["embeds"][0].title == "🎤 Presentation → full silence"
    assert history["files"][0].filename == "mode-history.png"
    (timeline,) = history["embeds"]
    assert timeline.image.url == "attachment://mode-history.png"
    assert "☕ Group · 1 h 10 min" in timeline.description and "🎤 Presentation · 20 min" in timeline.description
    assert "5 readings" in embed_text(surprise["embeds"][0].to_dict())


async def test_many_rooms_are_capped_at_ten_embeds_with_a_note(tmp_path):
    with HistoryStore(tmp_path / "many.db") as many:
        for i in range(12):
            many.set_state(state(f"room-{i:02d}", "solo", since=NOW, updated=NOW))
        reply = await Answers(StoreRoomStateClient(many), config(), clock=lambda: NOW).classroom_mode()
    assert len(reply.embeds) == 10
    assert reply.content == "Showing 10 of 12 rooms; ask for one with `classroom-mode <room>`."


async def test_slash_autocomplete_suggests_rooms_and_survives_an_outage(store):
    cog = SlashCommands(Answers(StoreRoomStateClient(store), config(), clock=lambda: NOW))
    choices = await cog._complete_room(InteractionDouble(), "10")
    assert [c.value for c in choices] == ["room-101"]
    down = SlashCommands(Answers(HttpRoomStateClient(closed_port_url(), timeout_s=2), config()))
    assert await down._complete_camera(InteractionDouble(), "") == []
