"""`run` (the live loop) and `serve` (the HTTP API, optionally running the loop in-process)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from classroom_mode.cli.options import ConfigOption, config_from
from classroom_mode.cli.output import info, warn
from classroom_mode.config import Config
from classroom_mode.records import ModeChange, ModeState

if TYPE_CHECKING:  # the heavy layers load inside the commands, so `--help` stays fast
    from classroom_mode.service.analysis import LocalEncoder
    from classroom_mode.service.live.loop import LiveLoop
    from classroom_mode.store import HistoryStore


def _announce(change: ModeChange, state: ModeState) -> None:
    shown = f"{state.emoji} {state.display_name}"
    info(f"{state.room}: {shown} (confidence {state.confidence:.2f}, ambience {state.ambience})")


def _live_loop(config: Config, store: HistoryStore, encoder: LocalEncoder | None = None) -> LiveLoop:
    from classroom_mode.service.analysis import build_analyzer
    from classroom_mode.service.live.loop import LiveLoop

    analyzer = encoder if encoder is not None and config.encoding.where == "local" else build_analyzer(config)
    return LiveLoop(config, store, analyzer, on_change=_announce)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("serve")(serve)


def run(
    config: ConfigOption = None,
    windows: Annotated[
        int | None, typer.Option("--windows", min=1, help="stop after this many windows per camera")
    ] = None,
) -> None:
    """Run the live loop: every camera → its room's mode → the history database."""
    from classroom_mode.store import HistoryStore

    cfg = config_from(config)
    with HistoryStore(cfg.paths.database) as store:
        loop = _live_loop(cfg, store)
        cameras = sum(len(r.cameras) for r in cfg.rooms.values())
        info(f"watching {cameras} camera(s) in {len(cfg.rooms)} room(s); history in {cfg.paths.database}")
        try:
            loop.run(windows)
        except KeyboardInterrupt:
            info("stopping")
            loop.stop()


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option("--host", help="address to bind (default: server.host)")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="default: server.port")] = None,
    live: Annotated[bool, typer.Option("--live", help="run the live loop in this process too")] = False,
    encode: Annotated[
        bool, typer.Option("--encode/--no-encode", help="load the backbone and probes for the POST endpoints")
    ] = True,
) -> None:
    """Serve the HTTP API (and the dashboard) over the history database."""
    import uvicorn

    from classroom_mode.errors import ClassroomModeError
    from classroom_mode.service.analysis import load_local_encoder
    from classroom_mode.service.api.app import create_app
    from classroom_mode.service.api.dashboard import mount_dashboard
    from classroom_mode.store import HistoryStore

    cfg = config_from(config)
    if not live:
        info(
            f"serving the stored history of {cfg.paths.database}: this server measures nothing itself "
            "(rooms stay current only while `classroom-mode run` writes to it; --live runs the cameras here)"
        )
    encoder = None
    with_probe = [room for room, rc in cfg.rooms.items() if rc.probe is not None]
    if encode and (live or with_probe):  # nothing to classify with: stay a read-only API, no backbone loaded
        encoder = load_local_encoder(cfg, list(cfg.rooms) if live else with_probe)
    if encoder is not None and not cfg.server.api_token_env:
        warn(
            "server.api_token_env is null: anyone who can reach this server can post clips to it "
            "(name a variable holding a token to require one)"
        )
    with HistoryStore(cfg.paths.database) as store:
        loop = _live_loop(cfg, store, encoder) if live else None
        api = create_app(cfg, store, encoder=encoder, loop=loop)
        mount_dashboard(api, live=loop)
        bind_host, bind_port = host or cfg.server.host, port or cfg.server.port
        _check_port(bind_host, bind_port)
        info(f"serving on http://{bind_host}:{bind_port} (API docs at /docs)")
        server = uvicorn.Server(uvicorn.Config(api, host=bind_host, port=bind_port, log_level="warning"))
        if loop is not None:  # a loop that cannot go on takes the server down with it, and says why
            loop.on_failure = lambda _reason: setattr(server, "should_exit", True)
        server.run()
    if loop is not None and loop.failure is not None:
        raise ClassroomModeError(f"the live loop stopped: {loop.failure}")


def _check_port(host: str, port: int) -> None:
    """Fail with one line before anything says "serving" when the address cannot be bound (uvicorn would print
    its own error and exit with an undocumented code)."""
    import errno
    import socket

    from classroom_mode.errors import ClassroomModeError

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = (
            "is in use (another serve?); pick another with --port"
            if exc.errno == errno.EADDRINUSE
            else f"({exc.strerror})"
        )
        raise ClassroomModeError(f"cannot serve on {host}:{port}: the address {reason}") from None
