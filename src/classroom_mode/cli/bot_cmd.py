"""`classroom-mode bot`: run the Discord bot and its notifier until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from classroom_mode.cli.options import ConfigOption, config_from
from classroom_mode.cli.output import info
from classroom_mode.errors import NotAvailableError


def register(app: typer.Typer) -> None:
    app.command("bot")(bot)


def bot(
    config: ConfigOption = None,
    sync: Annotated[
        bool, typer.Option("--sync/--no-sync", help="register the slash commands with Discord at start-up")
    ] = True,
) -> None:
    """Run the Discord bot: `!classroom-mode` and friends (also as /slash commands), and notifications.

    Token: from the environment variable that `discord.token_env` names (DISCORD_TOKEN by default).
    Room state: from `discord.api_url` when set, else from the history database (`paths.database`).
    """
    settings = config_from(config)
    try:
        from classroom_mode.bot.app import run_bot
    except ModuleNotFoundError as exc:  # discord.py (and its aiohttp) are the optional `discord` extra
        if exc.name not in ("discord", "aiohttp"):
            raise
        raise NotAvailableError(
            "the bot needs discord.py: pip install -e '.[discord]' in the classroom-mode folder"
        ) from None
    try:
        run_bot(settings, sync_commands=sync)
    except KeyboardInterrupt:
        info("bot stopped")
