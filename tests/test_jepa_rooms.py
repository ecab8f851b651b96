"""Room-grouped pretraining: footage of fixed cameras, batches grouped by room, the within-room terms, the
future mask and the early indicator of whether the tokens encode people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from classroom_mode.errors import UserError
from classroom_mode.model.erasure import CONFIG_KEY, ERASED_INPUT
from classroom_mode.model.jepa.data import ClipBank, camera_of
from classroom_mode.model.jepa.indicator import indicator_rooms, measure, token_occupancy
from classroom_mode.model.jepa.objective import (
    MASK_PRESETS,
    BlockMaskSpec,
    centre_per_room,
    layer_normalised,
    room_deviations,
    sample_block_mask,
    sample_masks,
    sigreg,
    sigreg_directions,
    variance_covariance,
)
from classroom_mode.model.jepa.recipe import MaskSetting
from classroom_mode.model.jepa.trainer import JEPATrainer
from classroom_mode.model.preprocess import normalise
from classroom_mode.model.token_grid import TokenGrid
from classroom_mode.sim.footage import generate_footage, occupancy_windows, parse_seeds
from jepa_helpers import TINY, pixel_batch, tiny_model, tiny_recipe


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
    with pytest.raises(ValidationError, match="windows_per_room of 2 or more"):
        tiny_recipe(target_centring="room")
    with pytest.raises(ValidationError, match="windows_per_room of 2 or more"):
        tiny_recipe(sigreg_weight=1.0, sigreg_scope="room")
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


def test_a_future_mask_hides_only_the_last_tubelets():
    grid = TokenGrid(4, 8, 8)
    spec = BlockMaskSpec(2, 0.7, temporal_scale=0.5, anchor="end")
    for seed in range(20):
        masked = sample_block_mask(grid, spec, torch.Generator().manual_seed(seed))
        assert not masked[:2].any() and masked[2:].any()
        assert torch.equal(masked[2], masked[3])
    assert spec.label() == "2x0.7@t0.5-end" and BlockMaskSpec(8, 0.15).label() == "8x0.15"
    alone = tiny_recipe(masks=[MaskSetting(**m.to_dict()) for m in MASK_PRESETS["future"]])
    (pair,) = JEPATrainer(alone, tiny_model()).sample_masks(2)  # the tiny grid: 4 tubelets of 16 tokens
    assert pair.target.min() >= 32 and set(range(32)) <= set(pair.context[0].tolist())


def test_centring_per_room_removes_what_a_room_shares_and_keeps_what_differs():
    shared = torch.randn(2, 1, 5, 3)  # one token grid per room
    own = torch.randn(2, 4, 5, 3)
    tokens = (shared + own).reshape(8, 5, 3)
    centred = centre_per_room(tokens, 4).reshape(2, 4, 5, 3)
    torch.testing.assert_close(centred, own - own.mean(dim=1, keepdim=True))


def test_variance_term_is_high_when_a_rooms_windows_are_alike_and_low_when_they_differ():
    alike = torch.randn(2, 1, 16, 32).expand(2, 4, 16, 32).reshape(8, 16, 32)
    varied = torch.randn(8, 16, 32)
    variance_alike, _ = variance_covariance(alike, 4)
    variance_varied, covariance_varied = variance_covariance(varied, 4)
    assert float(variance_alike) > 0.9 > 0.2 > float(variance_varied)
    line = torch.randn(8, 16, 1) * torch.randn(1, 1, 32)  # every token on one direction: all covariance
    assert float(variance_covariance(line, 4)[1]) > 10 * float(covariance_varied)


def test_sigreg_within_rooms_asks_for_a_gaussian_of_deviations_whatever_the_rooms_are():
    directions = sigreg_directions(32, torch.Generator().manual_seed(0))
    own = torch.randn(200, 4, 8, 32)  # within each room, windows that differ like a standard Gaussian
    rooms = 5.0 * torch.randn(200, 1, 8, 32)  # rooms far apart: over the batch, a mixture, not one Gaussian
    tokens = (rooms + own).reshape(800, 8, 32)
    deviations = room_deviations(tokens, 4)
    assert float(deviations.var()) == pytest.approx(1.0, abs=0.05)
    batch = float(sigreg(tokens.reshape(-1, 32), directions))
    within = float(sigreg(deviations.reshape(-1, 32), directions))
    assert within < batch / 10
    alike = rooms.expand(200, 4, 8, 32).reshape(800, 8, 32) + 0.01 * own.reshape(800, 8, 32)
    assert float(sigreg(room_deviations(alike, 4).reshape(-1, 32), directions)) > 10 * within


def test_a_grouped_step_with_sigreg_within_rooms_trains_on_its_term():
    recipe = tiny_recipe(batch_size=4, windows_per_room=2, sigreg_weight=1.0, sigreg_scope="room")
    result = JEPATrainer(recipe, tiny_model()).train_step(grouped_bank())
    assert set(result.terms) == {"l1", "sigreg"} and result.terms["sigreg"] > 0
    assert result.loss == pytest.approx(result.terms["l1"] + result.terms["sigreg"])


def test_a_grouped_step_with_every_lever_trains_and_reports_its_terms():
    recipe = tiny_recipe(
        batch_size=4, windows_per_room=2, target_centring="room", variance_weight=1.0, covariance_weight=0.04
    )
    trainer = JEPATrainer(recipe, tiny_model())
    result = trainer.train_step(grouped_bank())
    assert set(result.terms) == {"l1", "variance", "covariance"}
    assert result.loss == pytest.approx(
        result.terms["l1"] + result.terms["variance"] + 0.04 * result.terms["covariance"]
    )
    loss, _, parts = trainer.loss(pixel_batch(batch=4))
    assert torch.isfinite(loss) and parts["variance"] > 0


def test_erasing_the_targets_only_gives_the_target_encoder_the_same_crops_without_their_room():
    bank = grouped_bank()
    plan = bank.plan(6, torch.Generator().manual_seed(0), (0.3, 1.0), windows_per_room=3)
    with pytest.raises(ValueError, match="keep_rooms"):
        bank.materialise(plan, erased=True)
    bank.keep_rooms()
    plain, erased = bank.materialise(plan), bank.materialise(plan, erased=True)
    grey = normalise(torch.full((1, 3, 1, 1), 128.0)).flatten()
    for room in range(2):  # the background pixel: each room's own in the plain clips, mid-grey once erased
        assert not torch.allclose(plain[3 * room, 0, :, 0, 0], grey, atol=0.05)
        torch.testing.assert_close(erased[3 * room : 3 * room + 3, :, :, 0, 0], grey.expand(3, 8, 3), atol=0.01, rtol=0)
    assert (erased - grey.view(3, 1, 1)).abs().amax() > 1  # the bright squares, the room's people, are left


def test_a_step_with_erased_targets_reads_the_plain_clips_and_regresses_onto_the_erased_ones():
    recipe = tiny_recipe(batch_size=4, windows_per_room=2, target_erasure="room")
    trainer = JEPATrainer(recipe, tiny_model())
    bank = grouped_bank()
    with pytest.raises(ValueError, match="keep_rooms"):
        trainer.train_step(bank)
    bank.keep_rooms()
    assert np.isfinite(trainer.train_step(bank).loss)
    plan = bank.plan(4, torch.Generator().manual_seed(1), (0.3, 1.0), windows_per_room=2)
    plain, erased = bank.materialise(plan), bank.materialise(plan, erased=True)
    masks = trainer.sample_masks(4)
    _, targets, _ = trainer.loss(plain, masks, None, erased)
    torch.testing.assert_close(targets, layer_normalised(trainer.target_encoder(erased).last_hidden_state))
    with pytest.raises(ValidationError, match="target erasure adds nothing"):
        tiny_recipe(model=TINY | {CONFIG_KEY: ERASED_INPUT}, target_erasure="room")


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


def test_the_indicator_reads_tokens_of_held_out_rooms():
    rooms = indicator_rooms([3], num_frames=8, crop_size=64, patch=16, tubelet=2)
    assert rooms[0].pixels.shape[1:] == (8, 3, 64, 64) and rooms[0].occupied.shape[1] == 4 * 4 * 4
    assert rooms[0].first_round.any() and not rooms[0].first_round.all()
    reading = measure(tiny_model().encoder, rooms, torch.device("cpu"))
    assert 0.0 <= reading["occupancy_auroc"] <= 1.0 and 0.0 <= reading["knn_mode_accuracy"] <= 1.0


def test_the_indicator_of_a_room_erasing_run_sees_erased_windows():
    plain = indicator_rooms([3], num_frames=4, crop_size=32, patch=16, tubelet=2)[0].pixels
    erased = indicator_rooms([3], num_frames=4, crop_size=32, patch=16, tubelet=2, erase_room=True)[0].pixels
    grey = normalise(torch.full((3, 1, 1), 127.5))
    # the room's median frame becomes mid-grey everywhere: what the run's bank feeds its encoder
    assert torch.allclose(erased.flatten(0, 1).median(dim=0).values, grey.expand(3, 32, 32), atol=0.02)
    assert not torch.allclose(plain.flatten(0, 1).median(dim=0).values, grey.expand(3, 32, 32), atol=0.02)
