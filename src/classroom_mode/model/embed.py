"""Embed many clip files: cache first, decoding in a background thread, batches sized by free memory.

The encoder is the expensive part, so everything else is arranged around it: a clip's file hash is
its cache key (a hit skips decoding too), and decoding + preprocessing of the next clips runs in a
thread while the encoder works on the current batch (PyAV and torch release the GIL), so the encoder
never waits on I/O. An unreadable clip is skipped with its reason and never cached.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import psutil
import torch

from classroom_mode.errors import UserError
from classroom_mode.model.backbone import Backbone
from classroom_mode.model.cache import EmbeddingCache, embedding_key, file_hash
from classroom_mode.records import Embedding, Skipped
from classroom_mode.video.decode import check_clip_file, sample_clip

ACTIVATION_FACTOR = 16
"""Peak activation memory of one clip ≈ this × tokens × width × 4 bytes (residual, q/k/v, MLP hidden, norms)."""
MAX_BATCH = {"cpu": 8, "mps": 16, "cuda": 64}
"""CPU throughput is flat beyond a few clips; larger batches would only delay progress updates."""


@dataclass
class EmbeddedClips:
    """What `embed_paths` gives back: each clip's embedding, the clips it skipped and why, and how many came from the
    cache and how many from the encoder."""

    embeddings: dict[Path, Embedding] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    """(file, reason) for each clip that could not be embedded; these are never cached."""
    cached: int = 0
    encoded: int = 0


def auto_batch_size(backbone: Backbone, memory_fraction: float = 0.25) -> int:
    """Clips per encoder call that fit in `memory_fraction` of the free memory of the backbone's device."""
    time, rows, cols = backbone.grid
    per_clip = ACTIVATION_FACTOR * time * rows * cols * backbone.hidden_size * 4
    if backbone.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(backbone.device)
    else:
        free = psutil.virtual_memory().available
    return max(1, min(MAX_BATCH.get(backbone.device.type, 8), int(free * memory_fraction // per_clip)))


@dataclass
class _Decoded:
    path: Path
    key: str
    pixels: torch.Tensor | None = None
    error: str | None = None


def _decode_worker(items: list[tuple[Path, str]], backbone: Backbone, out: queue.Queue, stop: threading.Event) -> None:
    """Decode + preprocess each clip in order; put a `_Decoded` per clip, then None. Bugs travel as exceptions."""
    try:
        for path, key in items:
            if stop.is_set():
                return
            try:
                clip = sample_clip(path, backbone.frames_per_clip)
                out.put(_Decoded(path, key, pixels=backbone.preprocess_frames(clip.frames)))
            except (UserError, ValueError, OSError) as exc:
                out.put(_Decoded(path, key, error=str(exc).removeprefix(f"{path}: ")))
        out.put(None)
    except BaseException as exc:  # a bug, not a bad clip: hand it to the caller instead of dying silently
        out.put(exc)


def embed_paths(
    paths: Iterable[Path | str],
    backbone: Backbone,
    cache: EmbeddingCache | None = None,
    *,
    exact_tokens: bool = False,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> EmbeddedClips:
    """Embeddings of clip files (cached ones read back, the rest encoded and cached); `progress(n)` per n done."""
    run = _EmbedRun(backbone, cache, exact_tokens, progress or (lambda _n: None))
    todo = run.uncached(run.keyed(paths))
    if todo:
        run.encode(todo, batch_size or auto_batch_size(backbone))
    return run.result


@dataclass
class _EmbedRun:
    """One `embed_paths` call: its settings, what it has found so far, and the progress it reports."""

    backbone: Backbone
    cache: EmbeddingCache | None
    exact_tokens: bool
    advance: Callable[[int], None]
    result: EmbeddedClips = field(default_factory=EmbeddedClips)

    def skip(self, path: Path, reason: str) -> None:
        self.result.skipped.append(Skipped(path=str(path), reason=reason))
        self.advance(1)

    def keyed(self, paths: Iterable[Path | str]) -> list[tuple[Path, str]]:
        """Each readable clip with its cache key; a file that cannot be hashed is skipped here, before any decoding."""
        todo: list[tuple[Path, str]] = []
        for raw in paths:
            path = Path(raw)
            try:
                check_clip_file(path)  # a pipe or a device would be hashed forever
                todo.append((path, embedding_key(file_hash(path), self.backbone, exact_tokens=self.exact_tokens)))
            except UserError as exc:
                self.skip(path, str(exc).removeprefix(f"{path}: "))
            except OSError as exc:
                self.skip(path, f"cannot read ({exc.strerror or exc})")
        return todo

    def uncached(self, todo: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
        """The clips the cache does not hold; those it holds are read back in one query."""
        if self.cache is None or not todo:
            return todo
        hits = self.cache.get_many([key for _, key in todo])
        for path, key in todo:
            if key in hits:
                self.result.embeddings[path] = hits[key]
        self.result.cached = len(self.result.embeddings)
        self.advance(self.result.cached)
        return [(path, key) for path, key in todo if key not in hits]

    def encode(self, todo: list[tuple[Path, str]], size: int) -> None:
        """Encode in batches of `size` while a worker thread decodes the next clips; the worker is stopped and
        joined however this ends, so no thread outlives the call."""
        decoded: queue.Queue = queue.Queue(maxsize=2 * size)
        stop = threading.Event()
        worker = threading.Thread(target=_decode_worker, args=(todo, self.backbone, decoded, stop), daemon=True)
        worker.start()
        try:
            done = False
            while not done:
                batch, done = self._next_batch(decoded, size)
                if batch:
                    self._encode_batch(batch)
                    self.advance(len(batch))
        finally:
            stop.set()
            while worker.is_alive():  # unblock a worker waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    decoded.get(timeout=0.1)
            worker.join()

    def _next_batch(self, decoded: queue.Queue, size: int) -> tuple[list[_Decoded], bool]:
        """Up to `size` decoded clips, skipping those that failed to decode; True once the worker has finished."""
        batch: list[_Decoded] = []
        while len(batch) < size:
            item = decoded.get()
            if item is None:
                return batch, True
            if isinstance(item, BaseException):
                raise item
            if item.error is not None:
                self.skip(item.path, item.error)
            else:
                batch.append(item)
        return batch, False

    def _encode_batch(self, batch: list[_Decoded]) -> None:
        # a batch holds only items decoded without an error, which carry their pixels
        features = self.backbone.encode(torch.stack([cast(torch.Tensor, item.pixels) for item in batch])).cpu()
        embeddings = [
            self.backbone.embedding_from_features(f, item.key, exact_tokens=self.exact_tokens)
            for f, item in zip(features, batch, strict=True)
        ]
        if self.cache is not None:
            self.cache.put_many(embeddings)
        for item, embedding in zip(batch, embeddings, strict=True):
            self.result.embeddings[item.path] = embedding
        self.result.encoded += len(batch)
