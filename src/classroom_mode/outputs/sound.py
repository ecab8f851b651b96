"""Sound: the room's ambience on this machine's speaker, looped, fading over when the mode changes.

Each ambience names a sound file or a folder whose files play in turn; PyAV decodes any format it knows to
44.1 kHz 16-bit stereo, and the mix goes to a player's stdin (`aplay` on the configured ALSA device unless the
config names another program). A mode change starts a crossfade: the old ambience's gain falls to 0 and the
new one's rises to 1 over `fade_s`; an ambience without a sound (`full silence`) only fades out, and the
player then gets silence, so the device stays open and the next ambience starts without a click.

The mixer runs in its own thread and paces itself to the clock (a little ahead of the player's buffer), so any
player that reads its stdin works, and `deliver` returns at once. A player that died is restarted on the next
event, which is retried until it can be.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from classroom_mode.config import SoundOutput
from classroom_mode.errors import UserError
from classroom_mode.outputs.delivery import Retry
from classroom_mode.outputs.events import Delivery
from classroom_mode.outputs.worker_thread import WorkerThread
from classroom_mode.records import ModeState

log = logging.getLogger(__name__)

RATE, CHANNELS = 44_100, 2
CHUNK = RATE // 20
"""Samples mixed and written at a time (50 ms)."""
AHEAD_S = 0.2
"""How far ahead of the clock the mixer may run: the player's buffer, bounded."""
AUDIO_SUFFIXES = {".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".webm", ".mka"}


def ambience_files(path: Path) -> list[Path]:
    """The sound files of one ambience: the file itself, or a folder's audio files in name order."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise UserError(f"{path}: a folder without sound files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return files


def check_playable(path: Path) -> None:
    """Refuse (at start, naming the file) what PyAV cannot open as audio."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UserError(f"{path}: has no audio stream")
    except (av.FFmpegError, OSError) as exc:
        raise UserError(f"{path}: not a sound file PyAV can play ({exc})") from None


def decode(path: Path) -> Iterator[np.ndarray]:
    """(n, 2) float32 blocks in [-1, 1] at RATE, decoded and resampled as they are needed."""
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1, CHANNELS).astype(np.float32) / 32768.0
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1, CHANNELS).astype(np.float32) / 32768.0


class Track:
    """One ambience's files played in turn, forever, `read` by the sample."""

    def __init__(self, name: str, files: list[Path]) -> None:
        self.name, self.files = name, files
        self._blocks = self._forever()
        self._pending = np.zeros((0, CHANNELS), np.float32)

    def _forever(self) -> Iterator[np.ndarray]:
        while True:
            produced = False
            for path in self.files:
                for block in decode(path):
                    produced = produced or len(block) > 0
                    yield block
            if not produced:  # every file decoded to nothing: silence rather than a busy loop
                yield np.zeros((CHUNK, CHANNELS), np.float32)

    def read(self, samples: int) -> np.ndarray:
        parts = [self._pending]
        have = len(self._pending)
        while have < samples:
            block = next(self._blocks)
            parts.append(block)
            have += len(block)
        joined = np.concatenate(parts)
        self._pending = joined[samples:]
        return joined[:samples]


class Mixer:
    """The crossfade between what plays and what comes next, `CHUNK` samples at a time."""

    def __init__(self, fade_s: float, volume: float) -> None:
        self.fade_samples = max(1, round(fade_s * RATE))
        self.volume = volume
        self.voices: list[tuple[Track, float, float]] = []
        """(track, gain now, gain it is heading to); a voice heading to 0 is dropped once silent."""
        self.lock = threading.Lock()

    def switch(self, track: Track | None) -> None:
        with self.lock:
            self.voices = [(t, gain, 0.0) for t, gain, _ in self.voices if gain > 0.0]
            if track is not None:
                self.voices.append((track, 0.0, 1.0))

    def next_chunk(self) -> np.ndarray:
        step = CHUNK / self.fade_samples
        out = np.zeros((CHUNK, CHANNELS), np.float32)
        ramp = np.linspace(0.0, 1.0, CHUNK, endpoint=False, dtype=np.float32)[:, None]
        with self.lock:
            kept = []
            for track, gain, goal in self.voices:
                end = min(goal, gain + step) if goal > gain else max(goal, gain - step)
                out += track.read(CHUNK) * (gain + (end - gain) * ramp)
                if end > 0.0 or goal > 0.0:
                    kept.append((track, end, goal))
            self.voices = kept
        return np.clip(out * self.volume, -1.0, 1.0)


class SoundSink:
    def __init__(self, settings: SoundOutput, room: str) -> None:
        self.settings, self.room = settings, room
        self.tracks = {name: Track(name, ambience_files(path)) for name, path in settings.ambiences.items()}
        self.mixer = Mixer(settings.fade_s, settings.volume)
        self.argv = settings.player or ["aplay", "-q", "-D", settings.device, "-t", "raw", "-f", "S16_LE",
                                        "-r", str(RATE), "-c", str(CHANNELS)]  # fmt: skip
        self._player: subprocess.Popen[bytes] | None = None
        self._pump = WorkerThread(self._play, "output-sound")
        self.playing: str | None = None
        """The ambience the mix is heading to (None: silence)."""
        self.failure: str | None = None

    def open(self) -> None:
        self._start_player()

    def _start_player(self) -> None:
        try:
            self._player = subprocess.Popen(
                # its stderr is not read (aplay warns on every underrun: a full pipe would stall it)
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            self.failure = f"cannot start {self.argv[0]}: {exc.strerror or exc}"
            return
        self.failure = None
        self._pump.start()

    def _play(self) -> None:
        player = self._player
        assert player is not None and player.stdin is not None
        started, written = time.monotonic(), 0
        while not self._pump.stopping.is_set():
            ahead = written / RATE - (time.monotonic() - started)
            if ahead > AHEAD_S:
                self._pump.stopping.wait(ahead - AHEAD_S)
                continue
            pcm = (self.mixer.next_chunk() * 32767.0).astype("<i2").tobytes()
            try:
                player.stdin.write(pcm)
            except (BrokenPipeError, ValueError, OSError):
                code = player.wait()
                self.failure = f"the player {self.argv[0]} stopped (exit {code})"
                log.warning("output sound: %s", self.failure)
                return
            written += CHUNK

    def deliver(self, delivery: Delivery) -> str | None:
        record = delivery.record
        if not isinstance(record, ModeState) or record.room != self.room:
            return None
        if self.failure is not None or not self._pump.running:
            self.close()
            self._start_player()
            if self.failure is not None:
                raise Retry(self.failure)
        if record.watch != "watching":  # nobody is watching the room (off hours, paused): it plays nothing
            self.mixer.switch(None)
            self.playing = None
            return f"faded out (the room is {record.watch})"
        track = self.tracks.get(record.ambience)
        self.mixer.switch(track)
        self.playing = track.name if track else None
        return f"playing {record.ambience}" if track else f"faded out ({record.ambience!r} has no sound)"

    def close(self) -> None:
        self._pump.stop(timeout_s=5)
        if self._player is not None:
            if self._player.stdin is not None:
                with contextlib.suppress(OSError):  # a player that died has closed its end already
                    self._player.stdin.close()
            try:
                self._player.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._player.kill()
                self._player.wait()
            self._player = None
