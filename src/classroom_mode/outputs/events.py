"""What a sink is handed: one outbox event with its room resolved, and the JSON every sink sends of it.

Every sink speaks the same envelope (`Delivery.payload`): the event's stable `id` (a consumer drops
duplicates by it, since delivery is at least once), its `kind`, when it happened, the room and camera, and
the record itself as the API serves it. Only the classroom bus, whose payload its own docs fix, and MQTT,
whose topics say the kind and room, send something else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classroom_mode.records import CameraStatus, ModeState, OutputKind, Prediction, SurpriseReading
from classroom_mode.store import OutboxEvent

OutputRecord = Prediction | ModeState | SurpriseReading | CameraStatus


@dataclass(frozen=True)
class Delivery:
    uid: str
    kind: OutputKind
    at: datetime
    room: str
    camera_id: str | None
    record: OutputRecord
    test: bool = False
    """Sent by `outputs test`, not by the room: the record is the room's current one, resent."""

    @classmethod
    def of(cls, event: OutboxEvent, room_of_camera: dict[str, str]) -> Delivery | None:
        """The delivery of an outbox event, or None for a camera no longer in the config (no room to name)."""
        record = event.record
        if isinstance(record, ModeState):
            return cls(event.uid, event.kind, event.at, record.room, None, record)
        room = record.room if isinstance(record, CameraStatus) else room_of_camera.get(record.camera_id)
        if room is None:
            return None
        return cls(event.uid, event.kind, event.at, room, record.camera_id, record)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.uid,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "room": self.room,
            "camera_id": self.camera_id,
            "data": self.record.model_dump(mode="json"),
        }
        if self.test:
            body["test"] = True
        return body

    def body(self) -> bytes:
        """`payload` as compact UTF-8 JSON: the exact bytes an HTTP sink sends (and a webhook signs)."""
        return json.dumps(self.payload(), separators=(",", ":"), ensure_ascii=False).encode()
