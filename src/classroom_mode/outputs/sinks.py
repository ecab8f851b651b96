"""From an `outputs:` entry to a sink: its secrets read from the environment (a named one that is unset is an
error, never a sink that silently sends without it), its program found, its topics checked."""

from __future__ import annotations

import shutil
from pathlib import Path

from classroom_mode.config import (
    BusOutput,
    CommandOutput,
    Config,
    MqttOutput,
    OutputConfig,
    SoundOutput,
    WebhookOutput,
    secret,
)
from classroom_mode.errors import UserError
from classroom_mode.outputs.bus import BusSink
from classroom_mode.outputs.command import CommandSink
from classroom_mode.outputs.delivery import Sink
from classroom_mode.outputs.mqtt import MqttSink, PauseHandler, check_slugs
from classroom_mode.outputs.sound import SoundSink, ambience_files, check_playable
from classroom_mode.outputs.webhook import WebhookSink


def target_of(settings: OutputConfig) -> str:
    """Where a sink delivers, without credentials: what its status shows."""
    if isinstance(settings, BusOutput):
        return settings.url.rstrip("/") + "/push/state"
    if isinstance(settings, MqttOutput):
        return f"mqtt{'s' if settings.tls else ''}://{settings.host}:{settings.port}"
    if isinstance(settings, WebhookOutput):
        return settings.url
    if isinstance(settings, SoundOutput):
        return " ".join(settings.player) if settings.player else f"aplay on ALSA device {settings.device}"
    return " ".join(settings.argv)


def _required(name: str, field: str, env: str) -> str:
    value = secret(env)
    if value is None:
        raise UserError(f"outputs.{name}.{field}: the environment variable {env} is not set (it holds the secret)")
    return value


def bus_key(name: str, settings: BusOutput) -> str | None:
    """The bus's key, when one is named (the class's Node server checks none; its Python reference does)."""
    return _required(name, "api_key_env", settings.api_key_env) if settings.api_key_env else None


def build_sink(name: str, settings: OutputConfig, config: Config, on_pause: PauseHandler | None = None) -> Sink:
    """The sink of one `outputs:` entry; `on_pause` is what an MQTT sink's pause switches call (none: no switches
    are listened to)."""
    if isinstance(settings, BusOutput):
        return BusSink(settings, bus_key(name, settings))
    if isinstance(settings, MqttOutput):
        check_slugs(config)
        password = _required(name, "password_env", settings.password_env) if settings.password_env else None
        if settings.ca_file is not None and not settings.ca_file.is_file():
            raise UserError(f"outputs.{name}.ca_file: {settings.ca_file} is not a file")
        return MqttSink(settings, config, password, on_pause)
    if isinstance(settings, WebhookOutput):
        signing = _required(name, "secret_env", settings.secret_env) if settings.secret_env else None
        return WebhookSink(settings, signing)
    if isinstance(settings, SoundOutput):
        _program(name, "player", (settings.player or ["aplay"])[0])
        for ambience, path in settings.ambiences.items():
            if not path.exists():
                raise UserError(f"outputs.{name}.ambiences.{ambience}: {path} does not exist")
            for file in ambience_files(path):
                check_playable(file)
        return SoundSink(settings, settings.room or next(iter(config.rooms)))
    assert isinstance(settings, CommandOutput)
    _program(name, "argv", settings.argv[0])
    return CommandSink(settings, withheld=config.secret_names())


def _program(name: str, field: str, program: str) -> None:
    if shutil.which(program) is None and not Path(program).is_file():
        raise UserError(f"outputs.{name}.{field}: {program!r} is not a program on PATH or a file")
