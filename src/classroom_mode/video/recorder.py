"""Recording clips from a live source into the dataset layout, and the retention rule for unlabeled clips.

`record` writes labelled clips straight into `DATA/<mode>/`, so collecting a dataset is
"stand in the room, run one command". `auto-record` fills `DATA/unlabeled/` on a schedule for
labelling later, and retention keeps that folder bounded: it records nothing until one is set.
Retention is the only code in the project that deletes a user's footage, so it is deliberately
narrow: it lists `unlabeled/` itself, never follows a path elsewhere, and removes oldest first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from classroom_mode.config import ClipSettings
from classroom_mode.errors import UserError
from classroom_mode.records import Clip
from classroom_mode.video.clips import ClipBuilder
from classroom_mode.video.dataset import UNLABELED_DIR, is_label_dir, is_video
from classroom_mode.video.sessions import clip_name
from classroom_mode.video.source import FrameSource
from classroom_mode.video.writer import write_mp4

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_label(label: str) -> str:
    """A mode name that can be a folder of `DATA/`: letters, digits, `_ . -`; not `unlabeled`, not hidden."""
    if not _SAFE_NAME.match(label) or label == UNLABELED_DIR or label.startswith("_"):
        raise UserError(f"--label {label!r}: a mode name is letters, digits, '_', '.' or '-' (and not 'unlabeled')")
    return label


def save_clip(clip: Clip, folder: Path, session: str) -> Path:
    """Write a full-rate clip as H.264 MP4 under `folder` (atomically), at the frame rate it arrived with, named
    `CAMERA__SESSION__<UTC time>.mp4` (`video.sessions`)."""
    span = float(clip.timestamps[-1] - clip.timestamps[0]) if clip.num_frames > 1 else 0.0
    fps = (clip.num_frames - 1) / span if span > 0 else 1.0
    path = folder / clip_name(clip.camera_id, session, clip.started_at)
    while path.exists():  # two clips in one millisecond: keep both
        path = path.with_name(f"{path.stem}-1{path.suffix}")
    return write_mp4(path, clip.frames, fps)


Notify = Callable[[str], None]


def record_labelled(  # noqa: PLR0913 -- keyword-only options, each named at the call
    source: FrameSource,
    settings: ClipSettings,
    data_dir: Path,
    label: str,
    *,
    session: str,
    count: int = 1,
    countdown_s: float = 3.0,
    notify: Notify = lambda message: None,
    timeout_s: float = 30.0,
) -> list[Path]:
    """Record `count` back-to-back clips of `settings.seconds` into `DATA/<label>/` after a countdown, all of them
    in one recording `session`."""
    folder = data_dir / check_label(label)
    written: list[Path] = []
    with ClipBuilder(source, settings) as builder:
        builder.wait_for_first_frame(timeout_s)
        for remaining in range(round(countdown_s), 0, -1):
            notify(f"recording {label!r} in {remaining}…")
            time.sleep(1.0)
        start = builder.wait_for_first_frame(timeout_s)
        for k in range(count):
            clip = builder.record(start + k * settings.seconds, timeout=settings.seconds + timeout_s)
            written.append(save_clip(clip, folder, session))
            notify(f"clip {k + 1}/{count}: {written[-1]}")
    return written


@dataclass(frozen=True)
class Retention:
    """Keep unlabeled clips at most `days` old and at most `gb` in total (either may be None: no limit)."""

    days: float | None = None
    gb: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("days", self.days), ("gb", self.gb)):
            if value is not None and not value > 0:
                raise UserError(f"--keep-{name} {value:g}: a retention must be more than 0")

    def required(self) -> Retention:
        """This rule, refused when it limits nothing: a recorder left running must not keep footage for ever."""
        if self.days is None and self.gb is None:
            raise UserError(
                "auto-record stores clips only under a retention: set retention.unlabeled_days (or unlabeled_gb) "
                "in the config, or pass --keep-days / --keep-gb"
            )
        return self


def apply_retention(data_dir: Path, rule: Retention, now: datetime | None = None) -> list[Path]:
    """Delete unlabeled clips past the rule, oldest first; returns what was removed. Touches only `unlabeled/`."""
    folder = data_dir / UNLABELED_DIR
    if (rule.days is None and rule.gb is None) or not folder.is_dir() or folder.is_symlink():
        return []
    clips = sorted((p for p in folder.iterdir() if is_video(p) and not p.is_symlink()), key=lambda p: p.stat().st_mtime)
    now = now or datetime.now(UTC)
    removed: list[Path] = []
    if rule.days is not None:
        cutoff = (now - timedelta(days=rule.days)).timestamp()
        removed += [p for p in clips if p.stat().st_mtime < cutoff]
    if rule.gb is not None:
        kept = [p for p in clips if p not in removed]
        total = sum(p.stat().st_size for p in kept)
        for path in kept:  # oldest first
            if total <= rule.gb * 1e9:
                break
            total -= path.stat().st_size
            removed.append(path)
    for path in removed:
        path.unlink()
    return removed


def auto_record(  # noqa: PLR0913 -- keyword-only options, each named at the call
    source: FrameSource,
    settings: ClipSettings,
    data_dir: Path,
    *,
    every_s: float,
    session: str,
    count: int | None = None,
    retention: Retention,
    notify: Notify = lambda message: None,
    timeout_s: float = 30.0,
) -> list[Path]:
    """Record one clip into `DATA/unlabeled/` every `every_s` seconds of source time (forever if `count` is None),
    under `retention` (required: see `Retention.required`)."""
    retention.required()
    if every_s < settings.seconds:
        raise UserError(f"--every {every_s:g}s: shorter than one clip ({settings.seconds:g} s)")
    folder = data_dir / UNLABELED_DIR
    written: list[Path] = []
    with ClipBuilder(source, settings) as builder:
        start = builder.wait_for_first_frame(timeout_s)
        k = 0
        while count is None or k < count:
            clip = builder.record(start + k * every_s, timeout=every_s + timeout_s)
            written.append(save_clip(clip, folder, session))
            removed = apply_retention(data_dir, retention)
            notify(f"{written[-1]}" + (f" (retention removed {len(removed)} old clips)" if removed else ""))
            k += 1
    return written


def known_labels(data_dir: Path, configured: list[str]) -> list[str]:
    """Modes from the config plus any label folder already in DATA (users add modes by adding folders)."""
    found = [p.name for p in data_dir.iterdir() if is_label_dir(p)] if data_dir.is_dir() else []
    return list(dict.fromkeys([*configured, *sorted(found)]))
