"""The Discord bot: every command as a `!prefix` command and a `/slash` command, plus notifications.

The commands only deliver what `Answers` composes, so the two ways of asking share one answer.
Intents are the minimum: guilds for slash commands, and guild/DM messages with message content
only when prefix commands are on (`discord.prefix_commands: false` for servers that do not grant
the privileged message-content intent). The token is read from the environment at start and is
handed to discord.py only; it is never printed or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from classroom_mode.bot.answers import DEFAULT_HISTORY_READINGS, MAX_HISTORY_READINGS, Answers, Reply
from classroom_mode.bot.client import RoomServiceUnreachable, RoomStateClient, client_from_config
from classroom_mode.bot.notify import ChannelSender, NotificationPolicy, Notifier, Sender, WebhookSender
from classroom_mode.clock import Clock, utc_now
from classroom_mode.config import Config, DiscordConfig, secret
from classroom_mode.errors import ClassroomModeError, UserError

log = logging.getLogger(__name__)

AnswerFn = Callable[[], Awaitable[Reply]]


def intents_for(settings: DiscordConfig) -> discord.Intents:
    """Only what the bot uses: guilds always; messages and their content only for prefix commands."""
    intents = discord.Intents.none()
    intents.guilds = True
    if settings.prefix_commands:
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True
    return intents


def _message_kwargs(reply: Reply) -> dict[str, Any]:
    """`send` arguments with the empty parts left out (discord.py treats [] and missing differently)."""
    kwargs: dict[str, Any] = {}
    if reply.content:
        kwargs["content"] = reply.content
    if reply.embeds:
        kwargs["embeds"] = list(reply.embeds)
    if reply.files:
        kwargs["files"] = reply.discord_files()
    return kwargs


def _choices(names: list[str], typed: str) -> list[app_commands.Choice[str]]:
    """Slash-command suggestions: the names containing what was typed so far (Discord shows at most 25)."""
    matches = sorted(n for n in names if typed.lower() in n.lower())
    return [app_commands.Choice(name=n, value=n) for n in matches[:25]]


class PrefixCommands(commands.Cog, name="prefix"):
    """`!classroom-mode`, `!classify`, … (needs the message-content intent)."""

    def __init__(self, answers: Answers):
        self.answers = answers

    async def _send(self, ctx: commands.Context[Any], answer: AnswerFn) -> None:
        await ctx.send(**_message_kwargs(await self.answers.guarded(answer)))

    @commands.command(name="classroom-mode", usage="[room]")
    async def classroom_mode(self, ctx: commands.Context[Any], *, room: str | None = None) -> None:
        """The mode of a room, or of every room."""
        await self._send(ctx, lambda: self.answers.classroom_mode(room))

    @commands.command(name="classify", usage="[camera]")
    async def classify(self, ctx: commands.Context[Any], camera: str | None = None) -> None:
        """The latest raw probe result of a camera."""
        await self._send(ctx, lambda: self.answers.classify(camera))

    @commands.command(name="worldmodel", usage="[camera]")
    async def worldmodel(self, ctx: commands.Context[Any], camera: str | None = None) -> None:
        """World-model surprise of a camera against its baseline."""
        await self._send(ctx, lambda: self.answers.worldmodel(camera))

    @commands.command(name="surprise-history", usage="[n]")
    async def surprise_history(
        self, ctx: commands.Context[Any], n: commands.Range[int, 1, MAX_HISTORY_READINGS] = DEFAULT_HISTORY_READINGS
    ) -> None:
        """A sparkline of the last n surprise readings."""
        await self._send(ctx, lambda: self.answers.surprise_history(n))

    @commands.command(name="mode-history", usage="[hours]")
    async def mode_history(
        self, ctx: commands.Context[Any], hours: commands.Range[float, 0.1, 168.0] | None = None
    ) -> None:
        """The mode timeline as a chart."""
        await self._send(ctx, lambda: self.answers.mode_history(hours))

    @commands.command(name="cameras")
    async def cameras(self, ctx: commands.Context[Any]) -> None:
        """Every camera, online or offline."""
        await self._send(ctx, self.answers.cameras)

    @commands.command(name="help")
    async def help(self, ctx: commands.Context[Any]) -> None:
        """All commands."""
        await self._send(ctx, self.answers.help)


class SlashCommands(commands.Cog, name="slash"):
    """The same commands as application commands; each defers first (a chart may take longer than 3 s)."""

    def __init__(self, answers: Answers):
        self.answers = answers

    async def _respond(self, interaction: discord.Interaction[Any], answer: AnswerFn) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(**_message_kwargs(await self.answers.guarded(answer)))

    async def _complete_room(self, _: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        with contextlib.suppress(RoomServiceUnreachable):
            return _choices([s.room for s in await self.answers.client.rooms()], current)
        return []

    async def _complete_camera(self, _: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        with contextlib.suppress(RoomServiceUnreachable):
            return _choices([c.camera_id for c in await self.answers.client.cameras()], current)
        return []

    @app_commands.command(name="classroom-mode", description="The mode of a room, or of every room")
    @app_commands.describe(room="a room; leave empty for every room")
    @app_commands.autocomplete(room=_complete_room)
    async def classroom_mode(self, interaction: discord.Interaction[Any], room: str | None = None) -> None:
        await self._respond(interaction, lambda: self.answers.classroom_mode(room))

    @app_commands.command(name="classify", description="The latest raw probe result of a camera")
    @app_commands.describe(camera="a camera; leave empty for every camera")
    @app_commands.autocomplete(camera=_complete_camera)
    async def classify(self, interaction: discord.Interaction[Any], camera: str | None = None) -> None:
        await self._respond(interaction, lambda: self.answers.classify(camera))

    @app_commands.command(name="worldmodel", description="World-model surprise of a camera against its baseline")
    @app_commands.describe(camera="a camera; leave empty for every camera")
    @app_commands.autocomplete(camera=_complete_camera)
    async def worldmodel(self, interaction: discord.Interaction[Any], camera: str | None = None) -> None:
        await self._respond(interaction, lambda: self.answers.worldmodel(camera))

    @app_commands.command(name="surprise-history", description="A sparkline of the last n surprise readings")
    @app_commands.describe(n="how many readings per camera")
    async def surprise_history(
        self,
        interaction: discord.Interaction[Any],
        n: app_commands.Range[int, 1, MAX_HISTORY_READINGS] = DEFAULT_HISTORY_READINGS,
    ) -> None:
        await self._respond(interaction, lambda: self.answers.surprise_history(n))

    @app_commands.command(name="mode-history", description="The mode timeline as a chart")
    @app_commands.describe(hours="how far back; leave empty for today")
    async def mode_history(
        self, interaction: discord.Interaction[Any], hours: app_commands.Range[float, 0.1, 168.0] | None = None
    ) -> None:
        await self._respond(interaction, lambda: self.answers.mode_history(hours))

    @app_commands.command(name="cameras", description="Every camera, online or offline")
    async def cameras(self, interaction: discord.Interaction[Any]) -> None:
        await self._respond(interaction, self.answers.cameras)

    @app_commands.command(name="help", description="All classroom-mode commands")
    async def help(self, interaction: discord.Interaction[Any]) -> None:
        await self._respond(interaction, self.answers.help)


class ClassroomBot(commands.Bot):
    """The bot: commands over a `RoomStateClient`, and a notifier when a sender is configured.

    Notifications go to `discord.notify_channel_id` when set, else to `webhook` when given.
    `sync_commands` registers the slash commands with Discord at start-up.
    """

    def __init__(  # noqa: PLR0913 -- keyword-only options, each named at the call
        self,
        config: Config,
        client: RoomStateClient,
        *,
        clock: Clock = utc_now,
        zone: tzinfo | None = None,
        webhook: Sender | None = None,
        sync_commands: bool = True,
        intents: discord.Intents | None = None,
    ) -> None:
        settings = config.discord
        # the bot never joins a voice channel: discord.py's warnings about missing voice libraries are noise
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=settings.prefix if settings.prefix_commands else commands.when_mentioned,
            help_command=None,
            intents=intents or intents_for(settings),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.config = config
        self.answers = Answers(client, config, clock=clock, zone=zone)
        sender = ChannelSender(self, settings.notify_channel_id) if settings.notify_channel_id else webhook
        policy = NotificationPolicy(cooldown_s=settings.cooldown_s, min_dwell_s=settings.min_dwell_s)
        self.notifier = Notifier(client, policy, sender, config.modes, clock=clock) if sender else None
        self.webhook = webhook
        self.sync_commands = sync_commands
        self._notifier_task: asyncio.Task[None] | None = None
        self.tree.error(self._on_app_command_error)

    async def setup_hook(self) -> None:
        if self.config.discord.prefix_commands:
            await self.add_cog(PrefixCommands(self.answers))
        await self.add_cog(SlashCommands(self.answers))
        if self.notifier is not None:
            self._notifier_task = asyncio.create_task(self.notifier.run(), name="classroom-mode notifier")
        if self.sync_commands:
            await self.tree.sync()

    async def close(self) -> None:
        """Stop the notifier and release the state client and webhook connections, then disconnect."""
        if self._notifier_task is not None:
            self._notifier_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._notifier_task
            self._notifier_task = None
        if not self.is_closed():
            await self.answers.client.aclose()
            if isinstance(self.webhook, WebhookSender):
                await self.webhook.aclose()
        await super().close()

    async def on_command_error(self, ctx: commands.Context[Any], error: commands.CommandError) -> None:
        """A typo'd command is ignored; bad arguments get the usage; anything else is logged and apologised for."""
        if isinstance(error, commands.CommandNotFound):
            return
        if isinstance(error, commands.UserInputError) and ctx.command is not None:
            usage = f"{ctx.clean_prefix}{ctx.command.qualified_name} {ctx.command.usage or ''}".strip()
            await ctx.send(f"{error} Usage: `{usage}`")
            return
        log.error("command %s failed", ctx.command, exc_info=getattr(error, "original", error))
        await ctx.send("Something went wrong answering that; the details are in the bot's log.")

    async def _on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        log.error("slash command %s failed", interaction.command, exc_info=getattr(error, "original", error))
        message = "Something went wrong answering that; the details are in the bot's log."
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)


