"""Run a program per event: how a user drives anything classroom-mode does not know (lights, a playlist, a
projector).

The program is the configured argv, started directly (never through a shell, so nothing in an event can
become a command). The event is on its stdin as the envelope JSON and in `CLASSROOM_*` environment variables
(`CLASSROOM_EVENT`, `CLASSROOM_EVENT_ID`, `CLASSROOM_ROOM`, `CLASSROOM_CAMERA`, `CLASSROOM_MODE`,
`CLASSROOM_AMBIENCE`, `CLASSROOM_CONFIDENCE`, `CLASSROOM_SURPRISE_LEVEL`, `CLASSROOM_ONLINE`, `CLASSROOM_TEST`).
It inherits this process's environment except the secrets the config names, which are no business of the
program's. A non-zero exit or a run past `timeout_s` parks the event (a command with side effects is not
re-run blindly); the exit status and the last line it wrote to stderr are in the sink's status.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection

from classroom_mode.config import CommandOutput
from classroom_mode.outputs.delivery import Rejected
from classroom_mode.outputs.events import Delivery
from classroom_mode.records import CameraStatus, ModeState, Prediction, SurpriseReading

LINE_CHARS = 300


def event_environment(delivery: Delivery) -> dict[str, str]:
    record = delivery.record
    env = {
        "CLASSROOM_EVENT": delivery.kind,
        "CLASSROOM_EVENT_ID": delivery.uid,
        "CLASSROOM_ROOM": delivery.room,
        "CLASSROOM_TEST": "1" if delivery.test else "0",
    }
    if delivery.camera_id is not None:
        env["CLASSROOM_CAMERA"] = delivery.camera_id
    if isinstance(record, ModeState):
        env |= {"CLASSROOM_MODE": record.mode, "CLASSROOM_AMBIENCE": record.ambience}
        env["CLASSROOM_CONFIDENCE"] = f"{record.confidence:.4f}"
    elif isinstance(record, Prediction):
        env |= {"CLASSROOM_MODE": record.label, "CLASSROOM_CONFIDENCE": f"{record.confidence:.4f}"}
    elif isinstance(record, SurpriseReading):
        env["CLASSROOM_SURPRISE_LEVEL"] = record.level
    elif isinstance(record, CameraStatus):
        env["CLASSROOM_ONLINE"] = "1" if record.online else "0"
    return env


class CommandSink:
    def __init__(self, settings: CommandOutput, withheld: Collection[str]) -> None:
        self.settings = settings
        self._withheld = set(withheld)
        """The environment variables holding this config's secrets: not passed to the program."""

    def open(self) -> None:
        pass

    def deliver(self, delivery: Delivery) -> str | None:
        env = {k: v for k, v in os.environ.items() if k not in self._withheld} | event_environment(delivery)
        try:
            done = subprocess.run(
                self.settings.argv,
                input=delivery.body(),
                env=env,
                capture_output=True,
                timeout=self.settings.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Rejected(f"killed after its timeout of {self.settings.timeout_s:g} s") from None
        except OSError as exc:
            raise Rejected(f"cannot run {self.settings.argv[0]}: {exc.strerror or exc}") from None
        detail = f"exit {done.returncode}"
        last = _last_line(done.stderr)
        if last:
            detail += f": {last}"
        if done.returncode != 0:
            raise Rejected(detail)
        return detail

    def close(self) -> None:
        pass


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:LINE_CHARS] if lines else ""
