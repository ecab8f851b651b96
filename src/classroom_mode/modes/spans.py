"""A room's modes over a window of time, from its mode changes: the one rule the dashboard and the bot draw by."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from classroom_mode.clock import as_utc
from classroom_mode.records import ModeChange, ModeSpan, ModeState


def mode_spans(
    changes: Sequence[ModeChange], state: ModeState | None, start: datetime, end: datetime
) -> list[ModeSpan]:
    """The room's modes over [start, end] from its changes (any order; those outside the window are ignored) and
    its current state.

    The window opens in the mode the first change left; with no change inside it, the current state's mode runs
    from when the room entered it (or the window's start, if later). A stretch whose mode is not known (before
    the first state the store ever saw) is left out rather than guessed, and so is a span of no length.
    """
    start, end = as_utc(start), as_utc(end)
    inside = sorted((c for c in changes if start <= as_utc(c.at) <= end), key=lambda c: as_utc(c.at))
    spans: list[ModeSpan] = []
    if not inside:
        if state is not None:
            spans.append(ModeSpan(mode=state.mode, start=max(as_utc(state.since), start), end=end))
    else:
        if inside[0].previous is not None:
            spans.append(ModeSpan(mode=inside[0].previous, start=start, end=as_utc(inside[0].at)))
        for change, following in zip(inside, [*inside[1:], None], strict=True):
            stop = as_utc(following.at) if following is not None else end
            spans.append(ModeSpan(mode=change.mode, start=as_utc(change.at), end=stop))
    return [span for span in spans if span.end > span.start]
