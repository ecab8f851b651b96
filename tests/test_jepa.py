"""The V-JEPA objective: masks, the visible-only context encoder, the predictor wiring, the dense loss, deep
self-supervision, the EMA and frozen teachers, the run without a teacher (pixel targets), one step, collapse."""

from __future__ import annotations

import itertools

import pytest
import torch

from classroom_mode.model.jepa.collapse import collapse_stats, effective_rank
from classroom_mode.model.jepa.objective import (
    LONG_RANGE,
    SHORT_RANGE,
    BlockMaskSpec,
    MaskPair,
    distance_to_hidden,
    encode_context,
    gather_tokens,
    layer_normalised,
    level_layers,
    measure_masked_fraction,
    normalised_pixels,
    run_predictor,
    sample_block_mask,
    sample_masks,
    teacher_tokens,
    tubelet_pixels,
)
from classroom_mode.model.jepa.trainer import DivergedError, JEPATrainer
from classroom_mode.model.token_grid import TokenGrid
from jepa_helpers import TINY, pixel_batch, random_bank, tiny_model, tiny_recipe

GRID = TokenGrid(depth=4, height=8, width=8)  # the shipped small model's grid


def test_block_masks_span_every_frame_and_cover_the_requested_area():
    generator = torch.Generator().manual_seed(0)
    spec = BlockMaskSpec(num_blocks=1, spatial_scale=0.15)
    for _ in range(50):
        mask = sample_block_mask(GRID, spec, generator)
        assert mask.shape == (4, 8, 8)
        assert torch.equal(mask, mask[:1].expand_as(mask))  # the same block in every tubelet
        assert 6 <= int(mask[0].sum()) <= 12  # one block of ~0.15 × 64 = 9.6 tokens, aspect ratio 0.75–1.5


def test_mask_pairs_are_disjoint_sorted_and_trimmed_to_the_batch():
    generator = torch.Generator().manual_seed(1)
    pair = sample_masks(GRID, SHORT_RANGE, batch_size=4, generator=generator)
    assert pair.context.shape[0] == pair.target.shape[0] == 4
    for context, target in zip(pair.context, pair.target, strict=True):
        assert not set(context.tolist()) & set(target.tolist())
        assert torch.all(context.diff() > 0) and torch.all(target.diff() > 0)
        assert int(target.max()) < GRID.num_tokens
    single = sample_masks(GRID, SHORT_RANGE, batch_size=1, generator=generator)  # no trimming with one clip
    assert single.context.shape[1] + single.target.shape[1] == GRID.num_tokens


def test_masked_fractions_short_range_below_long_range():
    short = measure_masked_fraction(GRID, SHORT_RANGE, samples=300)
    long = measure_masked_fraction(GRID, LONG_RANGE, samples=300)
    assert 0.5 < short < 0.75 < long < 0.9, (short, long)


def test_context_encoder_never_sees_masked_tokens():
    model = tiny_model()
    grid = TokenGrid.for_config(model.config, 8)
    pair = sample_masks(grid, SHORT_RANGE, 2, torch.Generator().manual_seed(0))
    pixels = pixel_batch()
    before = encode_context(model.encoder, pixels, pair.context)

    # overwrite every masked token's pixels (tubelet t, row r, column c ↔ index t·16 + r·4 + c)
    changed = pixels.clone()
    for b, targets in enumerate(pair.target):
        for index in targets.tolist():
            t, r, c = index // 16, (index % 16) // 4, index % 4
            changed[b, 2 * t : 2 * t + 2, :, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16] = 100.0
    assert torch.equal(encode_context(model.encoder, changed, pair.context), before)

    visible = int(pair.context[0, 0])
    t, r, c = visible // 16, (visible % 16) // 4, visible % 4
    changed[0, 2 * t, :, 16 * r, 16 * c] += 1.0
    assert not torch.allclose(encode_context(model.encoder, changed, pair.context)[0], before[0])


