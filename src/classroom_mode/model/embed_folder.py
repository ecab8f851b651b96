"""A data folder's clips through the cached encoder, in one process or as one rank of a `torchrun` job.

What `classroom-mode embed` does, apart from showing it. Under `torchrun --nproc-per-node N` each rank embeds
every N-th clip into the same cache (SQLite in WAL mode takes the writers in turn; keys are content hashes, so a
rank killed and run again re-encodes nothing it had cached) and the counts are summed over the ranks. Rank 0 also
lists what the folder holds that the layout leaves out, and, for an encoder that is not the plain fp32 one (int8,
bf16, compiled), measures on one clip how closely it reproduces fp32, so a speed option never silently costs
accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from classroom_mode.config import Config
from classroom_mode.errors import UserError
from classroom_mode.model import distributed
from classroom_mode.model.backbone import Backbone, backbone_from_config, fidelity_to_fp32, resolve_device
from classroom_mode.model.cache import EmbeddingCache
from classroom_mode.model.distributed import Ranks
from classroom_mode.model.embed import EmbeddedClips, embed_paths
from classroom_mode.records import Skipped
from classroom_mode.video.dataset import list_labelled_clips, list_unlabeled_clips, overlooked
from classroom_mode.video.decode import sample_clip


@dataclass(frozen=True)
class EmbedOptions:
    """What a run may choose beside the config: another model, device or quantisation, exact tokens, batch size."""

    model: str | None = None
    device: str | None = None
    quantize: str | None = None
    exact_tokens: bool = False
    """Keep every (time, row, col) token instead of the time-averaged ones."""
    batch_size: int | None = None
    """Clips per encoder call; None sizes batches by free memory."""


class EmbedWatcher(Protocol):
    """What the caller shows of a run, called on every rank in this order (the CLI: status lines, a progress bar)."""

    def started(self, ranks: Ranks) -> None:
        """The job's ranks are known, before the model is loaded (and says what it says while loading)."""

    def loaded(self, backbone: Backbone) -> None:
        """The backbone is loaded."""

    def embedding(self, clips: int) -> AbstractContextManager[Callable[[int], None]]:
        """Around the embedding of this rank's `clips`: yields what is called with each n clips done."""
        ...


@dataclass
class FolderEmbedding:
    """What a run came to. The counts are the whole job's; the list of what was skipped is this rank's own."""

    backbone: Backbone
    ranks: Ranks
    cached: int
    encoded: int
    skipped: list[Skipped]
    """Rank 0: what the folder holds that the layout leaves out, then its own clips it could not embed. Another
    rank: its own clips it could not embed."""
    skipped_on_all_ranks: int
    fidelity: float | None = None
    """Mean token cosine similarity to the fp32 encoder, for an encoder that is not plain fp32 (rank 0 only)."""
    fidelity_clip: Path | None = None
    """The clip that fidelity was measured on."""


def embed_folder(data_dir: Path, config: Config, options: EmbedOptions, watcher: EmbedWatcher) -> FolderEmbedding:
    """Embed every clip of `data_dir` (DATA/<mode>/<clip> and DATA/unlabeled/) into the configured cache; clips
    already cached are read back, not encoded again. A rank stopped by another rank's failure says so in one line."""
    paths = [c.path for c in list_labelled_clips(data_dir)] + list_unlabeled_clips(data_dir)
    if not paths:
        raise UserError(f"{data_dir}: no clips found (expected DATA/<mode>/<clip> or DATA/unlabeled/<clip>)")
    ranks, run_device = distributed.start(resolve_device(options.device or config.backbone.device))
    watcher.started(ranks)
    with distributed.stopped_cleanly(ranks, "embedding (what was cached stays cached: run it again)"):
        # under torchrun the rank's own GPU is already the current one
        backbone = backbone_from_config(
            config.backbone, model=options.model, device=run_device.type, quantize=options.quantize
        )
        watcher.loaded(backbone)
        mine = ranks.shard(paths)
        with EmbeddingCache(config.paths.cache) as cache, watcher.embedding(len(mine)) as advance:
            result = embed_paths(
                mine,
                backbone,
                cache,
                exact_tokens=options.exact_tokens,
                batch_size=options.batch_size,
                progress=advance,
            )
        cached, encoded, failed = (int(n) for n in ranks.sum([result.cached, result.encoded, len(result.skipped)]))
        ranks.barrier()
    found = FolderEmbedding(backbone, ranks, cached, encoded, list(result.skipped), failed)
    if ranks.is_main:
        _finish_on_main(found, data_dir, result)
    return found


def _finish_on_main(found: FolderEmbedding, data_dir: Path, result: EmbeddedClips) -> None:
    """Rank 0's part once the job is done: the folder's left-out files ahead of the skipped clips, and the
    fidelity check (a second model is loaded for it, so it runs on one clip and only where it can differ)."""
    left_out = overlooked(data_dir)  # what the folder holds that is not a clip the layout takes
    found.skipped = [*left_out, *found.skipped]
    found.skipped_on_all_ranks += len(left_out)
    backbone = found.backbone
    if result.encoded and (backbone.numerics != "fp32" or backbone.compiled):
        found.fidelity_clip = next(iter(result.embeddings))
        pixels = backbone.preprocess([sample_clip(found.fidelity_clip, backbone.frames_per_clip)])
        found.fidelity = fidelity_to_fp32(backbone, pixels)
