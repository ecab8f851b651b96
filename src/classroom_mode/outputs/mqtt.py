"""MQTT (paho-mqtt 2.x), with Home Assistant discovery: the room shows up there without a line of YAML.

Topics, under `topic_prefix` (default `classroom-mode`), with rooms and cameras as slugs (`slug`):

    <prefix>/status                     online / offline (retained; `offline` is also the last will)
    <prefix>/<room>/mode                the room's ModeState JSON (retained)
    <prefix>/<room>/ambience            the ambience, plain text (retained)
    <prefix>/<room>/<camera>/reading    each reading's Prediction JSON
    <prefix>/<room>/<camera>/surprise   the camera's SurpriseReading JSON on a level change (retained)
    <prefix>/<room>/<camera>/status     the camera's CameraStatus JSON on going on- or offline (retained)
    <prefix>/<room>/pause/set           command: ON pauses the room, OFF resumes it
    <prefix>/<room>/<camera>/pause/set  command: ON pauses the camera, OFF resumes it

Every JSON payload carries `event_id`, so a subscriber can drop the repeat that at-least-once delivery allows.
QoS 1; a publish counts once the broker acknowledged it. On each connection the discovery configs are
published (retained) under `discovery_prefix`: per room a mode sensor (its probabilities as attributes; the
room's `off-hours` or `paused` instead of its mode while it is not watched), an ambience sensor and a pause
switch, per camera an anomaly binary sensor, a connectivity binary sensor and a pause switch, all grouped under
one device per room and tied to the availability topic. A switch's state is the `watch` field of the retained
mode or status topic, so it comes back as it was after a restart of either side; its commands reach the live
loop through `on_pause` (a sink built without it, as `outputs test` builds one, subscribes to nothing).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from classroom_mode.config import Config, MqttOutput
from classroom_mode.errors import UserError
from classroom_mode.outputs.delivery import Retry
from classroom_mode.outputs.events import Delivery
from classroom_mode.records import CameraStatus, ModeState, Prediction, SurpriseReading
from classroom_mode.store import PauseKind

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
ACK_SLICE_S = 0.05
"""How often a publish waiting for its acknowledgement looks whether the connection is still there."""
PAUSE_COMMAND = "pause/set"
PauseHandler = Callable[[PauseKind, str, bool], object]
"""What a pause switch's command calls: (kind, name, paused), the live loop's `set_paused`."""


def slug(name: str) -> str:
    """A room or camera name as an MQTT topic level and a Home Assistant id: [A-Za-z0-9_-] only."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def check_slugs(config: Config) -> None:
    """Two names that become one slug would share topics; refuse that at start, naming them."""
    seen: dict[str, str] = {}
    names = [*config.rooms, *(c for r in config.rooms.values() for c in r.cameras)]
    for name in names:
        other = seen.setdefault(slug(name), name)
        if other != name:
            raise UserError(f"outputs: {other!r} and {name!r} have the same MQTT topic name {slug(name)!r}; rename one")


class Topics:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    def room(self, room: str, leaf: str) -> str:
        return f"{self.prefix}/{slug(room)}/{leaf}"

    def camera(self, room: str, camera_id: str, leaf: str) -> str:
        return f"{self.prefix}/{slug(room)}/{slug(camera_id)}/{leaf}"


def messages(topics: Topics, delivery: Delivery) -> list[tuple[str, str, bool]]:
    """(topic, payload, retain) of what one event publishes; `outputs test` publishes to `<prefix>/test` only, so
    a test never overwrites a room's retained state."""
    if delivery.test:
        return [(f"{topics.prefix}/test", delivery.body().decode(), False)]
    record = delivery.record
    payload = json.dumps(record.model_dump(mode="json") | {"event_id": delivery.uid}, ensure_ascii=False)
    room = delivery.room
    if isinstance(record, ModeState):
        return [(topics.room(room, "mode"), payload, True), (topics.room(room, "ambience"), record.ambience, True)]
    if isinstance(record, Prediction):
        return [(topics.camera(room, record.camera_id, "reading"), payload, False)]
    if isinstance(record, SurpriseReading):
        return [(topics.camera(room, record.camera_id, "surprise"), payload, True)]
    if isinstance(record, CameraStatus):
        return [(topics.camera(room, record.camera_id, "status"), payload, True)]
    raise TypeError(f"no MQTT topic for {type(record).__name__}")