def test_context_encoder_with_every_token_visible_is_the_transformers_encoder():
    model = tiny_model()
    pixels = pixel_batch()
    everything = torch.arange(64).expand(2, -1)
    ours = encode_context(model.encoder, pixels, everything)
    theirs = model.encoder(pixels).last_hidden_state
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_the_predictor_run_is_transformers_own_and_also_returns_the_visible_outputs():
    model = tiny_model()
    pair = sample_masks(TokenGrid.for_config(model.config, 8), LONG_RANGE, 2, torch.Generator().manual_seed(3))
    context = torch.randn(2, pair.context.shape[1], TINY["hidden_size"])
    raw, visible = run_predictor(model.predictor, context, pair.context, pair.target, generator_index=1)
    hidden = model.predictor.proj(raw)
    # transformers' forward (mask token 1) on full-length states with garbage at the masked positions
    full = torch.randn(2, 64, TINY["hidden_size"]) * 50
    full.scatter_(1, pair.context.unsqueeze(-1).expand(-1, -1, TINY["hidden_size"]), context)
    theirs = model.predictor(full, context_mask=[pair.context], target_mask=[pair.target]).last_hidden_state
    torch.testing.assert_close(hidden, theirs)
    assert visible.shape == (2, pair.context.shape[1], TINY["pred_hidden_size"])
    with torch.no_grad():
        model.predictor.embeddings.mask_tokens[0].fill_(3.0)  # each generator has its own mask token
    other, _ = run_predictor(model.predictor, context, pair.context, pair.target, generator_index=0)
    assert not torch.allclose(other, raw)


def test_deep_levels_are_evenly_spaced_layers_ending_at_the_last():
    assert level_layers(12, 4) == (2, 5, 8, 11)  # V-JEPA 2.1's ViT-B levels
    assert level_layers(24, 4) == (5, 11, 17, 23)
    assert level_layers(4, 4) == (0, 1, 2, 3)
    assert level_layers(6, 1) == (5,)


def test_deep_supervision_reads_every_level_and_trains_its_fusion_and_heads():
    model = tiny_model()
    pixels = pixel_batch()
    everything = torch.arange(64).expand(2, -1)
    levels = encode_context(model.encoder, pixels, everything, levels=2)
    width = TINY["hidden_size"]
    assert levels.shape == (2, 64, 2 * width)
    torch.testing.assert_close(levels[..., width:], model.encoder(pixels).last_hidden_state, rtol=1e-5, atol=1e-5)
    first_layer = model.encoder.layer[0](model.encoder.embeddings(pixels), position_mask=everything)[0]
    torch.testing.assert_close(levels[..., :width], layer_normalised(first_layer), rtol=1e-5, atol=1e-5)

    trainer = JEPATrainer(tiny_recipe(teacher="frozen", deep_levels=2, dense_weight=1.0, dense_warmup=(0, 0)), model)
    loss, targets, parts = trainer.loss(pixels)
    assert targets is not None and targets.shape == (2, 64, width)  # the last level, for the collapse statistics
    assert set(parts) == {"l1", "dense"}
    full = teacher_tokens(trainer.teacher, pixels, levels=2)
    torch.testing.assert_close(full[..., width:], targets)
    torch.testing.assert_close(
        full.reshape(2, 64, 2, width).std(-1, unbiased=False), torch.ones(2, 64, 2), atol=1e-3, rtol=0
    )
    loss.backward()
    assert {"fuse", "deep_head"} <= set(trainer.modules())
    for head in (trainer.networks.fuse[0], trainer.networks.deep_head, trainer.networks.visible_head):
        assert head is not None and head.weight.grad is not None
    assert trainer.networks.visible_head.out_features == 2 * width
    assert trainer.export_model().predictor.proj.out_features == width  # the exported predictor keeps its shape


