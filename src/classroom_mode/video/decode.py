"""Reading video files: probe them, and sample N frames uniformly by presentation timestamp.

Why timestamps and not frame numbers: phones record variable frame rate, browsers write WebM
with no frame count, old AVIs carry headers that lie about fps. The only thing every file
agrees on is when each frame is shown. So a file is first *indexed* by demuxing its packets
(reading, not decoding: cheap), which gives every frame's presentation time and where the
keyframes are. Sampling then seeks to the keyframe before each wanted time and decodes only
from there, so 16 frames out of a ten-minute file cost a few GOPs, not ten minutes of decoding.

Sampling rule: the window [start, end) is cut into N equal segments and sample i is the frame
*on screen* at the centre of segment i (the last frame whose timestamp is <= that time).
A clip with exactly N frames therefore returns every frame once; a clip with fewer frames
than N repeats frames, as a player would show them. A file with a single frame is refused
(a still image carries no motion, and a probe trained on motion would read it as noise).
"""

from __future__ import annotations

import bisect
import math
import stat
from collections.abc import Generator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import av.error
import numpy as np

from classroom_mode.errors import UserError
from classroom_mode.records import Clip

Number = TypeVar("Number", float, Fraction)

MAX_FRAME_PIXELS = 7680 * 4320
"""Frames larger than 8K UHD are refused before decoding: one 10,000 x 10,000 RGB frame is 300 MB."""
MAX_CLIP_PIXELS = 64 * 1920 * 1080
"""The most RGB pixels one sampled clip may hold (frames × width × height, after any `short_side` scaling):
about 400 MB. Checked before a single frame is converted, so a small file of a few huge frames cannot make a
reader hold gigabytes."""

DECODER_PICTURES = 18
"""Full-size pictures decoding may hold at once: H.264 and HEVC streams may keep 16 reference pictures, plus the
one being decoded and the one being converted. What a stream keeps is its encoder's choice (an attacker's, for an
upload), not the reader's, so a memory budget is a limit on frame size."""
SIDE_DATA_BYTES = 0.5
"""Bytes per pixel a decoder keeps beside each picture's planes (motion vectors, reference indices; H.264: ~0.45,
benchmarks/bench_upload_memory.py)."""
_GREY = av.VideoFormat("gray")
"""The most compact pixel format: what a frame's size is bounded by before its own format is known."""


def picture_bytes(pixel_format: av.VideoFormat | None) -> float:
    """Bytes per pixel of one decoded picture with its side data (2.0 for 8-bit 4:2:0); an unknown format is
    counted as the largest, 16-bit 4:4:4."""
    bits = pixel_format.padded_bits_per_pixel if pixel_format is not None else 0
    return (bits or 48) / 8 + SIDE_DATA_BYTES


def max_frame_pixels(memory_budget: int, pixel_format: av.VideoFormat | None) -> int:
    """The largest frame, in pixels, a decoder of `pixel_format` can decode within `memory_budget` bytes however
    many pictures the stream makes it keep (3,728,270 for 8-bit 4:2:0 in 128 MiB: 2560 x 1440 fits, 4K does not)."""
    return int(memory_budget / (DECODER_PICTURES * picture_bytes(pixel_format)))


@dataclass(frozen=True)
class VideoInfo:
    """What a file really holds, measured from its packets rather than taken from its header."""

    path: Path
    container: str
    codec: str
    width: int
    """Displayed width, after rotation metadata is applied."""
    height: int
    rotation: int
    """Degrees counter-clockwise the stored pixels are turned for display (0, 90, 180 or 270)."""
    duration: float
    """Seconds from the first frame's timestamp to the end of the last frame."""
    num_frames: int
    fps: float
    """Average frames per second over the file (frames / duration)."""
    variable_frame_rate: bool
    num_keyframes: int


@dataclass(frozen=True)
class _Index:
    """Every displayable frame's presentation time, in stream time-base units, sorted."""

    pts: list[int]
    keyframe_pts: list[int]
    """Sorted presentation times of keyframes: where decoding can start."""
    keyframe_dts: dict[int, int]
    """Decode timestamp of each keyframe, which is what demuxers seek on."""
    end: int
    """Where the last frame stops being shown (its pts plus its duration)."""


