"""The simulator's clips and datasets: determinism, the manifest, what each mode's people do, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from classroom_mode.errors import UserError
from classroom_mode.sim import MODES, contact_sheet, generate_dataset, load_manifest, render_clip
from classroom_mode.sim.baselines import (
    difficulty_report,
    mean_frame_features,
    person_count_features,
    person_mask_tokens,
)
from classroom_mode.sim.manifest import ClipTruth
from classroom_mode.sim.room import FRONT_ZONE, random_room
from classroom_mode.sim.scene import CROWD, GroupDirector, PresentationDirector

SMALL = {"seconds": 1.0, "fps": 8.0, "size": (64, 48)}


def test_same_seed_same_frames_and_truth():
    a, truth_a = render_clip("group", 7, **SMALL)
    b, truth_b = render_clip("group", 7, **SMALL)
    c, _ = render_clip("group", 8, **SMALL)
    assert a.shape == (8, 48, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert truth_a == truth_b
    assert not np.array_equal(a, c)


def test_frames_move_but_the_room_stays():
    frames, _ = render_clip("solo", 3, seconds=2.0, fps=8.0, size=(96, 96))
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert diffs.max() < 20, "consecutive frames should differ by motion and noise, not by a new scene"
    assert np.abs(frames[-1].astype(np.int16) - frames[0]).max() > 60, "the person should have moved"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sim")
    generate_dataset(root, 2, seconds=0.5, fps=8.0, size=(64, 64), seed=3, workers=2)
    return root


def test_manifest_schema_and_files(dataset: Path):
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["modes"] == list(MODES) and manifest["skipped"] == []
    assert [c["mode"] for c in manifest["clips"]] == [m for m in MODES for _ in range(2)]
    for clip in manifest["clips"]:
        path = dataset / clip["path"]
        assert path.parent.name == clip["mode"] and path.exists()
        with av.open(str(path)) as container:
            assert sum(1 for _ in container.decode(video=0)) == clip["frames"] == 4
        assert {"seed", "camera", "lighting", "room", "num_people", "people", "size", "fps"} <= clip.keys()
        assert set(clip["camera"]) >= {"position", "forward", "hfov_deg", "pitch_deg"}
        assert len(clip["people"]) == clip["num_people"]
        for person in clip["people"]:
            assert all(len(person[k]) == clip["frames"] for k in ("x", "z", "heading", "sit"))
        _, truth = render_clip(clip["mode"], clip["seed"], seconds=0.5, fps=8.0, size=(64, 64))
        assert {k: v for k, v in clip.items() if k not in ("path", "index")} == truth
    assert not list(dataset.rglob(".*.partial"))


def test_counts_per_mode(dataset: Path):
    counts = {c.mode: c.num_people for c in load_manifest(dataset).clips}
    assert counts["empty"] == 0 and counts["solo"] == 1
    assert CROWD[0] <= counts["group"] <= CROWD[1] and CROWD[0] <= counts["presentation"] <= CROWD[1]


def test_group_and_presentation_counts_overlap():
    """Counting bodies must not separate the two: both draw their head count from the same range."""
    group, talk = set(), set()
    for seed in range(40):
        room = random_room(np.random.default_rng(seed))
        group.add(len(GroupDirector(room, np.random.default_rng(seed)).roles()))
        talk.add(len(PresentationDirector(room, np.random.default_rng(seed + 1000)).roles()))
    assert len(group & talk) >= 8
    assert min(group | talk) >= CROWD[0] and max(group | talk) <= CROWD[1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_presentation_presenter_front_audience_seated_still(seed):
    _, truth = render_clip("presentation", seed, seconds=2.0, fps=8.0, size=(48, 48))
    presenter = [p for p in truth["people"] if p["role"] == "presenter"]
    audience = [p for p in truth["people"] if p["role"] == "audience"]
    assert len(presenter) == 1 and len(audience) == truth["num_people"] - 1
    assert max(presenter[0]["z"]) < FRONT_ZONE and max(presenter[0]["sit"]) == 0
    for person in audience:
        assert min(person["sit"]) == 1.0
        assert min(person["z"]) > max(presenter[0]["z"])
        assert np.ptp(person["x"]) < 0.01 and np.ptp(person["z"]) < 0.01, "the audience stays put"
        facing = np.mean([math.cos(h) for h in person["heading"]])
        assert facing < -0.2, "the audience faces the front (-z)"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_group_clusters_face_each_other(seed):
    _, truth = render_clip("group", seed, seconds=1.0, fps=8.0, size=(48, 48))
    groups: dict[int, list[dict]] = {}
    for person in truth["people"]:
        groups.setdefault(person["group"], []).append(person)
    assert 2 <= len(groups) <= 4
    centres = {}
    for g, members in groups.items():
        assert 2 <= len(members) <= 5
        xs, zs = np.array([m["x"][0] for m in members]), np.array([m["z"][0] for m in members])
        cx, cz = xs.mean(), zs.mean()
        centres[g] = (cx, cz)
        assert np.hypot(xs - cx, zs - cz).max() < 1.6, "a cluster is a few people close together"
        facing_in = [
            math.sin(m["heading"][0]) * (cx - x) + math.cos(m["heading"][0]) * (cz - z)
            for m, x, z in zip(members, xs, zs, strict=True)
        ]
        assert np.mean(np.array(facing_in) > 0) >= 0.75, "members face the cluster's centre"
    pts = list(centres.values())
    gaps = [np.hypot(a[0] - b[0], a[1] - b[1]) for i, a in enumerate(pts) for b in pts[i + 1 :]]
    assert min(gaps) > 1.0, "clusters stand apart"


def test_solo_moves_around():
    moved = []
    for seed in range(3):
        _, truth = render_clip("solo", seed, seconds=3.0, fps=8.0, size=(48, 48))
        (person,) = truth["people"]
        moved.append(np.hypot(np.ptp(person["x"]), np.ptp(person["z"])))
    assert max(moved) > 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clips_per_mode": 0}, "clips-per-mode"),
        ({"size": (16, 64)}, "size"),
        ({"fps": 0}, "fps"),
        ({"seconds": 0.01}, "seconds"),
        ({"modes": ["group", "party"]}, "party"),
    ],
)
def test_bad_dataset_arguments(tmp_path, kwargs, message):
    args = {"clips_per_mode": 1, "seconds": 0.5, "fps": 8.0, "size": (64, 64), **kwargs}
    with pytest.raises(UserError, match=message):
        generate_dataset(tmp_path / "out", args.pop("clips_per_mode"), **args)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_interrupted_generation_leaves_the_old_manifest(tmp_path):
    generate_dataset(tmp_path, 1, seconds=0.25, fps=8.0, size=(32, 32), modes=["solo"], workers=1)
    before = (tmp_path / "manifest.json").read_bytes()

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path, 3, seconds=0.25, fps=8.0, size=(32, 32), modes=["empty"], workers=1,
                         progress=interrupt)  # fmt: skip
    assert (tmp_path / "manifest.json").read_bytes() == before


def test_killed_midway_never_leaves_a_manifest(tmp_path):
    """SIGKILL the real command while it renders: no manifest, and no half-written one under its name."""
    out = tmp_path / "ds"
    command = [sys.executable, "-m", "classroom_mode", "-q", "simulate", "--out", str(out), "-n", "40",
               "--seconds", "1", "--fps", "8", "--size", "64x64", "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not list(out.rglob("*.mp4")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(out.rglob("*.mp4")), "the command never started writing clips"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (out / "manifest.json").exists()


def test_contact_sheet(tmp_path):
    from PIL import Image

    path = contact_sheet(tmp_path / "sheet.png", clips_per_mode=2, modes=["solo", "group"], seconds=0.25,
                         size=(48, 32))  # fmt: skip
    with Image.open(path) as image:
        assert image.width > 2 * 3 * 48 and image.height > 2 * 32


def test_baselines_leave_group_vs_presentation_open():
    entries, means = [], []
    for mode in MODES:
        for seed in range(8):
            frames, truth = render_clip(mode, 100 + seed, seconds=0.25, fps=8.0, size=(32, 32))
            entries.append(ClipTruth.model_validate(truth))
            means.append(mean_frame_features(frames, size=8))
    assert person_count_features(entries).shape == (32, 1)
    report = difficulty_report(entries, np.stack(means), folds=4)
    assert report["person_count"]["group_vs_presentation"] < 0.8
    assert 0.0 <= report["mean_frame_logreg"]["all_modes"] <= 1.0
    assert report["person_count"]["all_modes"] >= 0.5, "empty and solo are trivially counted"


def test_person_mask_tokens_say_where_people_are_one_token_per_cell():
    nobody = np.zeros((6, 32, 32), dtype=bool)
    someone = nobody.copy()
    someone[:, 8:16, 0:8] = True  # a person filling cell (1, 0) in every frame
    empty_tokens, person_tokens = person_mask_tokens(nobody, cell=8), person_mask_tokens(someone, cell=8)
    assert empty_tokens.shape == (16, 64) and (empty_tokens >= 0).all()
    changed = np.abs(person_tokens - empty_tokens).sum(axis=1) > 0
    assert changed.tolist() == [i == 4 for i in range(16)]  # row 1, column 0 of the 4 × 4 grid, nothing else
    np.testing.assert_array_equal(person_mask_tokens(someone, cell=8), person_tokens)  # a fixed lift
    with pytest.raises(ValueError, match="does not divide"):
        person_mask_tokens(nobody, cell=5)


def test_room_changes_happen_in_every_mode_and_are_recorded():
    kinds: dict[str, set[str]] = {"empty": set(), "presentation": set()}
    for mode in kinds:
        for seed in range(30):
            _, truth = render_clip(mode, seed, seconds=0.25, fps=8.0, size=(32, 32))
            ats = [c["at"] for c in truth["changes"]]
            assert ats == sorted(ats)
            kinds[mode] |= {c["kind"] for c in truth["changes"]}
    assert kinds["empty"] == kinds["presentation"] == {"slide", "door"}


def test_people_drift_between_standing_circles():
    from classroom_mode.sim.scene import Scene

    moved = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        scene = Scene(random_room(rng), rng)
        scene.direct("group", settled=True)
        start = {a.pid: a.role.group for a in scene.actors}
        for _ in range(8 * 60):
            scene.step(1 / 8)
        moved += sum(a.role.group != start[a.pid] for a in scene.actors)
        sizes = np.bincount([a.role.group for a in scene.actors])
        assert sizes[sizes > 0].min() >= 2, "nobody is left alone in a circle"
    assert moved > 0
