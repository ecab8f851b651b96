"""`pretrain` and `embed` under torchrun: 2 ranks on the CPU (gloo), against the same work on one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.jepa.pretrain import TRAINING_FILE
from classroom_mode.model.jepa.summary import read_training_summary
from jepa_helpers import tiny_model, write_clips

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _run(world: int, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`classroom-mode ARGS` on `world` ranks started by torchrun (1: a plain process, as a user would)."""
    command = [str(BIN / "classroom-mode"), *args]
    if world > 1:
        command = [str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={world}", "--no-python", *command]
    environment = os.environ | {"OMP_NUM_THREADS": "1"} | (env or {})
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> tuple[Path, Path]:
    """Eight short clips and a tiny model saved as `save_pretrained`, to adapt with --init."""
    root = tmp_path_factory.mktemp("dist")
    write_clips(root / "data", 8, frames=8, size=80)
    tiny_model().save_pretrained(root / "tiny")
    return root / "data", root / "tiny"


def _pretrain(world: int, footage, out: Path, *extra: str) -> subprocess.CompletedProcess:
    data, init = footage
    result = _run(
        world, "pretrain", "--data", str(data), "--out", str(out), "--init", str(init),
        "--set", "warmup_steps=0", "--set", "checkpoint_every=1", "--device", "cpu", *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model" / "model.safetensors"))


def _assert_same_weights(a: Path, b: Path) -> None:
    first, second = _weights(a), _weights(b)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], atol=2e-6, rtol=1e-4, msg=name)


def test_two_ranks_of_two_clips_take_the_step_one_rank_of_four_takes(footage, tmp_path: Path):
    _pretrain(2, footage, tmp_path / "two", "--steps", "1", "--set", "batch_size=2")
    _pretrain(1, footage, tmp_path / "one", "--steps", "1", "--set", "batch_size=4")
    _assert_same_weights(tmp_path / "two", tmp_path / "one")
    summary = read_training_summary(tmp_path / "two" / TRAINING_FILE)
    assert summary.world_size == 2 and summary.effective_batch == 4
    start = tiny_model().state_dict()
    assert any(not torch.equal(start[k], v) for k, v in _weights(tmp_path / "two").items() if k in start)


def test_a_checkpoint_of_two_ranks_resumes_on_one_to_the_same_next_step(footage, tmp_path: Path):
    both = tmp_path / "both"
    _pretrain(2, footage, both, "--steps", "2", "--set", "batch_size=2")
    resumed = tmp_path / "resumed"
    shutil.copytree(both, resumed)
    shutil.rmtree(resumed / "model")
    shutil.rmtree(resumed / "checkpoints" / "step-000002")
    (resumed / "checkpoints" / "latest.json").write_text(json.dumps({"step": 1, "directory": "step-000001"}))
    # one rank, the same per-rank batch, two micro-batches: the same four clips a step
    result = _pretrain(
        1, footage, resumed, "--steps", "2", "--set", "batch_size=2", "--set", "accumulation=2", "--resume"
    )
    assert "resuming at step 1" in result.stderr
    _assert_same_weights(both, resumed)
    refused = _run(1, "pretrain", "--data", str(footage[0]), "--out", str(resumed), "--init", str(footage[1]),
                   "--steps", "3", "--set", "batch_size=4", "--set", "warmup_steps=0", "--resume",
                   "--device", "cpu")  # fmt: skip
    assert refused.returncode == 2 and "batch_size: 2 → 4" in refused.stderr


def test_embedding_on_two_ranks_fills_the_cache_as_one_does(footage, tmp_path: Path):
    data = tmp_path / "clips"
    shutil.copytree(footage[0], data / "unlabeled")
    caches = {}
    for world in (2, 1):
        config = tmp_path / f"c{world}.yaml"
        config.write_text(f"paths: {{cache: {tmp_path / f'cache{world}'}}}\n")
        result = _run(world, "embed", str(data), "--model", "config:tiny", "-c", str(config), "--json")
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads(result.stdout)
        assert summary["encoded"] == 8 and summary["ranks"] == world
        with EmbeddingCache(tmp_path / f"cache{world}") as cache:
            assert cache.stats().entries == 8  # no row twice
            caches[world] = cache
    again = _run(2, "embed", str(data), "--model", "config:tiny", "-c", str(tmp_path / "c2.yaml"), "--json")
    assert json.loads(again.stdout)["cached"] == 8 and json.loads(again.stdout)["encoded"] == 0
    from classroom_mode.model.backbone import load_backbone
    from classroom_mode.model.embed import embed_paths

    backbone = load_backbone("config:tiny", device="cpu")
    paths = sorted((data / "unlabeled").glob("*.mp4"))
    with EmbeddingCache(tmp_path / "cache2") as two, EmbeddingCache(tmp_path / "cache1") as one:
        from_two = embed_paths(paths, backbone, two).embeddings
        from_one = embed_paths(paths, backbone, one).embeddings
    for path in paths:
        np.testing.assert_allclose(from_two[path].pooled, from_one[path].pooled, atol=1e-6)


def test_a_gpu_that_does_not_exist_is_one_line_per_rank(footage, tmp_path: Path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    data, init = footage
    result = _run(2, "pretrain", "--data", str(data), "--out", str(tmp_path / "x"), "--init", str(init),
                  "--steps", "1", "--device", "cuda")  # fmt: skip
    assert result.returncode != 0
    # torchrun stops the other ranks as soon as one exits, so a rank still importing when the first one fails
    # never reaches the check: each rank that does says one line, and at least one does
    assert 1 <= result.stderr.count("error: device: cuda requested but no CUDA device is available") <= 2
    assert "classroom_mode/" not in result.stderr  # no traceback of ours (torchrun prints its own summary)


def test_a_rank_that_dies_stops_the_job_and_its_last_checkpoint_resumes(footage, tmp_path: Path):
    import psutil

    data, init = footage
    out = tmp_path / "killed"
    command = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node=2", "--no-python", str(BIN / "classroom-mode"),
               "pretrain", "--data", str(data), "--out", str(out), "--init", str(init), "--steps", "500",
               "--set", "batch_size=2", "--set", "warmup_steps=0", "--set", "checkpoint_every=1",
               "--device", "cpu"]  # fmt: skip
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=os.environ | {"OMP_NUM_THREADS": "1"})  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "latest.json").exists():
        assert time.monotonic() < deadline and job.poll() is None, "the job never wrote a checkpoint"
        time.sleep(0.2)
    workers = [p for p in psutil.Process(job.pid).children(recursive=True) if p.environ().get("RANK") == "1"]
    assert workers, "no rank 1 under torchrun"
    workers[0].kill()  # SIGKILL: no chance to say goodbye
    _, stderr = job.communicate(timeout=120)
    assert job.returncode != 0
    assert "classroom_mode/" not in stderr  # the survivor says one line (or torchrun stops it first)
    step = json.loads((out / "checkpoints" / "latest.json").read_text())["step"]
    resumed = _pretrain(1, footage, out, "--steps", str(step + 1), "--set", "batch_size=2", "--resume", "--force")
    assert f"resuming at step {step}" in resumed.stderr