def segment_centres(lo: Number, hi: Number, n: int) -> list[Number]:
    """The sampling rule shared by files and live cameras: centres of n equal segments of [lo, hi)."""
    return [lo + (2 * i + 1) * (hi - lo) / (2 * n) for i in range(n)]


def _fail(path: Path, reason: str) -> UserError:
    return UserError(f"{path}: {reason}")


MAX_CLIP_BYTES = 4 * 2**30
"""The largest file taken as a clip: past this it is an archive to cut into clips, not one to read whole."""


def check_clip_file(path: Path | str) -> Path:
    """The path, if it is a regular file of a size a clip can have; a UserError saying what it is otherwise.

    Every path that comes in goes through here first, before anything opens, hashes or decodes it: a named
    pipe or a device such as /dev/zero would otherwise block a reader forever or never reach its end.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except OSError as exc:
        raise _fail(path, f"cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise _fail(path, "is a directory, not a video file")
    if not stat.S_ISREG(info.st_mode):
        kind = "a named pipe" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
        raise _fail(path, f"is {kind}, not a regular file")
    if info.st_size == 0:
        raise _fail(path, "empty file (0 bytes)")
    if info.st_size > MAX_CLIP_BYTES:
        raise _fail(
            path, f"{info.st_size / 2**30:.1f} GiB is too large for one clip (limit {MAX_CLIP_BYTES // 2**30} GiB)"
        )
    return path


def _open(path: Path, memory_budget: int | None) -> av.container.InputContainer:
    check_clip_file(path)
    # opening decodes a frame or two to learn the stream's format: with a budget, none larger than the budget allows
    # in the most compact format (8-bit grey) is even allocated
    options = None if memory_budget is None else {"max_pixels": str(max_frame_pixels(memory_budget, _GREY))}
    try:
        return av.open(str(path), mode="r", options=options)
    except av.error.InvalidDataError:
        raise _fail(path, "not a video file, or truncated (no readable container)") from None
    except av.error.FFmpegError as exc:
        raise _fail(path, f"cannot open ({exc.strerror or exc})") from None


def _video_stream(
    path: Path, container: av.container.InputContainer, memory_budget: int | None
) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds: list[str] = sorted({s.type for s in container.streams}) or ["no streams"]
        raise _fail(path, f"has no video stream ({', '.join(kinds)} only)")
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None or context.codec is None or not context.codec.is_decoder:
        name = f" {context.name!r}" if context is not None else ""
        raise _fail(path, f"its video codec{name} cannot be decoded by this FFmpeg build")
    if stream.width * stream.height > MAX_FRAME_PIXELS:
        raise _fail(path, f"frame size {stream.width}x{stream.height} is too large (limit {MAX_FRAME_PIXELS:,} pixels)")
    if stream.width == 0 or stream.height == 0:
        raise _fail(
            path,
            "video stream has no frame size (a corrupt header, or a variant FFmpeg cannot read, e.g. animated WebP)",
        )
    if memory_budget is None:
        stream.thread_type = "AUTO"
        return stream
    pixel_format = context.format
    limit = max_frame_pixels(memory_budget, pixel_format)
    if stream.width * stream.height > limit:
        needs = DECODER_PICTURES * picture_bytes(pixel_format) * stream.width * stream.height
        raise _fail(
            path,
            f"frame size {stream.width}x{stream.height} ({pixel_format.name if pixel_format else 'unknown format'}) "
            f"may need {needs / 2**20:,.0f} MiB to decode, more than the {memory_budget / 2**20:g} MiB allowed here "
            f"(at most {limit:,} pixels a frame)",
        )
    stream.thread_type = "SLICE"  # each frame thread would hold pictures of its own
    # the decoder itself refuses a frame that grows mid-stream: it counts the size it allocates, rows and columns
    # padded (to 16 px macroblocks, 64-byte lines)
    padded = math.ceil(stream.width / 64) * 64 * math.ceil(stream.height / 64) * 64
    context.options = {"max_pixels": str(padded)}
    return stream


def time_base(stream: av.video.stream.VideoStream) -> Fraction:
    """The stream's time base; FFmpeg gives every demuxed stream one (PyAV types it as optional)."""
    assert stream.time_base is not None, "a demuxed video stream always has a time base"
    return stream.time_base