def bot_token(settings: DiscordConfig) -> str:
    """The token from the environment variable the config names; a clear UserError when it is not set."""
    token = secret(settings.token_env)
    if token is None:
        raise UserError(
            f"discord.token_env: the environment variable {settings.token_env} is not set "
            "(put the bot token from the Discord developer portal there)"
        )
    return token.strip()


def webhook_from_env(settings: DiscordConfig) -> WebhookSender | None:
    url = secret(settings.webhook_url_env)
    return WebhookSender.from_env(settings.webhook_url_env or "", url.strip()) if url else None


async def serve_bot(bot: ClassroomBot, token: str) -> None:
    """Log in and run until closed, turning Discord's refusals into errors that name the setting to fix."""
    env = bot.config.discord.token_env
    try:
        async with bot:
            await bot.start(token)
    except discord.LoginFailure:
        raise UserError(f"discord.token_env: Discord rejected the token in {env}") from None
    except discord.PrivilegedIntentsRequired:
        raise UserError(
            "discord.prefix_commands: Discord refused the message-content intent; enable it for the bot in the "
            "developer portal, or set prefix_commands: false to use slash commands only"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ClassroomModeError(f"cannot reach Discord ({type(exc).__name__})") from None


def run_bot(config: Config, *, sync_commands: bool = True) -> None:
    """`classroom-mode bot`: check the token and the state source, then run until Ctrl-C."""
    token = bot_token(config.discord)
    webhook = webhook_from_env(config.discord)
    client = client_from_config(config)
    bot = ClassroomBot(config, client, webhook=webhook, sync_commands=sync_commands)
    if bot.notifier is None:
        log.info("notifications off: set discord.notify_channel_id or $%s", config.discord.webhook_url_env)
    asyncio.run(serve_bot(bot, token))
