"""`embed` (a data folder through the cached V-JEPA 2 encoder) and `models` (list / pull backbones)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from classroom_mode.cli.common import (
    ConfigOption,
    JsonOption,
    config_from,
    console,
    err_console,
    info,
    print_json,
    print_skipped,
    progress_bar,
    warn,
)
from classroom_mode.errors import ClassroomModeError, UserError


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
    models = typer.Typer(help="List or download V-JEPA 2 backbones.", no_args_is_help=True)
    models.command("list")(models_list)
    models.command("pull")(models_pull)
    app.add_typer(models, name="models")


def embed(
    data_dir: Annotated[Path, typer.Argument(help="data folder: DATA/<mode>/<clip> and DATA/unlabeled/")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="hub id, save_pretrained folder or config:NAME")
    ] = None,
    exact_tokens: Annotated[
        bool, typer.Option("--exact-tokens", help="keep every (time, row, col) token instead of time-averaged ones")
    ] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps (default: from config)")] = None,
    quantize: Annotated[str | None, typer.Option(help="none or int8 (CPU; default: from config)")] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="clips per encoder call (default: by free memory)")
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Embed every clip in a data folder with the V-JEPA 2 encoder; cached clips are not encoded again.

    Under `torchrun --nproc-per-node N` each rank embeds every N-th clip into the same cache (SQLite in WAL mode
    takes the writers in turn; keys are content hashes, so a rank killed and run again re-encodes nothing it
    had cached) and rank 0 reports the totals.
    """
    from classroom_mode.cli.common import quiet_unless_main
    from classroom_mode.model import distributed
    from classroom_mode.model.backbone import backbone_from_config, fidelity_to_fp32, resolve_device
    from classroom_mode.model.cache import EmbeddingCache
    from classroom_mode.model.embed import embed_paths
    from classroom_mode.video.dataset import list_labelled_clips, list_unlabeled_clips, overlooked

    cfg = config_from(config)
    paths = [c.path for c in list_labelled_clips(data_dir)] + list_unlabeled_clips(data_dir)
    if not paths:
        raise UserError(f"{data_dir}: no clips found (expected DATA/<mode>/<clip> or DATA/unlabeled/<clip>)")
    ranks, run_device = distributed.start(resolve_device(device or cfg.backbone.device))
    quiet_unless_main(ranks.is_main)
    with distributed.stopped_cleanly(ranks, "embedding (what was cached stays cached: run it again)"):
        # under torchrun the rank's own GPU is already the current one
        backbone = backbone_from_config(cfg.backbone, model=model, device=run_device.type, quantize=quantize)
        info(f"backbone: {backbone.describe()}")
        mine = ranks.shard(paths)
        with EmbeddingCache(cfg.paths.cache) as cache, progress_bar("embedding", total=len(mine)) as (bar, task):
            result = embed_paths(
                mine,
                backbone,
                cache,
                exact_tokens=exact_tokens,
                batch_size=batch_size,
                progress=lambda n: bar.advance(task, n),
            )
        if not ranks.is_main:  # rank 0 lists its own with the summary
            for entry in result.skipped:
                err_console.print(f"rank {ranks.rank}: skipped {entry.path}: {entry.reason}", soft_wrap=True)
        cached, encoded, failed = (int(n) for n in ranks.sum([result.cached, result.encoded, len(result.skipped)]))
        ranks.barrier()
    if not ranks.is_main:
        return
    left_out = overlooked(data_dir)  # what the folder holds that is not a clip the layout takes
    skipped = [*left_out, *result.skipped]
    fidelity = None
    if result.encoded and (backbone.numerics != "fp32" or backbone.compiled):
        first = next(iter(result.embeddings))  # fidelity on one clip: a second model is loaded for it
        from classroom_mode.video.decode import sample_clip

        pixels = backbone.preprocess([sample_clip(first, backbone.frames_per_clip)])
        fidelity = fidelity_to_fp32(backbone, pixels)
    summary: dict[str, Any] = {
        "model": backbone.model_id,
        "random_weights": backbone.random_weights,
        "fingerprint": backbone.fingerprint,
        "numerics": backbone.numerics,
        "fidelity_cosine_to_fp32": fidelity,
        "cache": str(cfg.paths.cache),
        "cached": cached,
        "encoded": encoded,
        "ranks": ranks.world_size,
        "skipped": skipped,
    }
    if ranks.distributed:
        summary["skipped_on_all_ranks"] = failed + len(left_out)  # the list is rank 0's; the others printed theirs
    if as_json:
        print_json(summary)
    else:
        where = f" on {ranks.world_size} ranks" if ranks.distributed else ""
        info(f"{cached} cached, {encoded} encoded, {failed + len(left_out)} skipped{where}")
        if backbone.random_weights:
            warn("RANDOM weights: these embeddings are for tests and timing only")
        if fidelity is not None:
            info(f"{backbone.numerics}: cosine similarity {fidelity:.6f} to the fp32 encoder on {first.name}")
        print_skipped(skipped)


def models_list(as_json: JsonOption = False) -> None:
    """Backbones available here: V-JEPA 2 models in the Hugging Face cache, the shipped model, named configs."""
    from classroom_mode.model.catalog import available_models

    entries = available_models()
    if as_json:
        print_json(entries)
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    for column in ("source", "size", "available", "note"):
        table.add_column(column)
    for e in entries:
        size = f"{e['size_bytes'] / 2**20:.1f} MiB" if e["size_bytes"] else "-"
        table.add_row(e["id"], e["source"], size, "yes" if e["available"] else "no", e["note"])
    console.print(table)


def models_pull(
    model_id: Annotated[str, typer.Argument(help="hub id, e.g. facebook/vjepa2-vitl-fpc64-256")],
    revision: Annotated[str | None, typer.Option(help="branch, tag or commit")] = None,
) -> None:
    """Download a V-JEPA 2 model into the Hugging Face cache and check that it loads strictly."""
    from classroom_mode.model.backbone import load_backbone
    from classroom_mode.model.catalog import pull_model

    snapshot = pull_model(model_id, revision)
    try:
        backbone = load_backbone(model_id, revision=revision, device="cpu")
    except UserError as exc:
        raise ClassroomModeError(f"downloaded to {snapshot} but it does not load: {exc}") from None
    loaded = backbone.load_report.summary() if backbone.load_report else "loaded"
    info(f"{model_id}: downloaded to {snapshot}; {loaded}")