def frame_pts(frame: av.VideoFrame) -> int:
    """A decoded frame's pts (the cursor decodes only frames that have one)."""
    assert frame.pts is not None, "decoded frames carry their packet's pts"
    return frame.pts


def _header_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _index(  # noqa: C901 -- one pass over the packets; each branch is a way real files' packets differ
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    max_seconds: float | None,
) -> _Index:
    """Demux (without decoding) every packet of the video stream; stops early once past `max_seconds`."""
    tb = time_base(stream)
    pts: list[int] = []
    keyframes: dict[int, int] = {}
    durations: dict[int, int] = {}
    limit = None if max_seconds is None else math.ceil(max_seconds / tb)
    first: int | None = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                continue
            first = ts if first is None else min(first, ts)
            if limit is not None and ts - first > limit:
                raise _fail(path, f"longer than the {max_seconds:g} s allowed here")
            pts.append(ts)
            durations[ts] = packet.duration or 0
            if packet.is_keyframe:
                keyframes[ts] = packet.dts if packet.dts is not None else ts
    except av.error.FFmpegError as exc:
        if len(pts) < 2:
            raise _fail(path, f"unreadable video data ({exc.strerror or exc})") from None
        # a truncated tail: keep the frames read so far, as players do
    if not pts:
        raise _fail(path, "has no video frames")
    pts = sorted(set(pts))
    if len(pts) < 2:
        raise _fail(path, "has a single frame; a clip needs motion (at least 2 frames)")
    if not keyframes:
        keyframes[pts[0]] = pts[0]
    gaps = np.diff(pts)
    last_duration = durations.get(pts[-1]) or int(np.median(gaps))
    return _Index(pts, sorted(keyframes), keyframes, pts[-1] + max(last_duration, 1))


def short_side_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side `short_side` and the longer one in proportion, truncated (as the
    V-JEPA 2 processor sizes a frame before its centre crop)."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) shrunk to `short_side_size`, never enlarged; as it is when `short_side` is None."""
    if short_side is None or min(width, height) <= short_side:
        return width, height
    return short_side_size(width, height, short_side)


