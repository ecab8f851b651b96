"""The embedding cache: safetensors shards for the arrays, a SQLite index for the lookups. No pickle.

Key = SHA-256 of (the clip's content hash, the backbone fingerprint, the backbone's numerics, the
token layout). The fingerprint covers model id, revision, weights identity and every preprocessing
parameter, so a different model or preprocessing can never hit an old entry: it simply misses.

Each `put_many` writes ONE shard (all the batch's tensors in one file, written to a temporary name,
fsynced, renamed) and then indexes its entries in one transaction; a crash between the two leaves an
unindexed shard, never an index row pointing at a half-written file.

What is stored, per clip: `pooled` (D,) float32, and `tokens` float16: time-averaged (rows·cols, D)
by default (256 × 1024 × 2 B = 512 KiB for ViT-L at 256 px, so 200 clips ≈ 100 MB), or the exact
(T'·rows·cols, D) grid when asked for (4 MiB per ViT-L clip).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as save_safetensors

from classroom_mode.files import write_bytes
from classroom_mode.records import Embedding

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    key TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    shard TEXT NOT NULL,
    grid TEXT,
    meta TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_by_fingerprint ON embeddings (fingerprint);
"""


def frames_hash(frames: np.ndarray) -> str:
    """Content hash of decoded frames (shape included), for clips that never were a file (a live camera)."""
    digest = hashlib.sha256(repr((frames.shape, str(frames.dtype))).encode())
    digest.update(np.ascontiguousarray(frames).data)
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """Content hash of a clip file: cheap next to decoding, and it lets a cache hit skip decoding altogether."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class EncoderIdentity(Protocol):
    """What an embedding's cache key needs of the backbone that made it."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def numerics(self) -> str: ...


def embedding_key(content_hash: str, backbone: EncoderIdentity, *, exact_tokens: bool) -> str:
    """The cache key of one clip's embedding under one backbone, its numerics and a token layout."""
    layout = "exact" if exact_tokens else "time-averaged"
    parts = (content_hash, backbone.fingerprint, backbone.numerics, layout)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    entries: int
    shards: int
    bytes: int
    models: dict[str, int]
    """model id → number of entries."""


class EmbeddingCache:
    """Embeddings by key, on disk under `directory` (`index.sqlite` + `shards/*.safetensors`). Thread-safe."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.shard_dir = self.directory / "shards"
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.directory / "index.sqlite", timeout=30.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, key: str) -> Embedding | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, Embedding]:
        """The cached embeddings among `keys`; a key whose shard is gone or unreadable counts as a miss."""
        with self._lock:
            rows = []
            for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += self._db.execute(
                    f"SELECT key, model_id, shard, grid, meta FROM embeddings WHERE key IN ({marks})", chunk
                ).fetchall()
        found: dict[str, Embedding] = {}
        by_shard: dict[str, list[tuple]] = {}
        for row in rows:
            by_shard.setdefault(row[2], []).append(row)
        for shard, shard_rows in by_shard.items():
            try:
                with safe_open(self.shard_dir / shard, framework="numpy") as handle:
                    for key, model_id, _, grid, meta in shard_rows:
                        tokens_name = f"{key}.tokens"
                        found[key] = Embedding(
                            key=key,
                            model_id=model_id,
                            pooled=handle.get_tensor(f"{key}.pooled"),
                            tokens=handle.get_tensor(tokens_name) if tokens_name in handle.keys() else None,  # noqa: SIM118
                            grid=tuple(json.loads(grid)) if grid else None,
                            meta=json.loads(meta),
                        )
            except (SafetensorError, OSError) as exc:
                log.warning("embedding cache: shard %s unreadable (%s); treating its entries as misses", shard, exc)
        return found

    def put(self, embedding: Embedding) -> None:
        self.put_many([embedding])

    def put_many(self, embeddings: list[Embedding]) -> None:
        """Store a batch as one shard, then index it. Re-putting a key replaces its entry."""
        if not embeddings:
            return
        tensors: dict[str, np.ndarray] = {}
        for e in embeddings:
            tensors[f"{e.key}.pooled"] = np.ascontiguousarray(e.pooled)
            if e.tokens is not None:
                tensors[f"{e.key}.tokens"] = np.ascontiguousarray(e.tokens)
        shard = f"{uuid.uuid4().hex}.safetensors"
        write_bytes(self.shard_dir / shard, save_safetensors(tensors))
        now = time.time()
        rows = [
            (e.key, e.model_id, e.meta.get("fingerprint", ""), shard, json.dumps(e.grid) if e.grid else None,
             json.dumps(e.meta), now)
            for e in embeddings
        ]  # fmt: skip
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def stats(self) -> CacheStats:
        with self._lock:
            entries = self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
            models = dict(self._db.execute("SELECT model_id, COUNT(*) FROM embeddings GROUP BY model_id").fetchall())
        shards = list(self.shard_dir.glob("*.safetensors"))
        return CacheStats(
            entries=entries, shards=len(shards), bytes=sum(s.stat().st_size for s in shards), models=models
        )
