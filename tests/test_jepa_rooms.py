"""Room-grouped pretraining: footage of fixed cameras, batches grouped by room, and the early indicator of
whether the tokens encode people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from classroom_mode.errors import UserError
from classroom_mode.model.jepa.data import ClipBank, camera_of
from classroom_mode.model.jepa.indicator import IndicatorRoom, indicator_room, measure, token_occupancy
from classroom_mode.model.jepa.objective import BlockMaskSpec, sample_masks
from classroom_mode.model.preprocess import normalise
from classroom_mode.model.token_grid import TokenGrid
from classroom_mode.sim.footage import generate_footage, occupancy_windows, parse_seeds
from jepa_helpers import TINY, tiny_model, tiny_recipe


def grouped_bank(rooms: int = 3, windows: int = 5) -> ClipBank:
    """Each room's windows share a constant background value (the room) and differ in one bright square."""
    frames = torch.zeros(rooms * windows, TINY["frames_per_clip"], 3, 73, 73, dtype=torch.uint8)
    cameras = []
    for r in range(rooms):
        for w in range(windows):
            clip = frames[r * windows + w]
            clip[:] = 40 * (r + 1)
            clip[..., 10 * w : 10 * w + 8, 10:18] = 255
            cameras.append(f"room{r}")
    return ClipBank(frames, TINY["crop_size"], cameras=cameras)


def test_a_recorded_clip_names_its_camera_and_any_other_clip_its_folder(tmp_path: Path):
    assert camera_of(tmp_path / "unlabeled" / "front_door_20261201T101500.123Z.mp4", tmp_path) == "front_door"
    assert camera_of(tmp_path / "unlabeled" / "front_20261201T101500.123Z-1.mp4", tmp_path) == "front"
    session_named = "front_door__20261201T101500Z__20261201T101503.123Z-2.mp4"
    assert camera_of(tmp_path / "unlabeled" / session_named, tmp_path) == "front_door"
    assert camera_of(tmp_path / "solo" / "lab__lesson_1__20261201T101503.123Z.mp4", tmp_path) == "lab"
    assert camera_of(tmp_path / "room7" / "v00-w001.mp4", tmp_path) == "room7"
    assert camera_of(tmp_path / "a" / "b" / "x.mp4", tmp_path) == "a/b"


def test_room_grouped_batches_take_several_windows_of_one_room_with_one_crop():
    bank = grouped_bank()
    batch = bank.batch(6, torch.Generator().manual_seed(0), (0.3, 1.0), windows_per_room=3)
    assert batch.shape == (6, TINY["frames_per_clip"], 3, 64, 64)
    for room in batch.view(2, 3, *batch.shape[1:]):
        corners = room[:, 0, :, 0, 0]  # the room's background survives any crop at its top-left pixel
        assert torch.allclose(corners, corners[0].expand_as(corners))
        assert not torch.equal(room[0], room[1])  # distinct windows of that room


def test_grouping_refuses_one_camera_and_rooms_too_small_for_a_group():
    with pytest.raises(UserError, match="at least two cameras"):
        ClipBank(grouped_bank(1, 5).frames, 64, cameras=["a"] * 5).check_grouping(4)
    with pytest.raises(UserError, match="no camera has the 9 clips"):
        grouped_bank().check_grouping(9)
    grouped_bank().check_grouping(1)  # independent clips need no grouping


def test_recipe_refuses_inconsistent_grouping_and_geometry():
    with pytest.raises(ValidationError, match="whole number of 4-window rooms"):
        tiny_recipe(batch_size=6, windows_per_room=4)
    with pytest.raises(ValidationError, match="does not divide"):
        tiny_recipe(model=TINY | {"patch_size": 12})


def test_windows_of_a_room_share_their_masks():
    grid = TokenGrid(4, 8, 8)
    differ = []
    for seed in range(5):
        masks = sample_masks(grid, BlockMaskSpec(2, 0.15), 6, torch.Generator().manual_seed(seed), repeat=3)
        assert masks.context.shape[0] == masks.target.shape[0] == 6
        assert torch.equal(masks.context[0], masks.context[2]) and torch.equal(masks.target[3], masks.target[5])
        differ.append(not torch.equal(masks.target[0], masks.target[3]))
    assert any(differ)  # each room draws its own


def test_footage_is_one_folder_of_back_to_back_windows_per_room(tmp_path: Path):
    paths = generate_footage(tmp_path, [5, 6], seconds=16.0, window_s=2.0, fps=4.0, size=(48, 48), workers=1)
    assert [p.relative_to(tmp_path).as_posix() for p in paths[:2]] == ["room5/v00-w000.mp4", "room5/v00-w001.mp4"]
    assert len(paths) == 16 and {camera_of(p, tmp_path) for p in paths} == {"room5", "room6"}
    assert not list(tmp_path.glob(".partial*"))
    with pytest.raises(UserError, match="at least two rooms"):
        generate_footage(tmp_path, [5, 5])


def test_seed_lists_and_ranges():
    assert parse_seeds("30000-30002,7", "--rooms") == [30000, 30001, 30002, 7]
    for bad in ("x", "5-3", "1-"):
        with pytest.raises(UserError, match="--rooms"):
            parse_seeds(bad, "--rooms")


def test_occupancy_truth_marks_the_cells_people_cover():
    people = np.zeros((1, 2, 16, 16), dtype=bool)
    people[0, :, 0:8, 8:16] = True  # top-right cell of a 2×2 grid, both frames of the tubelet
    people[0, 0, 8:10, 0:8] = True  # a sliver of the bottom-left cell in one frame: under a fifth
    assert token_occupancy(people, tubelet=2, patch=8).tolist() == [[False, True, False, False]]
    windows = occupancy_windows(3, num_frames=4, window_s=1.0, visits=1, visit_s=3.0, side=48)
    assert windows.frames.shape[1:] == (4, 48, 48, 3) and windows.people.shape[1:] == (4, 48, 48)
    empty = [m == "empty" for m in windows.modes]
    assert not windows.people[empty].any() and windows.people[[not e for e in empty]].any()


def held_out_room(room: int, *, frames: int, side: int, patch: int, erase_room: bool = False) -> IndicatorRoom:
    windows = occupancy_windows(room, num_frames=frames, window_s=3.0, side=side)
    return indicator_room(
        windows.frames, windows.people, windows.modes, windows.visits, patch=patch, tubelet=2, erase_room=erase_room
    )


def test_the_indicator_reads_tokens_of_held_out_rooms():
    room = held_out_room(3, frames=8, side=64, patch=16)
    assert room.pixels.shape[1:] == (8, 3, 64, 64) and room.occupied.shape[1] == 4 * 4 * 4
    assert room.first_round.any() and not room.first_round.all()
    reading = measure(tiny_model().encoder, [room], torch.device("cpu"))
    assert 0.0 <= reading.occupancy_auroc <= 1.0 and 0.0 <= reading.knn_mode_accuracy <= 1.0


def test_the_indicator_of_a_room_erasing_run_sees_erased_windows():
    plain = held_out_room(3, frames=4, side=32, patch=16).pixels
    erased = held_out_room(3, frames=4, side=32, patch=16, erase_room=True).pixels
    grey = normalise(torch.full((3, 1, 1), 127.5))
    # the room's median frame becomes mid-grey everywhere: what the run's bank feeds its encoder
    assert torch.allclose(erased.flatten(0, 1).median(dim=0).values, grey.expand(3, 32, 32), atol=0.02)
    assert not torch.allclose(plain.flatten(0, 1).median(dim=0).values, grey.expand(3, 32, 32), atol=0.02)