def display_rgb(frame: av.VideoFrame, short_side: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB as a viewer would show it, with rotation metadata applied; scaled by FFmpeg as it is
    converted when `short_side` is given, so a large frame is never held at full size in RGB."""
    width, height = scaled_size(frame.width, frame.height, short_side)
    image = frame.to_ndarray(format="rgb24", width=width, height=height)
    turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


class _Cursor:
    """Decodes forward through a stream and answers 'which frame is on screen at time t', seeking when it pays."""

    def __init__(
        self,
        path: Path,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        index: _Index,
    ) -> None:
        self.path, self.container, self.stream, self.index = path, container, stream, index
        self._frames: Generator[av.VideoFrame] | None = None
        self._shown: av.VideoFrame | None = None
        """The last decoded frame whose pts is <= the last time asked for."""
        self._ahead: av.VideoFrame | None = None
        """A decoded frame already past the last time asked for."""

    def _seek(self, keyframe_pts: int) -> None:
        dts = self.index.keyframe_dts[keyframe_pts]
        try:
            self.container.seek(dts, backward=True, stream=self.stream)
        except av.error.FFmpegError:
            self.container.seek(self.index.pts[0], backward=True, stream=self.stream)
        self.release()
        self._frames = self._decode()

    def release(self) -> None:
        """Let go of the decoding and the frames held, now: the generator and this cursor refer to each other, so
        without this they (and the decoder's pictures) would wait for the garbage collector's next cycle."""
        if self._frames is not None:
            self._frames.close()
        self._frames = self._shown = self._ahead = None

    def _decode(self) -> Generator[av.VideoFrame]:
        try:
            for frame in self.container.decode(self.stream):
                if frame.pts is not None:
                    yield frame
        except av.error.FFmpegError as exc:
            raise _fail(self.path, f"cannot decode video ({exc.strerror or exc})") from None

    def _next(self) -> av.VideoFrame | None:
        if self._ahead is not None:
            frame, self._ahead = self._ahead, None
            return frame
        assert self._frames is not None
        return next(self._frames, None)

    def _advance_to(self, t: int) -> None:
        on_screen = self.index.pts[max(bisect.bisect_right(self.index.pts, t) - 1, 0)]
        while (frame := self._next()) is not None:
            if frame_pts(frame) > t:
                self._ahead = frame
                return
            self._shown = frame
            if frame_pts(frame) == on_screen:
                return  # the index says no frame comes before t after this one: do not decode (and hold) the next

    def frame_at(self, t: int) -> av.VideoFrame:
        """The frame on screen at pts `t` (the last frame with pts <= t)."""
        first_keyframe = self.index.keyframe_pts[0]
        keyframe = self.index.keyframe_pts[max(bisect.bisect_right(self.index.keyframe_pts, t) - 1, 0)]
        position = self._shown.pts if self._shown is not None else None
        if self._frames is None or position is None or position > t or keyframe > position:
            self._seek(keyframe)
        self._advance_to(t)
        if self._shown is None and keyframe != first_keyframe:
            # the demuxer landed after t (an imprecise seek): decode from the first keyframe instead
            self._seek(first_keyframe)
            self._advance_to(t)
        if self._shown is None:
            if self._ahead is None:
                raise _fail(self.path, "no frame could be decoded")
            self._shown, self._ahead = self._ahead, None  # t is before the first decodable frame
        return self._shown


def probe_video(path: Path | str, *, max_seconds: float | None = None) -> VideoInfo:
    """Index a file and report what it really holds; UserError naming the file if unusable.

    Costs one demux pass (no decoding) plus decoding the first frame, which carries the rotation.
    """
    with VideoFile(path, max_seconds=max_seconds) as video:
        return video.info()


def _refuse_long(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream, max_seconds: float | None
) -> None:
    """Refuse at once when the header claims far more than allowed; the packets decide the close calls."""
    claimed = _header_seconds(container, stream)
    if max_seconds is not None and claimed is not None and claimed > max_seconds * 1.5 + 1:
        raise _fail(path, f"is {claimed:.1f} s long; at most {max_seconds:g} s is allowed here")


def _info(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    index: _Index,
    rotation: int,
) -> VideoInfo:
    tb = time_base(stream)
    duration = float((index.end - index.pts[0]) * tb)
    gaps = np.diff(index.pts)
    width, height = (stream.height, stream.width) if rotation in (90, 270) else (stream.width, stream.height)
    return VideoInfo(
        path=path,
        container=container.format.name,
        codec=stream.codec_context.name,
        width=width,
        height=height,
        rotation=rotation,
        duration=duration,
        num_frames=len(index.pts),
        fps=len(index.pts) / duration if duration > 0 else 0.0,
        variable_frame_rate=bool(gaps.max() - gaps.min() > max(1, 0.05 * np.median(gaps))),
        num_keyframes=len(index.keyframe_pts),
    )


class VideoFile:
    """One open video, demuxed and indexed once, from which any number of clips are cut.

    `sample_clip` opens one for a single clip; a caller cutting many windows from one file (`surprise --stream`)
    keeps one open, so the file is indexed once rather than once per window, and decoding moves forward
    from the previous window instead of seeking from the start. Files longer than `max_seconds` are refused
    (checked from the header first, then from the packets, since headers lie).

    `memory_budget` (bytes) bounds what decoding may hold, for files from anyone (uploads): a stream whose frames
    could make it hold more (`max_frame_pixels`) is refused before a frame of it is decoded, and frames are decoded
    on one thread, since each frame thread would hold pictures of its own.
    """

    def __init__(self, path: Path | str, *, max_seconds: float | None = None, memory_budget: int | None = None) -> None:
        self.path = Path(path)
        self.max_seconds = max_seconds
        self._container = _open(self.path, memory_budget)
        try:
            self._stream = _video_stream(self.path, self._container, memory_budget)
            _refuse_long(self.path, self._container, self._stream, max_seconds)
        except BaseException:
            self._container.close()
            raise
        self._cursor: _Cursor | None = None

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.release()
        self._container.close()

    def _indexed(self) -> _Cursor:
        """The packet index and a decoding cursor, built on first use (a clip refused for its size needs neither)."""
        if self._cursor is None:
            index = _index(self.path, self._container, self._stream, self.max_seconds)
            self._cursor = _Cursor(self.path, self._container, self._stream, index)
        return self._cursor

    def info(self) -> VideoInfo:
        cursor = self._indexed()
        first = cursor.frame_at(cursor.index.pts[0])
        return _info(self.path, self._container, self._stream, cursor.index, round(first.rotation / 90) % 4 * 90)

    def clip(
        self,
        num_frames: int,
        *,
        start: float | None = None,
        end: float | None = None,
        camera_id: str = "",
        short_side: int | None = None,
        max_pixels: int = MAX_CLIP_PIXELS,
    ) -> Clip:
        """`num_frames` frames sampled uniformly by presentation time over the file or the window [start, end).

        `start` and `end` are seconds from the first frame; `end` past the end of the file is clamped. The
        clip's timestamps are seconds from the window start. Each frame is shrunk to a shorter side of
        `short_side` pixels as it is converted (one full-size frame at a time); a clip that would hold more than
        `max_pixels` RGB pixels is refused before the file is even indexed.
        """
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        path, stream = self.path, self._stream
        width, height = scaled_size(stream.width, stream.height, short_side)
        if num_frames * width * height > max_pixels:
            raise _fail(
                path,
                f"{num_frames} frames of {width}x{height} are {num_frames * width * height:,} pixels, more than the "
                f"{max_pixels:,} a clip may hold here",
            )
        cursor = self._indexed()
        tb = time_base(stream)
        first = cursor.index.pts[0]
        total = float((cursor.index.end - first) * tb)
        lo = 0.0 if start is None else start
        hi = total if end is None else min(end, total)
        if lo < 0 or lo >= total:
            raise _fail(path, f"window start {lo:g} s is outside the video (0 to {total:.3f} s)")
        if hi <= lo:
            raise _fail(path, f"window end {hi:g} s is not after its start {lo:g} s")
        window_start = first + round(Fraction(lo).limit_denominator(10**6) / tb)
        window_end = first + round(Fraction(hi).limit_denominator(10**6) / tb)
        targets = [int(t) for t in segment_centres(Fraction(window_start), Fraction(window_end), num_frames)]
        frames: np.ndarray | None = None
        times = np.empty(num_frames, dtype=np.float64)
        for i, target in enumerate(targets):  # each frame to (scaled) RGB as it is decoded, before the next one is
            frame = cursor.frame_at(target)
            image = display_rgb(frame, short_side)
            if frames is None:
                frames = np.empty((num_frames, *image.shape), dtype=np.uint8)
            elif image.shape != frames.shape[1:]:
                raise _fail(path, "frame size changes mid-stream; re-encode the file at one size")
            frames[i] = image
            times[i] = float((frame_pts(frame) - window_start) * tb)
        assert frames is not None, "num_frames >= 1"
        return Clip(frames=frames, timestamps=times, camera_id=camera_id, source=str(path))


def sample_clip(  # noqa: PLR0913 -- keyword-only options, each named at the call
    path: Path | str,
    num_frames: int,
    *,
    start: float | None = None,
    end: float | None = None,
    camera_id: str = "",
    max_seconds: float | None = None,
    short_side: int | None = None,
    max_pixels: int = MAX_CLIP_PIXELS,
) -> Clip:
    """One clip of a file (`VideoFile.clip`), the file opened and indexed for it alone."""
    with VideoFile(path, max_seconds=max_seconds) as video:
        return video.clip(
            num_frames, start=start, end=end, camera_id=camera_id, short_side=short_side, max_pixels=max_pixels
        )
