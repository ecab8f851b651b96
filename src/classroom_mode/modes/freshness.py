"""A room state or camera status is only as fresh as its last reading: the one judgement of that, from the clock.

The live loop marks a room `stale` and a camera offline while it runs, but a loop that stopped (or a
`serve` without `--live` reading an old history file) cannot say so itself: the stored record still
says what the last reading said. So every reader (the API, the dashboard, the bot, the outputs) passes
what it reads through `Freshness` before showing or sending it, and each record carries the instant
until which it holds (`fresh_until`), so a page can grey out a card at that instant without asking
again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from classroom_mode.clock import as_utc
from classroom_mode.config import Config
from classroom_mode.records import CameraStatus, ModeState


class Freshness:
    """Judges records against the clock with the config's `thresholds.stale_after_s` and cameras' `offline_after_s`."""

    def __init__(self, config: Config) -> None:
        self.stale_after = timedelta(seconds=config.thresholds.stale_after_s)
        self._offline_after = {
            camera_id: timedelta(seconds=camera.offline_after_s)
            for room in config.rooms.values()
            for camera_id, camera in room.cameras.items()
        }

    def offline_after(self, camera_id: str) -> timedelta:
        """How long a camera may go without a frame (a camera the config does not know: the staleness window)."""
        return self._offline_after.get(camera_id, self.stale_after)

    def room(self, state: ModeState, now: datetime) -> ModeState:
        """The state with `age_s`, `fresh_until`, and `stale` also when its last update is older than allowed."""
        updated = as_utc(state.updated_at)
        fresh_until = updated + self.stale_after
        now = as_utc(now)
        return state.model_copy(
            update={
                "stale": state.stale or now > fresh_until,
                "age_s": max(0.0, (now - updated).total_seconds()),
                "fresh_until": fresh_until,
            }
        )

    def camera(self, status: CameraStatus, now: datetime) -> CameraStatus:
        """The status with `age_s` and `fresh_until`, offline (since the instant it ran out) once no frame came."""
        if status.last_frame_at is None:
            return status
        last = as_utc(status.last_frame_at)
        fresh_until = last + self.offline_after(status.camera_id)
        now = as_utc(now)
        update: dict[str, object] = {"age_s": max(0.0, (now - last).total_seconds()), "fresh_until": fresh_until}
        if status.online and now > fresh_until:
            update |= {"online": False, "since": fresh_until, "last_error": "silent: no frame received since then"}
        return status.model_copy(update=update)
