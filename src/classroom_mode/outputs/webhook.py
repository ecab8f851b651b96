"""A webhook: every event it takes as the envelope JSON, signed so the receiver knows it came from this room.

Headers: `X-Classroom-Mode-Event` (the event id; drop a repeat), `X-Classroom-Mode-Kind`, and, when a secret is
named, `X-Classroom-Mode-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body bytes under the secret
(check it with `hmac.compare_digest` before trusting the body; the body's `at` lets a receiver refuse replays).
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from classroom_mode.config import WebhookOutput
from classroom_mode.outputs.events import Delivery
from classroom_mode.outputs.http import post

SIGNATURE_HEADER = "X-Classroom-Mode-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink:
    def __init__(self, settings: WebhookOutput, secret: str | None) -> None:
        self.settings = settings
        self._secret = secret
        self._client: httpx.Client | None = None

    def open(self) -> None:
        self._client = httpx.Client()

    def deliver(self, delivery: Delivery) -> str | None:
        assert self._client is not None, "open() first"
        body = delivery.body()
        headers = {
            "Content-Type": "application/json",
            "X-Classroom-Mode-Event": delivery.uid,
            "X-Classroom-Mode-Kind": delivery.kind,
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        post(self._client, self.settings.url, body, headers, self.settings.timeout_s, [self._secret or ""])
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