def test_distance_to_hidden_is_the_nearest_hidden_token_in_token_units():
    grid = TokenGrid(depth=2, height=3, width=3)
    # hidden: tubelet 0, row 0, column 0 alone
    pair = MaskPair(context=torch.arange(1, 18).unsqueeze(0), target=torch.tensor([[0]]))
    distance = distance_to_hidden(grid, pair)[0]
    assert distance[0] == 1.0  # (0, 0, 1): the next column
    assert distance[3] == pytest.approx(2**0.5)  # index 4 = (0, 1, 1): one row and one column away
    assert distance[8] == pytest.approx(1.0)  # index 9 = (1, 0, 0): the next tubelet
    assert float(distance.min()) >= 1.0


def test_teachers_ema_moves_by_one_minus_momentum_and_frozen_never_moves():
    trainer = JEPATrainer(tiny_recipe(), tiny_model())
    with torch.no_grad():
        for p in trainer.student.parameters():
            p.add_(1.0)
    before = [p.clone() for p in trainer.teacher.parameters()]
    student = [p.clone() for p in trainer.student.parameters()]
    trainer.update_teacher(0.9)
    for new, old, o in zip(trainer.teacher.parameters(), before, student, strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * o)
    assert not any(p.requires_grad for p in trainer.teacher.parameters())
    assert trainer.exported_encoder is trainer.teacher

    frozen = JEPATrainer(tiny_recipe(teacher="frozen"), tiny_model())
    start = [p.clone() for p in frozen.teacher.parameters()]
    for _ in range(2):
        frozen.train_step(random_bank())
    assert all(torch.equal(a, b) for a, b in zip(frozen.teacher.parameters(), start, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(frozen.student.parameters(), start, strict=True))
    assert frozen.exported_encoder is frozen.student
    exported = frozen.export_model().encoder.state_dict()
    assert all(torch.equal(exported[k], v) for k, v in frozen.student.state_dict().items())


def test_the_dense_loss_adds_its_weighted_term_after_its_warm_up():
    recipe = tiny_recipe(teacher="frozen", dense_weight=0.5, steps=100, dense_warmup=(0.05, 0.10))
    assert recipe.dense_at(0) is not None and recipe.dense_at(0).weight == 0.0  # type: ignore[union-attr]
    assert recipe.dense_at(7).weight == pytest.approx(0.5 * 2 / 5)  # type: ignore[union-attr]
    assert recipe.dense_at(10).weight == recipe.dense_at(99).weight == 0.5  # type: ignore[union-attr]
    assert tiny_recipe().dense_at(50) is None
    trainer = JEPATrainer(recipe, tiny_model())
    trainer.step = 50
    loss, _, parts = trainer.loss(pixel_batch())
    assert set(parts) == {"l1", "dense"} and parts["dense"].item() > 0
    torch.testing.assert_close(loss, parts["l1"] + 0.5 * parts["dense"])
    loss.backward()  # the dense term trains the student, the predictor and its own head, not the teacher
    assert trainer.networks.visible_head is not None and trainer.networks.visible_head.weight.grad is not None
    assert trainer.student.embeddings.patch_embeddings.proj.weight.grad is not None
    assert all(p.grad is None for p in trainer.teacher.parameters())


def test_tubelet_pixels_follow_the_patch_embeddings_token_order():
    model = tiny_model()
    grid = TokenGrid.for_config(model.config, 4)
    tubelet, patch = model.config.tubelet_size, model.config.patch_size
    frames, side = grid.depth * tubelet, grid.height * patch
    t, y, x = torch.meshgrid(torch.arange(frames), torch.arange(side), torch.arange(side), indexing="ij")
    index = (t // tubelet) * grid.height * grid.width + (y // patch) * grid.width + x // patch
    clip = index.float().unsqueeze(1).expand(frames, 3, side, side).unsqueeze(0)  # every pixel: its token's index
    cubes = tubelet_pixels(clip, grid)
    assert cubes.shape == (1, grid.num_tokens, tubelet * patch * patch * 3)
    assert torch.equal(cubes[0], torch.arange(grid.num_tokens).float().unsqueeze(1).expand_as(cubes[0]))
    targets = normalised_pixels(torch.randn(2, frames, 3, side, side) * 5 + 3, grid)
    torch.testing.assert_close(targets.mean(-1), torch.zeros(2, grid.num_tokens), atol=1e-4, rtol=0)
    torch.testing.assert_close(targets.std(-1), torch.ones(2, grid.num_tokens), atol=1e-3, rtol=0)


def test_a_pixels_run_has_no_teacher_reconstructs_hidden_tubelets_and_exports_its_student():
    trainer = JEPATrainer(tiny_recipe(teacher="pixels"), tiny_model())
    assert trainer.teacher is None and "teacher" not in trainer.modules() and "pixel_head" in trainer.modules()
    loss, tokens, parts = trainer.loss(pixel_batch())
    assert tokens is None and set(parts) == {"pixels"}
    assert 0.5 < loss.item() < 5  # MSE against unit-variance targets from an untrained head: about 1
    loss.backward()
    assert trainer.networks.pixel_head is not None and trainer.networks.pixel_head.weight.grad is not None
    assert trainer.student.embeddings.patch_embeddings.proj.weight.grad is not None
    start = [p.clone() for p in trainer.student.parameters()]
    result = trainer.train_step(random_bank())
    assert result.logged and result.stats is None and "pixels" in result.terms
    assert not all(torch.equal(a, b) for a, b in zip(trainer.student.parameters(), start, strict=True))
    assert trainer.exported_encoder is trainer.student


def test_distance_weighting_weighs_visible_tokens_near_the_hidden_ones_more():
    pixels = pixel_batch()
    losses = {}
    for weighting in ("distance", "uniform"):
        trainer = JEPATrainer(
            tiny_recipe(dense_weight=1.0, dense_weighting=weighting, dense_warmup=(0, 0)), tiny_model()
        )
        trainer.generator.manual_seed(0)
        losses[weighting] = trainer.loss(pixels)[2]["dense"].item()
    # the same networks and masks: 1/√d ≤ 1 everywhere, < 1 away from the hidden tokens
    assert losses["distance"] < losses["uniform"]


def test_one_training_step_reduces_the_loss_on_a_fixed_batch():
    # Adam's first step moves every weight by ±lr; a small lr keeps the step in the first-order regime
    trainer = JEPATrainer(tiny_recipe(lr=3e-5, weight_decay=0.0), tiny_model())
    pixels = pixel_batch()
    masks_state = trainer.generator.get_state()

    def fixed_loss() -> torch.Tensor:
        trainer.generator.set_state(masks_state)  # the same masks every time
        return trainer.loss(pixels)[0]

    first = fixed_loss()
    trainer.optimizer.zero_grad()
    first.backward()
    trainer.optimizer.step()
    with torch.no_grad():
        second = fixed_loss()
    assert float(second) < float(first.detach()) - 5e-4, (float(first.detach()), float(second))


def test_the_loss_is_l1_against_layer_normalised_stop_gradient_targets():
    trainer = JEPATrainer(tiny_recipe(), tiny_model())
    loss, targets, _ = trainer.loss(pixel_batch())
    assert not targets.requires_grad
    torch.testing.assert_close(targets.mean(-1), torch.zeros(targets.shape[:-1]), atol=1e-5, rtol=0)
    torch.testing.assert_close(targets.std(-1, unbiased=False), torch.ones(targets.shape[:-1]), atol=1e-3, rtol=0)
    loss.backward()
    assert all(p.grad is None for p in trainer.teacher.parameters())
    assert trainer.student.layer[0].attention.query.weight.grad is not None


def test_train_step_stops_on_a_nan_loss_before_touching_the_weights():
    trainer = JEPATrainer(tiny_recipe(), tiny_model())
    with torch.no_grad():
        trainer.predictor.proj.bias.fill_(float("nan"))
    weights = trainer.student.layer[0].mlp.fc1.weight.clone()
    try:
        trainer.train_step(random_bank())
    except DivergedError as exc:
        assert "nan" in str(exc) and "step 1" in str(exc)
    else:
        raise AssertionError("a NaN loss must stop training")
    assert torch.equal(trainer.student.layer[0].mlp.fc1.weight, weights)
    assert trainer.step == 0


def test_schedules_warm_up_then_decay():
    recipe = tiny_recipe(steps=100, warmup_steps=10, lr=1e-3, min_lr=0.0, ema=(0.99, 1.0))
    lrs = [recipe.lr_at(s) for s in range(100)]
    assert lrs[0] < lrs[5] < lrs[9] == 1e-3
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:])) and lrs[-1] < 1e-5
    assert recipe.ema_at(0) == 0.99 and recipe.ema_at(100) == 1.0
    assert tiny_recipe(teacher="frozen").ema_at(0) == 1.0


