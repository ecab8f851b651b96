"""The Discord bot and webhook notifier: the room answers where its people already talk.

It reads the same records the HTTP API serves, through a `RoomStateClient` (the API of a running
`serve`, or the SQLite history on the same machine). `Answers` composes every reply, `format`
and `chart` turn records into embeds and PNGs, `notify` decides when a change is worth a message.
"""

from classroom_mode.bot.answers import Answers, Reply
from classroom_mode.bot.client import (
    HttpRoomStateClient,
    RoomServiceUnreachable,
    RoomStateClient,
    StoreRoomStateClient,
    client_from_config,
)
from classroom_mode.bot.notify import NotificationPolicy, Notifier, WebhookSender

__all__ = [
    "Answers",
    "HttpRoomStateClient",
    "NotificationPolicy",
    "Notifier",
    "Reply",
    "RoomServiceUnreachable",
    "RoomStateClient",
    "StoreRoomStateClient",
    "WebhookSender",
    "client_from_config",
]