def _entity(prefix: str, component: str, node: str, object_id: str, fields: dict[str, Any]) -> tuple[str, str]:
    body = {"unique_id": f"{node}_{object_id}", "object_id": f"{node}_{object_id}", **fields}
    return f"{prefix}/{component}/{node}/{object_id}/config", json.dumps(body, ensure_ascii=False)


def discovery(config: Config, settings: MqttOutput) -> list[tuple[str, str]]:
    """(topic, config JSON) of every Home Assistant discovery message; none when discovery is off."""
    if settings.discovery_prefix is None:
        return []
    topics = Topics(settings.topic_prefix)
    prefix = settings.discovery_prefix.rstrip("/")
    out: list[tuple[str, str]] = []
    for room, room_config in config.rooms.items():
        node = f"classroom_mode_{slug(room)}"
        common: dict[str, Any] = {
            "availability_topic": topics.status,
            "device": {"identifiers": [node], "name": f"{room} (classroom-mode)", "manufacturer": "classroom-mode"},
        }
        mode_topic = topics.room(room, "mode")
        mode = {
            "name": "Mode",
            "icon": "mdi:google-classroom",
            "state_topic": mode_topic,
            "value_template": "{{ value_json.mode if value_json.watch | default('watching') == 'watching' "
            "else value_json.watch }}",
            "json_attributes_topic": mode_topic,
            "json_attributes_template": "{{ value_json.probabilities | tojson }}",
        }
        ambience = {"name": "Ambience", "icon": "mdi:music", "state_topic": topics.room(room, "ambience")}
        out += [
            _entity(prefix, "sensor", node, "mode", common | mode),
            _entity(prefix, "sensor", node, "ambience", common | ambience),
            _entity(
                prefix,
                "switch",
                node,
                "paused",
                common | _pause_switch("Paused", mode_topic, topics.room(room, PAUSE_COMMAND)),
            ),
        ]
        for camera_id in room_config.cameras:
            anomaly = {
                "name": f"{camera_id} anomaly",
                "device_class": "problem",
                "state_topic": topics.camera(room, camera_id, "surprise"),
                "value_template": "{{ 'ON' if value_json.level == 'anomaly' else 'OFF' }}",
            }
            online = {
                "name": f"{camera_id} online",
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                "state_topic": topics.camera(room, camera_id, "status"),
                "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
            }
            switch = _pause_switch(
                f"{camera_id} paused",
                topics.camera(room, camera_id, "status"),
                topics.camera(room, camera_id, PAUSE_COMMAND),
            )
            out += [
                _entity(prefix, "binary_sensor", node, f"{slug(camera_id)}_anomaly", common | anomaly),
                _entity(prefix, "binary_sensor", node, f"{slug(camera_id)}_online", common | online),
                _entity(prefix, "switch", node, f"{slug(camera_id)}_paused", common | switch),
            ]
    return out


def _pause_switch(name: str, state_topic: str, command_topic: str) -> dict[str, Any]:
    return {
        "name": name,
        "icon": "mdi:pause-circle",
        "command_topic": command_topic,
        "state_topic": state_topic,
        "value_template": "{{ 'ON' if value_json.watch | default('watching') == 'paused' else 'OFF' }}",
        "payload_on": "ON",
        "payload_off": "OFF",
    }


def pause_targets(config: Config, topics: Topics) -> dict[str, tuple[PauseKind, str]]:
    """Each pause command topic and the camera or room it pauses."""
    targets: dict[str, tuple[PauseKind, str]] = {}
    for room, room_config in config.rooms.items():
        targets[topics.room(room, PAUSE_COMMAND)] = ("room", room)
        for camera_id in room_config.cameras:
            targets[topics.camera(room, camera_id, PAUSE_COMMAND)] = ("camera", camera_id)
    return targets