def test_collapse_watch_measures_rank_and_warns():
    healthy = collapse_stats(torch.randn(4, 64, 48))
    assert healthy.effective_rank > 40 and healthy.warning() is None
    line = torch.randn(256, 1) * torch.randn(1, 48)  # every token on one direction
    assert abs(effective_rank(line) - 1.0) < 0.05
    collapsed = collapse_stats(torch.ones(4, 64, 48) + 1e-4 * torch.randn(4, 64, 48))
    assert "COLLAPSE" in (collapsed.warning() or "")


def test_a_training_step_uses_and_advances_the_seeded_generator():
    bank = random_bank()
    first, second = (JEPATrainer(tiny_recipe(), tiny_model()) for _ in range(2))
    a, b = first.train_step(bank), second.train_step(bank)
    assert a.loss == b.loss and first.step == 1
    assert not torch.equal(first.generator.get_state(), torch.Generator().manual_seed(0).get_state())
    features = gather_tokens(torch.arange(12.0).view(1, 6, 2), torch.tensor([[4, 1]]))
    assert features.tolist() == [[[8.0, 9.0], [2.0, 3.0]]]


def test_one_token_grid_for_the_backbone_the_recipe_and_the_surprise_model():
    from classroom_mode.model.backbone import load_backbone
    from classroom_mode.model.jepa.recipe import SMALL8_MODEL, PretrainRecipe
    from classroom_mode.model.surprise import SurpriseModel
    from classroom_mode.model.token_grid import clip_frames

    assert [clip_frames(f, 2) for f in (64, 16, 9, 1)] == [16, 16, 8, 2]
    backbone = load_backbone("config:tiny", device="cpu")
    grid = TokenGrid.for_config(backbone.config)
    assert grid.astuple() == backbone.grid and SurpriseModel(backbone).depth == grid.depth
    recipe = PretrainRecipe(model=SMALL8_MODEL, steps=1)
    assert TokenGrid.for_config(recipe.model).astuple() == (2, 16, 16)
    assert recipe.clip_frames == 4


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dense_weight": -0.5}, "dense_weight"),
        ({"dense_weight": 50}, "dense_weight"),
        ({"dense_warmup": (0.2, 0.1)}, "dense_warmup"),
        ({"teacher": "frozen", "ema": (0.996, 1.0)}, "frozen teacher never moves"),
        ({"teacher_model": "somewhere"}, "teacher: frozen"),
        ({"teacher": "pixels", "teacher_model": "somewhere"}, "teacher: frozen"),
        ({"teacher": "pixels", "ema": (0.996, 1.0)}, "no teacher to move"),
        ({"teacher": "pixels", "dense_weight": 0.5}, "has none"),
        ({"model": "small9"}, "unknown architecture 'small9'"),
        ({"deep_levels": 3}, "the encoder has 2 layers"),
        ({"teacher": "pixels", "deep_levels": 2}, "teacher: pixels has none"),
    ],
)
def test_a_recipe_out_of_range_is_refused_with_its_field(fields, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        tiny_recipe(**fields)
