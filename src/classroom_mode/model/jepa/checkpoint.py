"""Resumable training checkpoints (safetensors + JSON, never pickle) and the final `save_pretrained` export.

Layout of a run's output directory:

    OUT/checkpoints/step-000200/state.safetensors   student.*, teacher.* (a run with one), predictor.*,
                                                     visible_head.* (with the dense loss), pixel_head.* (a pixels
                                                     run), fuse.* and deep_head.* (deep self-supervision),
                                                     optimizer.<i>.<name>, rng.generator (the run's
                                                     torch.Generator state, uint8)
    OUT/checkpoints/step-000200/state.json          step, recipe, optimizer param groups, training history
    OUT/checkpoints/latest.json                     {"step": 200, "directory": "step-000200"}
    OUT/model/                                      config.json + model.safetensors (the exported encoder +
                                                     predictor), written by transformers' `save_pretrained`

A checkpoint directory is written under a temporary name, fsynced and renamed, and only then does
`latest.json` (itself replaced atomically) point at it: a crash or a diverging loss can never leave
`latest.json` naming a half-written or bad checkpoint. The two newest checkpoints are kept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.files import replace_dir, temporary_beside, write_json
from classroom_mode.model.backbone import quiet_transformers
from classroom_mode.model.jepa.recipe import PretrainRecipe
from classroom_mode.model.jepa.summary import HistoryEntry, read_history
from classroom_mode.model.jepa.trainer import JEPATrainer

FORMAT = "classroom-mode-jepa-checkpoint/2"
KEEP = 2


def checkpoints_dir(out: Path) -> Path:
    return out / "checkpoints"


def _state_tensors(trainer: JEPATrainer) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for name, module in trainer.modules().items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().cpu().contiguous()
    for index, state in trainer.optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.generator"] = trainer.generator.get_state()
    return tensors


def save_checkpoint(out: Path, trainer: JEPATrainer, history: list[HistoryEntry]) -> Path:
    """Write the trainer's full state as a new checkpoint and point `latest.json` at it; returns its directory."""
    root = checkpoints_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{trainer.step:06d}"
    tmp = temporary_beside(root / name, directory=True)
    save_file(_state_tensors(trainer), str(tmp / "state.safetensors"), metadata={"format": FORMAT})
    param_groups = [{k: v for k, v in group.items()} for group in trainer.optimizer.state_dict()["param_groups"]]
    meta = {
        "format": FORMAT,
        "step": trainer.step,
        "recipe": trainer.recipe.model_dump(mode="json"),
        "optimizer_param_groups": param_groups,
        "history": [entry.model_dump(mode="json") for entry in history],
    }
    write_json(tmp / "state.json", meta)
    final = replace_dir(tmp, root / name)
    write_json(root / "latest.json", {"step": trainer.step, "directory": name})
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    """The directory `latest.json` points at, or None when the run has no checkpoint yet."""
    pointer = checkpoints_dir(out) / "latest.json"
    if not pointer.is_file():
        return None
    try:
        directory = checkpoints_dir(out) / json.loads(pointer.read_text())["directory"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{pointer}: unreadable checkpoint pointer ({exc})") from None
    if not (directory / "state.json").is_file():
        raise UserError(f"{pointer}: points at {directory.name}, which is missing")
    return directory


def read_checkpoint_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / "state.json").read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{directory / 'state.json'}: unreadable ({exc})") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{directory / 'state.json'}: not a {FORMAT} checkpoint")
    return meta


def checkpoint_recipe(directory: Path) -> PretrainRecipe:
    return PretrainRecipe.model_validate(read_checkpoint_meta(directory)["recipe"])


def load_checkpoint(directory: Path, trainer: JEPATrainer) -> list[HistoryEntry]:
    """Restore a trainer (built with the checkpoint's recipe) to the saved state; returns the saved history."""
    meta = read_checkpoint_meta(directory)
    try:
        tensors = load_file(str(directory / "state.safetensors"))
    except (OSError, SafetensorError) as exc:
        raise UserError(f"{directory / 'state.safetensors'}: unreadable ({exc})") from None
    for name, module in trainer.modules().items():
        prefix = f"{name}."
        state = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
        module.load_state_dict(state, strict=True)
    optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            optimizer_state.setdefault(int(index), {})[name] = value
    try:
        trainer.optimizer.load_state_dict({"state": optimizer_state, "param_groups": meta["optimizer_param_groups"]})
    except (ValueError, KeyError) as exc:
        raise ClassroomModeError(f"{directory}: optimizer state does not fit this model ({exc})") from None
    trainer.generator.set_state(tensors["rng.generator"])
    trainer.step = int(meta["step"])
    return read_history(meta.get("history", []))


def export_pretrained(trainer: JEPATrainer, directory: Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write the exported encoder + predictor as a `VJEPA2Model` with its own `save_pretrained`, atomically."""
    tmp = temporary_beside(directory, directory=True)
    with quiet_transformers():  # no progress bar for one small file
        trainer.export_model(dtype).save_pretrained(tmp)
    replace_dir(tmp, directory)
    return directory