class MqttSink:
    def __init__(
        self, settings: MqttOutput, config: Config, password: str | None, on_pause: PauseHandler | None = None
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.on_pause = on_pause
        self._commands = pause_targets(config, self.topics) if on_pause is not None else {}
        self._address = f"{settings.host}:{settings.port}"
        self._first = True
        self._discovery = discovery(config, settings)
        self._connected = threading.Event()
        self._refused: str | None = None
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id or "")
        if settings.username is not None:
            client.username_pw_set(settings.username, password)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(self.topics.status, "offline", qos=1, retain=True)
        client.reconnect_delay_set(1, max(1, int(settings.max_backoff_s)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def open(self) -> None:
        # the first attempt is made here, in the worker's thread, so its reason (refused, unknown host, a TLS
        # handshake that failed) can be told; paho's own loop then retries with its backoff
        try:
            self._client.connect(self.settings.host, self.settings.port, keepalive=KEEPALIVE_S)
        except ssl.SSLError as exc:
            self._refused = f"TLS failed with {self._address}: {exc.reason or exc}"
        except ConnectionResetError:
            closed = "the broker closed the connection"
            self._refused = (f"TLS failed with {self._address}: {closed} during the handshake (a port without TLS?)"
                             if self.settings.tls else f"cannot connect to {self._address}: {closed}")  # fmt: skip
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self._refused = f"cannot connect to {self._address}: {reason}"
        self._client.loop_start()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: Any, properties: object
    ) -> None:
        if reason.is_failure:
            self._refused = f"the broker refused the connection: {reason}"
            return
        self._refused = None
        client.publish(self.topics.status, "online", qos=1, retain=True)
        for topic, payload in self._discovery:
            client.publish(topic, payload, qos=1, retain=True)
        if self._commands:
            client.subscribe([(topic, 1) for topic in self._commands])
        self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        """A pause switch's command: ON pauses, OFF resumes; anything else is logged and ignored."""
        target = self._commands.get(message.topic)
        command = message.payload.decode(errors="replace").strip().upper()
        if target is None or self.on_pause is None or command not in ("ON", "OFF"):
            log.warning("MQTT %s: ignored %r (expected ON or OFF)", message.topic, command[:20])
            return
        try:
            self.on_pause(*target, command == "ON")
        except Exception:  # a failed pause is logged; the broker's network thread must go on
            log.exception("MQTT %s: pausing %s %s failed", message.topic, *target)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: Any, properties: object
    ) -> None:
        self._connected.clear()

    def deliver(self, delivery: Delivery) -> str | None:
        # the first event waits for the connection `open` started; later ones find out at once
        wait_s, self._first = (self.settings.timeout_s if self._first else 0.0), False
        if not self._connected.wait(wait_s):
            # paho would queue a QoS 1 message in memory and send it on reconnect, behind the worker's back
            raise Retry(self._refused or f"not connected to {self._address}")
        for topic, payload, retain in messages(self.topics, delivery):
            info = self._client.publish(topic, payload, qos=1, retain=retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise Retry(f"publish failed: {mqtt.error_string(info.rc)}")
            self._await_ack(info)
        return None

    def _await_ack(self, info: mqtt.MQTTMessageInfo) -> None:
        """Wait for the broker's acknowledgement, up to `timeout_s`, in short slices: a connection lost meanwhile
        (a broker killed mid-publish) is a Retry at once, not at the end of the timeout."""
        deadline = time.monotonic() + self.settings.timeout_s
        while not info.is_published():
            if not self._connected.is_set():
                raise Retry(f"the connection to {self._address} was lost before it acknowledged")
            if time.monotonic() >= deadline:
                raise Retry(f"no acknowledgement from {self._address} within {self.settings.timeout_s:g} s")
            try:
                info.wait_for_publish(ACK_SLICE_S)
            except (RuntimeError, ValueError) as exc:
                raise Retry(f"publish failed: {exc}") from None

    def close(self) -> None:
        if self._connected.is_set():
            info = self._client.publish(self.topics.status, "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # going offline anyway: the last will says it too
                info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()
