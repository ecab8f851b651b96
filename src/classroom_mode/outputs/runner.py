"""Every configured sink's worker, started and stopped with the live loop; their status; `outputs test`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from classroom_mode.clock import Clock, utc_now
from classroom_mode.config import BusOutput, Config
from classroom_mode.errors import UserError
from classroom_mode.outputs.bus_listen import RoomListener
from classroom_mode.outputs.bus_presence import Presence
from classroom_mode.outputs.delivery import Rejected, Retry, Sink, SinkWorker
from classroom_mode.outputs.events import Delivery, OutputRecord
from classroom_mode.outputs.mqtt import PauseHandler
from classroom_mode.outputs.room_requests import Cameras, RoomRequests
from classroom_mode.outputs.sinks import build_sink, bus_key, target_of
from classroom_mode.records import OutputKind, Prediction, SinkStatus
from classroom_mode.store import HistoryStore


class Link(Protocol):
    """What runs beside a sink's worker: a bus's presence in the room, its listener."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def bus_links(
    name: str, settings: BusOutput, config: Config, store: HistoryStore, cameras: Cameras | None
) -> list[Link]:
    """A bus output's presence, and its listener when it listens and there are cameras to record from."""
    key = bus_key(name, settings)
    links: list[Link] = [Presence(name, settings, config, store, key)]
    if settings.listen and cameras is not None:
        requests = RoomRequests(config, settings, store, cameras)
        ids = [camera for room in config.rooms.values() for camera in room.cameras]
        links.append(RoomListener(name, settings, requests, ids, key))
    return links


class Outputs:
    """The delivery workers of `config.outputs` over one store, and each bus output's presence in the room and,
    with `listen` and `cameras` to record from, its listener. Building it reads every sink's secrets, so a
    missing one stops the start with its name instead of a sink that fails later. `on_pause` is what the MQTT
    sinks' pause switches call (the live loop's `set_paused`)."""

    def __init__(
        self,
        config: Config,
        store: HistoryStore,
        *,
        clock: Clock = utc_now,
        sinks: Mapping[str, Sink] | None = None,
        cameras: Cameras | None = None,
        on_pause: PauseHandler | None = None,
    ) -> None:
        self.config, self.store = config, store
        built = (
            dict(sinks)
            if sinks is not None
            else {n: build_sink(n, s, config, on_pause) for n, s in config.outputs.items()}
        )
        rooms = {camera: room for room, rc in config.rooms.items() for camera in rc.cameras}
        self.workers = [
            SinkWorker(name, config.outputs[name], sink, store.outbox, rooms, clock=clock)
            for name, sink in built.items()
        ]
        self.links: list[Link] = []
        for name, settings in config.outputs.items():
            if sinks is None and isinstance(settings, BusOutput):
                self.links += bus_links(name, settings, config, store, cameras)

    def register(self) -> None:
        """Make the configured sinks the store's outbox readers: from now on their events are kept."""
        self.store.outbox.register_sinks([w.name for w in self.workers])

    def start(self, *, register: bool = True) -> None:
        """Start the workers, registering the sinks first unless the caller does (the live loop queues it behind
        a database another process may be holding)."""
        if register:
            self.register()
        for worker in self.workers:
            worker.start()
        for link in self.links:
            link.start()

    def stop(self) -> None:
        """Stop the workers, then the links: a bus's `running: false` comes after the last reading it sent."""
        for worker in self.workers:
            worker.stop()
        for link in self.links:
            link.stop()

    def statuses(self) -> list[SinkStatus]:
        return [w.status(target_of(w.settings)) for w in self.workers]


def stored_statuses(config: Config, store: HistoryStore) -> list[SinkStatus]:
    """What the store knows of each configured sink, for a process that runs no workers (`serve` without --live)."""
    statuses = []
    for name, settings in config.outputs.items():
        progress = store.outbox.sink_progress(name, tuple(settings.events))
        statuses.append(
            SinkStatus(
                name=name,
                kind=settings.kind,
                events=list(settings.events),
                state="stopped",
                target=target_of(settings),
                last_delivery_at=progress.delivered_at if progress else None,
                pending=progress.pending if progress else 0,
                parked=progress.parked if progress else 0,
                last_parked_error=progress.last_parked_error if progress else None,
            )
        )
    return statuses


@dataclass(frozen=True)
class OutputCheck:
    sink: str
    kind: OutputKind
    ok: bool
    message: str


def sample_delivery(config: Config, store: HistoryStore, kind: OutputKind) -> Delivery:
    """A test event of `kind` for the first room: its current record of that kind resent (from the store), or,
    when the store has none yet, a reading that says nothing (`uncertain`, confidence 0) from its first camera."""
    now = utc_now()
    room = next(iter(config.rooms))
    camera = next(iter(config.rooms[room].cameras))
    uid = f"test-{now.strftime('%Y%m%dT%H%M%S%f')}"
    current: dict[OutputKind, OutputRecord | None] = {
        "mode": store.state(room),
        "reading": next(iter(store.predictions(camera, limit=1)), None),
        "surprise": next(iter(store.surprise(camera, limit=1)), None),
        "camera": next((c for c in store.cameras() if c.camera_id == camera), None),
    }
    record = current[kind]
    if record is None:
        kind, record = (
            "reading",
            Prediction(
                camera_id=camera,
                at=now,
                label="uncertain",
                confidence=0.0,
                probabilities=dict.fromkeys(config.modes, 0.0),
                uncertain_reason="a test event from `classroom-mode outputs test`",
            ),
        )
    return Delivery(uid, kind, now, room, None if kind == "mode" else camera, record, test=True)


def send_test(config: Config, store: HistoryStore, names: list[str] | None = None) -> list[OutputCheck]:
    """Send one test event to each named sink (every configured one by default) directly, not through the
    outbox, and say what happened: the first kind each sink takes, as `sample_delivery` builds it."""
    chosen = names or list(config.outputs)
    unknown = [n for n in chosen if n not in config.outputs]
    if unknown:
        known = ", ".join(config.outputs) or "none"
        raise UserError(f"no output named {', '.join(map(repr, unknown))} (configured: {known})")
    results = []
    for name in chosen:
        settings = config.outputs[name]
        delivery = sample_delivery(config, store, settings.events[0])
        sink = build_sink(name, settings, config)
        sink.open()
        try:
            detail = sink.deliver(delivery)
            message = f"delivered a {delivery.kind} event to {target_of(settings)}" + (f" ({detail})" if detail else "")
            results.append(OutputCheck(name, delivery.kind, True, message))
        except (Retry, Rejected) as exc:
            results.append(OutputCheck(name, delivery.kind, False, f"{target_of(settings)}: {exc}"))
        finally:
            sink.close()
    return results
