"""The embedding cache: round trips, hits and misses, and never a stale entry for another model or preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from classroom_mode.model.backbone import load_backbone
from classroom_mode.model.cache import EmbeddingCache, embedding_key, frames_hash
from classroom_mode.records import Clip
from model_helpers import moving_frames, save_tiny


@pytest.fixture(scope="module")
def clip() -> Clip:
    frames = moving_frames()
    return Clip(frames=frames, timestamps=np.arange(len(frames)) / 8.0)


def test_round_trip_is_exact_and_survives_reopening(tmp_path, clip):
    backbone = load_backbone("config:tiny", device="cpu")
    averaged, exact = backbone.embed([clip])[0], backbone.embed([clip], exact_tokens=True)[0]
    with EmbeddingCache(tmp_path) as cache:
        assert cache.get(averaged.key) is None
        cache.put_many([averaged, exact])
    with EmbeddingCache(tmp_path) as cache:
        for original in (averaged, exact):
            back = cache.get(original.key)
            assert np.array_equal(back.pooled, original.pooled) and np.array_equal(back.tokens, original.tokens)
            assert back.tokens.dtype == np.float16 and back.grid == original.grid and back.meta == original.meta
        stats = cache.stats()
    assert stats.entries == 2 and stats.shards == 1 and stats.models == {"config:tiny": 2} and stats.bytes > 0


def test_other_model_preprocessing_numerics_or_layout_never_hit(tmp_path, clip):
    save_tiny(tmp_path / "a", seed=1)
    save_tiny(tmp_path / "b", seed=2)  # other weights
    save_tiny(tmp_path / "c", seed=1, crop_size=96)  # same weights, other preprocessing (crop size)
    stored = load_backbone(str(tmp_path / "a"), device="cpu")
    content = frames_hash(clip.frames)
    with EmbeddingCache(tmp_path / "cache") as cache:
        cache.put_many(stored.embed([clip]))
        assert cache.get(embedding_key(content, stored, exact_tokens=False)) is not None
        others = [
            embedding_key(content, load_backbone(str(tmp_path / "b"), device="cpu"), exact_tokens=False),
            embedding_key(content, load_backbone(str(tmp_path / "c"), device="cpu"), exact_tokens=False),
            embedding_key(
                content, load_backbone(str(tmp_path / "a"), device="cpu", quantize="int8"), exact_tokens=False
            ),
            embedding_key(content, stored, exact_tokens=True),
            embedding_key(frames_hash(clip.frames[::-1].copy()), stored, exact_tokens=False),  # other content
        ]
        assert len(set(others)) == len(others)
        assert cache.get_many(others) == {}


def test_a_lost_or_damaged_shard_is_a_miss_not_a_crash(tmp_path, clip):
    backbone = load_backbone("config:tiny", device="cpu")
    with EmbeddingCache(tmp_path) as cache:
        first = backbone.embed([clip])[0]
        cache.put(first)
        (shard,) = (tmp_path / "shards").glob("*.safetensors")
        shard.write_bytes(b"garbage")
        assert cache.get(first.key) is None
        cache.put(first)  # re-embedding repairs the entry
        assert cache.get(first.key) is not None
