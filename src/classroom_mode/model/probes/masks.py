"""The privacy mask a probe is made for: which one its clips were recorded under, and refusing another.

A probe learns the picture as its clips showed it, black polygons included. On a camera whose mask differs it
would read a region it never saw (or miss one it relied on) and answer with confidence all the same, so the
card keeps the mask's fingerprint and a live run refuses the mismatch with both fingerprints named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from classroom_mode.config import Config
from classroom_mode.errors import UserError
from classroom_mode.model.probes.card import ProbeCard
from classroom_mode.video.mask import NO_MASK, fingerprint
from classroom_mode.video.sessions import camera_field, session_of


def camera_mask(config: Config, camera_id: str) -> str:
    """The fingerprint of a configured camera's privacy mask."""
    return fingerprint(config.camera(camera_id)[1].privacy_masks)


def mask_of_clips(config: Config, paths: Sequence[Path], camera: str | None = None) -> str:
    """The mask the clips were recorded under: `camera`'s when named, else that of the configured cameras their
    names give (`CAMERA__SESSION__NAME`), else no mask. Clips of cameras with different masks are refused."""
    if camera is not None:
        return camera_mask(config, camera)
    by_field = {camera_field(cid): cid for room in config.rooms.values() for cid in room.cameras}
    named = {by_field[found[0]] for path in paths if (found := session_of(path)) and found[0] in by_field}
    masks = {cid: camera_mask(config, cid) for cid in sorted(named)}
    if len(set(masks.values())) > 1:
        listed = ", ".join(f"{cid}: {mask}" for cid, mask in masks.items())
        raise UserError(
            f"the clips come from cameras with different privacy masks ({listed}): train one probe per mask, "
            "naming its camera with --camera"
        )
    return next(iter(masks.values()), NO_MASK)


def check_mask(card: ProbeCard, probe: Path, camera_id: str, camera_fingerprint: str) -> None:
    """Refuse, in one line naming both fingerprints, a probe trained under another mask than the camera's."""
    trained = card.privacy_mask or NO_MASK
    if trained != camera_fingerprint:
        raise UserError(
            f"{probe}: trained under privacy mask {trained}, but camera {camera_id} has mask {camera_fingerprint}; "
            f"retrain it on clips recorded with this mask (`classroom-mode train DATA --camera {camera_id}`)"
        )
