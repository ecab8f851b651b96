"""`embed` (a data folder through the cached V-JEPA 2 encoder) and `models` (list / pull backbones)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from classroom_mode.cli.groups import add_group
from classroom_mode.cli.options import ConfigOption, DeviceOption, JsonOption, ModelOption, config_from
from classroom_mode.cli.output import (
    console,
    err_console,
    info,
    print_json,
    print_skipped,
    progress_bar,
    quiet_unless_main,
    warn,
)
from classroom_mode.errors import ClassroomModeError, UserError

if TYPE_CHECKING:
    from classroom_mode.model.backbone import Backbone
    from classroom_mode.model.distributed import Ranks
    from classroom_mode.model.embed_folder import FolderEmbedding


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
    add_group(app, "models", "List or download V-JEPA 2 backbones.", {"list": models_list, "pull": models_pull})


def embed(  # noqa: PLR0913 -- a Typer command: one parameter per option
    data_dir: Annotated[Path, typer.Argument(help="data folder: DATA/<mode>/<clip> and DATA/unlabeled/")],
    model: ModelOption = None,
    exact_tokens: Annotated[
        bool, typer.Option("--exact-tokens", help="keep every (time, row, col) token instead of time-averaged ones")
    ] = False,
    device: DeviceOption = None,
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
    from classroom_mode.model.embed_folder import EmbedOptions, embed_folder

    options = EmbedOptions(model, device, quantize, exact_tokens, batch_size)
    cfg = config_from(config)
    found = embed_folder(data_dir, cfg, options, _Shown())
    if not found.ranks.is_main:  # rank 0 lists its own with the summary
        for entry in found.skipped:
            err_console.print(f"rank {found.ranks.rank}: skipped {entry.path}: {entry.reason}", soft_wrap=True)
    elif as_json:
        print_json(_summary(found, cfg.paths.cache))
    else:
        _print_outcome(found)


class _Shown:
    """How `embed` shows a run: rank 0's status lines and progress bar; the other ranks keep quiet."""

    def started(self, ranks: Ranks) -> None:
        quiet_unless_main(ranks.is_main)

    def loaded(self, backbone: Backbone) -> None:
        info(f"backbone: {backbone.describe()}")

    @contextmanager
    def embedding(self, clips: int) -> Iterator[Callable[[int], None]]:
        with progress_bar("embedding", total=clips) as (bar, task):
            yield lambda n: bar.advance(task, n)


def _summary(found: FolderEmbedding, cache: Path) -> dict[str, Any]:
    backbone, ranks = found.backbone, found.ranks
    summary: dict[str, Any] = {
        "model": backbone.model_id,
        "random_weights": backbone.random_weights,
        "fingerprint": backbone.fingerprint,
        "numerics": backbone.numerics,
        "fidelity_cosine_to_fp32": found.fidelity,
        "cache": str(cache),
        "cached": found.cached,
        "encoded": found.encoded,
        "ranks": ranks.world_size,
        "skipped": found.skipped,
    }
    if ranks.distributed:
        summary["skipped_on_all_ranks"] = found.skipped_on_all_ranks  # the list is rank 0's; the others printed theirs
    return summary


def _print_outcome(found: FolderEmbedding) -> None:
    backbone, ranks = found.backbone, found.ranks
    where = f" on {ranks.world_size} ranks" if ranks.distributed else ""
    info(f"{found.cached} cached, {found.encoded} encoded, {found.skipped_on_all_ranks} skipped{where}")
    if backbone.random_weights:
        warn("RANDOM weights: these embeddings are for tests and timing only")
    if found.fidelity is not None and found.fidelity_clip is not None:
        on = found.fidelity_clip.name
        info(f"{backbone.numerics}: cosine similarity {found.fidelity:.6f} to the fp32 encoder on {on}")
    print_skipped(found.skipped)


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
