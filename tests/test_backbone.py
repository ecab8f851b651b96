"""Strict loading of V-JEPA 2 checkpoints, with tiny models saved through `save_pretrained`."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import save_file

from classroom_mode.errors import UserError
from classroom_mode.model.backbone import fidelity_to_fp32, load_backbone
from model_helpers import edit_config, save_tiny, tiny_model


def test_saved_model_reloads_with_outputs_identical_to_transformers(tmp_path):
    model = save_tiny(tmp_path)
    backbone = load_backbone(str(tmp_path), device="cpu")
    x = torch.randn(2, backbone.frames_per_clip, 3, backbone.crop_size, backbone.crop_size)
    with torch.inference_mode():
        direct = model.get_vision_features(x)
    assert torch.equal(backbone.encode(x), direct)
    report = backbone.load_report
    assert report.complete and report.matched == report.expected == len(model.state_dict())
    assert not backbone.random_weights


def test_missing_tensors_are_refused_with_counts(tmp_path):
    model = save_tiny(tmp_path)
    state = model.state_dict()
    dropped = [k for k in state if k.startswith("encoder.layer.1.")]
    save_file({k: v.contiguous() for k, v in state.items() if k not in dropped}, tmp_path / "model.safetensors")
    with pytest.raises(UserError) as err:
        load_backbone(str(tmp_path), device="cpu")
    message = str(err.value)
    assert f"{len(state) - len(dropped)} of {len(state)} tensors matched, {len(dropped)} missing" in message
    assert "encoder.layer.1." in message


def test_extra_tensors_are_refused(tmp_path):
    model = save_tiny(tmp_path)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["classifier.weight"] = torch.zeros(4, 64)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(UserError, match=r"1 unexpected .*classifier\.weight"):
        load_backbone(str(tmp_path), device="cpu")


def test_weights_of_a_different_shape_are_refused(tmp_path):
    save_tiny(tmp_path)
    edit_config(tmp_path, hidden_size=96, num_attention_heads=4)  # config no longer describes the weights
    with pytest.raises(UserError, match=r"with the wrong shape \(e\.g\. .*checkpoint \(64"):
        load_backbone(str(tmp_path), device="cpu")


def test_another_architecture_is_refused(tmp_path):
    save_tiny(tmp_path)
    edit_config(tmp_path, model_type="vit")
    with pytest.raises(UserError, match="architecture is 'vit', expected a V-JEPA 2 model"):
        load_backbone(str(tmp_path), device="cpu")


def test_corrupted_safetensors_is_refused(tmp_path):
    save_tiny(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(UserError, match=r"model\.safetensors: corrupted or unreadable safetensors"):
        load_backbone(str(tmp_path), device="cpu")


def _sharded(directory):
    """A tiny model saved in several shards, with its index."""
    tiny_model().save_pretrained(directory, max_shard_size="200KB")
    index = directory / "model.safetensors.index.json"
    return json.loads(index.read_text()), index


def test_a_sharded_model_loads_and_its_index_may_name_only_shards_inside_its_folder(tmp_path):
    layout, index = _sharded(tmp_path)
    shards = sorted(set(layout["weight_map"].values()))
    assert len(shards) > 1 and load_backbone(str(tmp_path), device="cpu").load_report.complete
    elsewhere = tmp_path.parent / "elsewhere.safetensors"
    shutil.copy(tmp_path / shards[0], elsewhere)
    for outside in ("../elsewhere.safetensors", str(elsewhere), "config.json"):
        tensor = next(iter(layout["weight_map"]))
        index.write_text(json.dumps({**layout, "weight_map": {**layout["weight_map"], tensor: outside}}))
        with pytest.raises(UserError, match=f"shard '{re.escape(outside)}' is not a safetensors file inside the model"):
            load_backbone(str(tmp_path), device="cpu")
    index.write_text(json.dumps(layout))
    (tmp_path / shards[-1]).unlink()
    with pytest.raises(UserError, match=f"index.json: shard {shards[-1]} is missing"):
        load_backbone(str(tmp_path), device="cpu")


def test_pickle_only_checkpoint_is_refused(tmp_path):
    save_tiny(tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(UserError, match="pickle-based weights"):
        load_backbone(str(tmp_path), device="cpu")


def test_hub_id_not_in_cache_names_the_pull_command(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UserError) as err:
        load_backbone("facebook/vjepa2-vitl-fpc64-256", device="cpu")
    assert "classroom-mode models pull facebook/vjepa2-vitl-fpc64-256" in str(err.value)


def test_unknown_named_config_and_missing_directory_are_user_errors():
    with pytest.raises(UserError, match="known: config:tiny, config:vitl"):
        load_backbone("config:huge", device="cpu")
    with pytest.raises(UserError, match="no such directory"):
        load_backbone("./not/here", device="cpu")


def test_named_config_is_marked_random_and_deterministic():
    a, b = load_backbone("config:tiny", device="cpu"), load_backbone("config:tiny", device="cpu")
    assert a.random_weights and "RANDOM WEIGHTS" in a.describe()
    assert a.fingerprint == b.fingerprint
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))
    assert a.frames_per_clip == 16 and a.frames_per_clip % a.config.tubelet_size == 0


def test_fingerprint_follows_weights_and_preprocessing(tmp_path):
    save_tiny(tmp_path / "a", seed=1)
    save_tiny(tmp_path / "b", seed=2)
    save_tiny(tmp_path / "c", seed=1, crop_size=96)  # same weights (RoPE has no learned positions), other crop
    prints = {name: load_backbone(str(tmp_path / name), device="cpu").fingerprint for name in "abc"}
    assert len(set(prints.values())) == 3
    assert load_backbone(str(tmp_path / "a"), device="cpu").fingerprint == prints["a"]


def test_official_frames_per_clip_is_capped_at_16():
    model = tiny_model(frames_per_clip=64)
    from classroom_mode.model.backbone import Backbone

    backbone = Backbone(model, model_id="x", revision=None, weights_identity="w", random_weights=True,
                        device=torch.device("cpu"))  # fmt: skip
    assert backbone.frames_per_clip == 16 and backbone.grid == (8, 4, 4)


def test_int8_quantisation_reports_high_fidelity():
    backbone = load_backbone("config:tiny", device="cpu", quantize="int8")
    assert backbone.numerics == "int8-dynamic"
    torch.manual_seed(0)
    x = torch.randn(2, backbone.frames_per_clip, 3, backbone.crop_size, backbone.crop_size)
    fidelity = fidelity_to_fp32(backbone, x)
    assert 0.99 < fidelity < 1.0  # close to, but not bit-identical with, the fp32 encoder


def test_embed_pools_and_averages_tokens_in_transformers_order():
    from classroom_mode.records import Clip
    from model_helpers import moving_frames

    backbone = load_backbone("config:tiny", device="cpu")
    frames = moving_frames()
    clip = Clip(frames=frames, timestamps=torch.arange(len(frames)).numpy() / 8.0)
    features = backbone.encode(backbone.preprocess([clip]))[0]
    averaged, exact = backbone.embed([clip])[0], backbone.embed([clip], exact_tokens=True)[0]
    assert averaged.grid == (1, 4, 4) and exact.grid == (8, 4, 4)
    assert exact.tokens.shape == (128, 64) and averaged.tokens.dtype.name == "float16"
    expected = features.view(8, 16, 64).mean(0)  # time first, then row-major patches
    assert torch.allclose(torch.from_numpy(averaged.tokens).float(), expected, atol=1e-2)
    assert torch.allclose(torch.from_numpy(averaged.pooled), features.mean(0), atol=1e-6)
    assert averaged.key != exact.key


def test_a_larger_crop_is_the_same_weights_on_a_larger_grid(tmp_path):
    save_tiny(tmp_path / "native", seed=1)  # 64 px
    save_tiny(tmp_path / "saved-at-96", seed=1, crop_size=96)
    larger = load_backbone(str(tmp_path / "native"), device="cpu", crop_size=96)
    assert larger.crop_size == 96 and larger.grid == (8, 6, 6)
    assert larger.fingerprint != load_backbone(str(tmp_path / "native"), device="cpu").fingerprint  # a new cache
    x = torch.randn(1, larger.frames_per_clip, 3, 96, 96)
    features = larger.encode(x)
    assert features.shape == (1, 8 * 6 * 6, 64)
    assert torch.equal(features, load_backbone(str(tmp_path / "saved-at-96"), device="cpu").encode(x))


def test_fidelity_of_a_speed_option_is_measured_at_the_same_crop():
    backbone = load_backbone("config:tiny", device="cpu", quantize="int8", crop_size=96)
    x = torch.randn(1, backbone.frames_per_clip, 3, 96, 96)
    assert 0.99 < fidelity_to_fp32(backbone, x) < 1.0


def test_a_crop_that_is_not_whole_patches_is_refused():
    with pytest.raises(UserError, match="multiple of the model's 16 px patch"):
        load_backbone("config:tiny", device="cpu", crop_size=100)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("hidden_size", "big", "Field 'hidden_size' expected int"),
        ("num_attention_heads", 5, "not a multiple of the number of attention heads"),
        ("patch_size", -16, "invalid V-JEPA 2 config"),
    ],
)
def test_a_config_that_cannot_build_a_model_is_one_line_naming_the_file(tmp_path, field, value, expected):
    save_tiny(tmp_path)
    edit_config(tmp_path, **{field: value})
    with pytest.raises(UserError) as err:
        load_backbone(str(tmp_path), device="cpu")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'config.json'}: invalid V-JEPA 2 config") and expected in message
    assert "\n" not in message


def test_every_command_builds_the_backbone_the_config_describes(monkeypatch):
    from classroom_mode.config import BackboneConfig
    from classroom_mode.model import backbone as module

    seen = []
    monkeypatch.setattr(module, "load_backbone", lambda spec, **options: seen.append((spec, options)))
    settings = BackboneConfig(model="org/m", revision="abc", quantize="int8", compile=True, crop_size=192)
    module.backbone_from_config(settings)
    module.backbone_from_config(settings, model="other/m", device="cpu")
    assert seen[0] == (
        "org/m",
        {"revision": "abc", "device": "auto", "quantize": "int8", "compile": True, "crop_size": 192},
    )
    assert seen[1] == (
        "other/m",
        {"revision": None, "device": "cpu", "quantize": "int8", "compile": True, "crop_size": 192},
    )
