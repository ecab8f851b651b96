"""The classroom event bus: every camera reading as the bus's V-JEPA detector payload.

`POST {url}/push/state` with header `X-API-Key` and `{"camera_id", "predicted_class", "prediction_confidence",
"class_probs"}`: the shape that bus documents for this detector, from which it makes its own
`probe_classification` and `room_mode_change` events (so only readings go there).
"""

from __future__ import annotations

import json

import httpx

from classroom_mode.config import BusOutput
from classroom_mode.outputs.events import Delivery
from classroom_mode.outputs.http import post
from classroom_mode.records import Prediction


def bus_payload(reading: Prediction) -> dict[str, object]:
    return {
        "camera_id": reading.camera_id,
        "predicted_class": reading.label,
        "prediction_confidence": reading.confidence,
        "class_probs": reading.probabilities,
    }


class BusSink:
    def __init__(self, settings: BusOutput, api_key: str) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/") + "/push/state"
        self._key = api_key
        self._client: httpx.Client | None = None

    def open(self) -> None:
        self._client = httpx.Client()

    def deliver(self, delivery: Delivery) -> str | None:
        if not isinstance(delivery.record, Prediction):
            return None  # the config takes readings only; anything else has no shape on the bus
        assert self._client is not None, "open() first"
        body = json.dumps(bus_payload(delivery.record)).encode()
        headers = {"X-API-Key": self._key, "Content-Type": "application/json", "X-Event-Id": delivery.uid}
        post(self._client, self.url, body, headers, self.settings.timeout_s, [self._key])
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
