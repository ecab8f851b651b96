"""`classroom-mode outputs status|test`: what the room's sinks are doing, and a test event to each."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from classroom_mode.cli.groups import add_group
from classroom_mode.cli.options import ConfigOption, JsonOption, config_from
from classroom_mode.cli.output import console, print_json, styled
from classroom_mode.errors import ClassroomModeError


def register(app: typer.Typer) -> None:
    add_group(
        app, "outputs", "The room's outputs: bus, MQTT, webhooks, commands, sound.", {"status": status, "test": test}
    )


def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """What the store knows of each configured sink: what waits for it, what it parked, its last delivery."""
    from classroom_mode.outputs import stored_statuses
    from classroom_mode.store import HistoryStore

    cfg = config_from(config)
    with HistoryStore(cfg.paths.database) as store:
        statuses = stored_statuses(cfg, store)
    if as_json:
        print_json([s.model_dump(mode="json") for s in statuses])
        return
    if not statuses:
        console.print("no outputs configured (add an `outputs:` section; see `classroom-mode config example`)")
        return
    table = Table("sink", "kind", "events", "target", "pending", "parked", "last delivery", "last parked error")
    for s in statuses:
        cells = (
            s.name,
            s.kind,
            ", ".join(s.events),
            s.target,
            str(s.pending),
            str(s.parked),
            s.last_delivery_at.isoformat(timespec="seconds") if s.last_delivery_at else "never",
            s.last_parked_error or "",
        )
        table.add_row(*(Text(cell) for cell in cells))  # names and errors are the user's text, never markup
    console.print(table)


def test(
    sinks: Annotated[list[str] | None, typer.Argument(help="sink names (default: every configured one)")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send each sink one test event and say what happened (exit 1 if any failed).

    The event is the room's current record of the first kind the sink takes, marked `"test": true` (MQTT
    publishes it to <prefix>/test only); before the room has one, a reading that says nothing (`uncertain`)."""
    from classroom_mode.outputs import send_test
    from classroom_mode.store import HistoryStore

    cfg = config_from(config)
    with HistoryStore(cfg.paths.database) as store:
        results = send_test(cfg, store, sinks or None)
    if as_json:
        print_json([r.__dict__ for r in results])
    else:
        if not results:
            console.print("no outputs configured (add an `outputs:` section; see `classroom-mode config example`)")
        for r in results:
            mark = ("ok", "green") if r.ok else ("failed", "red")
            console.print(styled(f"{r.sink}: ", mark, f" {r.message}"))
    if not all(r.ok for r in results):
        raise ClassroomModeError(f"{sum(not r.ok for r in results)} of {len(results)} outputs failed the test")
