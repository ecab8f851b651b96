"""Time as every layer reads it: aware UTC datetimes, so a reading, a state and the clock always compare."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """Readings stamped without a zone are taken as UTC, so they compare with the clock."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
