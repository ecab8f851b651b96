"""The outputs layer: the store's outbox delivered to the room's devices (classroom bus, MQTT with Home
Assistant discovery, webhooks, commands, sound). It reads the store and nothing reads it back.

`Outputs` runs one `SinkWorker` per configured sink beside the live loop; `stored_statuses` and `send_test`
serve `GET /api/outputs` in a server without workers and `classroom-mode outputs test`.
"""

from classroom_mode.outputs.runner import OutputCheck, Outputs, send_test, stored_statuses

__all__ = ["OutputCheck", "Outputs", "send_test", "stored_statuses"]
