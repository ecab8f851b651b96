"""`embed_paths` and the `embed` / `models` verbs, on real MP4 files and the tiny config."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest

from classroom_mode.model.backbone import Backbone, load_backbone
from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.embed import auto_batch_size, embed_paths
from model_helpers import write_clip


@pytest.fixture
def data_dir(tmp_path):
    data = tmp_path / "data"
    write_clip(data / "group" / "g1.mp4", seed=1)
    write_clip(data / "group" / "g2.mp4", seed=2)
    write_clip(data / "solo" / "s1.mp4", seed=3)
    (data / "solo" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    return data


def _no_encoder(*_args, **_kwargs):
    raise AssertionError("the encoder ran on a cached clip")


def test_second_run_reads_the_cache_and_bad_clips_are_skipped_never_cached(data_dir, tmp_path, monkeypatch):
    paths = sorted(data_dir.rglob("*.mp4"))
    backbone = load_backbone("config:tiny", device="cpu")
    with EmbeddingCache(tmp_path / "cache") as cache:
        done: list[int] = []
        first = embed_paths(paths, backbone, cache, batch_size=2, progress=done.append)
        assert (first.cached, first.encoded, sum(done)) == (0, 3, 4)
        assert [Path(s.path).name for s in first.skipped] == ["broken.mp4"]
        assert "broken.mp4" not in first.skipped[0].reason
        monkeypatch.setattr(Backbone, "encode", _no_encoder)
        second = embed_paths(paths, backbone, cache)
        assert (second.cached, second.encoded, len(second.skipped)) == (3, 0, 1)
        assert cache.stats().entries == 3
    for path, embedding in first.embeddings.items():
        assert (second.embeddings[path].pooled == embedding.pooled).all()


def test_batch_size_follows_free_memory():
    backbone = load_backbone("config:tiny", device="cpu")
    assert 1 <= auto_batch_size(backbone) <= 8
    assert auto_batch_size(backbone, memory_fraction=1e-12) == 1


def _config(tmp_path):
    config = tmp_path / "classroom-mode.yaml"
    config.write_text(f"paths:\n  cache: {tmp_path / 'cli-cache'}\n")
    return config


def test_embed_cli_second_run_does_no_encoder_work(cli, data_dir, tmp_path, monkeypatch):
    config = _config(tmp_path)
    first = cli("embed", data_dir, "--model", "config:tiny", "--config", config)
    assert first.exit_code == 0, first.stderr
    assert "0 cached, 3 encoded, 1 skipped" in first.stderr and "RANDOM" in first.stderr
    assert "broken.mp4" in first.stderr  # the skipped list, with its path whole, beside the other diagnostics
    monkeypatch.setattr(Backbone, "encode", _no_encoder)
    second = cli("embed", data_dir, "--model", "config:tiny", "--config", config, "--json")
    assert second.exit_code == 0, second.stderr
    summary = json.loads(second.stdout)
    assert (summary["cached"], summary["encoded"], summary["random_weights"]) == (3, 0, True)
    assert summary["skipped"][0]["path"].endswith("broken.mp4")


def test_embed_folder_shows_its_run_to_a_watcher_and_checks_a_faster_encoder_against_fp32(data_dir, tmp_path):
    from classroom_mode.config import parse_config
    from classroom_mode.model.embed_folder import EmbedOptions, embed_folder

    write_clip(data_dir / "group" / "nested" / "n.mp4", seed=4)  # a clip the layout leaves out
    shown: list[tuple[str, object]] = []

    class Watcher:
        def started(self, ranks):
            shown.append(("started", ranks.world_size))

        def loaded(self, backbone):
            shown.append(("loaded", backbone.numerics))

        @contextmanager
        def embedding(self, clips):
            shown.append(("embedding", clips))
            yield lambda n: shown.append(("done", n))

    config = parse_config(f"paths: {{cache: {tmp_path / 'folder-cache'}}}")
    found = embed_folder(data_dir, config, EmbedOptions(model="config:tiny", quantize="int8"), Watcher())
    assert shown[:3] == [("started", 1), ("loaded", "int8-dynamic"), ("embedding", 4)]
    assert {what for what, _ in shown[3:]} == {"done"} and sum(n for _, n in shown[3:]) == 4
    assert (found.cached, found.encoded, found.skipped_on_all_ranks) == (0, 3, 2)
    assert [Path(s.path).name for s in found.skipped] == ["n.mp4", "broken.mp4"]  # the left-out file first
    assert found.fidelity_clip is not None and found.fidelity_clip.parent.parent == data_dir
    assert found.fidelity is not None and 0.9 < found.fidelity <= 1.0 + 1e-6


def test_embed_cli_bad_model_is_one_line_exit_2(cli, data_dir, tmp_path):
    result = cli("embed", data_dir, "--model", str(tmp_path / "nowhere"), "--config", _config(tmp_path))
    assert result.exit_code == 2 and "no such directory" in result.stderr and "Traceback" not in result.stderr


def test_models_list_and_offline_pull(cli, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    listed = cli("models", "list", "--json")
    assert listed.exit_code == 0
    ids = {e["id"]: e for e in json.loads(listed.stdout)}
    assert ids["config:tiny"]["available"] and "RANDOM" in ids["config:tiny"]["note"]
    assert "classroom-mode/vjepa2-tiny-sim" in ids
    pulled = cli("models", "pull", "facebook/vjepa2-vitl-fpc64-256")
    assert pulled.exit_code == 1 and "download failed" in pulled.stderr
    assert len(pulled.stderr.strip().splitlines()) == 1
