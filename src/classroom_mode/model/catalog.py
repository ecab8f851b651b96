"""Which backbones this machine has (`models list`) and fetching one into the Hugging Face cache (`models pull`).

Downloading happens only here, on the user's explicit request; `load_backbone` reads the cache and
never touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import VJEPA2Model

from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.model.backbone import SHIPPED_MODEL_DIR, SHIPPED_MODEL_ID
from classroom_mode.model.configs import CONFIG_PREFIX, NAMED_CONFIGS, named_config

PULL_PATTERNS = ["*.json", "*.safetensors"]
"""What `models pull` fetches: config and safetensors weights, never pickle-based files."""


def _entry(model_id: str, source: str, size: int, available: bool, note: str) -> dict[str, Any]:
    return {"id": model_id, "source": source, "size_bytes": size, "available": available, "note": note}


def _is_vjepa2(config_file: Path) -> bool:
    try:
        return json.loads(config_file.read_text()).get("model_type") == "vjepa2"
    except (OSError, ValueError, AttributeError):
        return False


def _hub_cache_models() -> list[dict[str, Any]]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir()
    except CacheNotFound:
        return []
    entries = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            if _is_vjepa2(revision.snapshot_path / "config.json"):
                refs = ", ".join(sorted(revision.refs)) or "no ref"
                entries.append(
                    _entry(repo.repo_id, "hugging face cache", revision.size_on_disk, True,
                           f"revision {revision.commit_hash[:12]} ({refs})")
                )  # fmt: skip
    return entries


def _parameter_count(name: str) -> int:
    with torch.device("meta"):  # shapes only: no memory, no random init
        return sum(p.numel() for p in VJEPA2Model(named_config(name)).parameters())


def available_models() -> list[dict[str, Any]]:
    """Every backbone `load_backbone` could load here, with its size on disk (bytes) and a note."""
    shipped_size = (
        sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.glob("*") if f.is_file()) if SHIPPED_MODEL_DIR.is_dir() else 0
    )
    shipped_ok = (SHIPPED_MODEL_DIR / "config.json").is_file()
    entries = _hub_cache_models()
    entries.append(
        _entry(SHIPPED_MODEL_ID, "shipped with classroom-mode", shipped_size, shipped_ok,
               "the project's small simulator-trained model" if shipped_ok else "not in this install yet")
    )  # fmt: skip
    for name in NAMED_CONFIGS:
        params = _parameter_count(name)
        entries.append(
            _entry(CONFIG_PREFIX + name, "named config", 0, True, f"RANDOM weights, {params / 1e6:.2f} M parameters")
        )
    return entries


def pull_model(model_id: str, revision: str | None = None) -> Path:
    """Download `model_id` (config + safetensors) into the Hugging Face cache; the snapshot directory."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return Path(snapshot_download(model_id, revision=revision, allow_patterns=PULL_PATTERNS))
    except (HFValidationError, GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        # gated is a subclass of not-found: ask for access; the others are a wrong id or revision
        raise UserError(f"{model_id}: {_first_line(exc)}") from None
    except Exception as exc:  # network down, offline mode, disk full: one line, not a traceback
        raise ClassroomModeError(
            f"{model_id}: download failed; is the network up? ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
