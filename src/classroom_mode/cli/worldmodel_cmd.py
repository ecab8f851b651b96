"""`pretrain` (V-JEPA self-supervised training on a folder of clips) and `surprise` (prediction error)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classroom_mode.cli.common import JsonOption, console, info, print_json, progress_bar


def register(app: typer.Typer) -> None:
    @app.command("pretrain")
    def pretrain(
        data: Annotated[
            Path, typer.Option("--data", help="folder of clips, read recursively (labelled or unlabeled/)")
        ],
        out: Annotated[Path, typer.Option("--out", help="run folder: checkpoints, decoded clips, model/")],
        steps: Annotated[int, typer.Option("--steps", min=1, help="optimizer steps in the whole run")],
        init: Annotated[str | None, typer.Option("--init", help="backbone to adapt: hub id or directory")] = None,
        preset: Annotated[
            str | None, typer.Option("--config", help="train from scratch with a named architecture: small")
        ] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="clips per micro-batch")] = 8,
        accumulation: Annotated[int, typer.Option("--accumulation", min=1, help="micro-batches per step")] = 1,
        lr: Annotated[float, typer.Option("--lr", min=0.0, help="peak learning rate (official: 5.25e-4)")] = 5.25e-4,
        warmup: Annotated[int, typer.Option("--warmup", min=0, help="warm-up steps")] = 40,
        seed: Annotated[int, typer.Option("--seed", help="seed of the weights, batches, crops and masks")] = 0,
        checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=1)] = 100,
        device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps")] = "auto",
        dtype: Annotated[str, typer.Option("--dtype", help="weights of the exported model: float32 or float16")] = (
            "float32"
        ),
        resume: Annotated[bool, typer.Option("--resume", help="continue the run saved in --out")] = False,
        force: Annotated[
            bool, typer.Option("--force", help="resume with changed options, or start over in a used --out")
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Adapt an encoder to unlabeled footage (or train the small one from scratch) with the V-JEPA objective."""
        import torch

        from classroom_mode.errors import UserError
        from classroom_mode.model.backbone import resolve_device
        from classroom_mode.model.jepa import pretrain as jepa
        from classroom_mode.model.jepa.recipe import PretrainRecipe
        from classroom_mode.video.decode import sample_clip

        dtypes = {"float32": torch.float32, "float16": torch.float16}
        if dtype not in dtypes:
            raise UserError(f"--dtype {dtype}: must be float32 or float16")
        recipe = PretrainRecipe(
            model=jepa.model_settings(init, preset),
            init=init,
            steps=steps,
            batch_size=batch_size,
            accumulation=accumulation,
            lr=lr,
            warmup_steps=min(warmup, steps),
            seed=seed,
            checkpoint_every=checkpoint_every,
        )
        with progress_bar("decoding clips", None) as (progress, task):

            def on_decode(total: int):
                progress.update(task, total=total)
                return lambda: progress.advance(task)

            run = jepa.prepare_run(
                recipe,
                data,
                out,
                resume=resume,
                force=force,
                device=resolve_device(device),
                read=lambda path, n: sample_clip(path, n).frames,
                on_decode=on_decode,
            )
        _print_skipped(run.skipped)
        start = run.trainer.step
        info(f"{len(run.bank)} clips; " + (f"resuming at step {start}" if run.resumed_from else "starting a new run"))
        with progress_bar("pretraining", steps) as (progress, task):
            progress.update(task, completed=start)

            def on_step(result) -> None:
                progress.update(task, completed=result.step, description=f"pretraining  loss {result.loss:.4f}")

            summary = jepa.train(run, dtype=dtypes[dtype], on_step=on_step, on_warning=lambda m: info(f"[red]{m}[/]"))
        final = summary["final"] or {}
        if as_json:
            print_json({k: v for k, v in summary.items() if k != "history"} | {"model": str(out / jepa.MODEL_DIR)})
            return
        console.print(
            f"model: {out / jepa.MODEL_DIR}  loss {final.get('loss', float('nan')):.4f}  "
            f"effective rank {final.get('effective_rank', float('nan')):.1f}  "
            f"{summary['clips_per_s'] or 0:.1f} clips/s"
        )


def _print_skipped(skipped: list[tuple[str, str]]) -> None:
    if not skipped:
        return
    from rich.table import Table

    table = Table("skipped file", "reason", title=f"{len(skipped)} file(s) skipped")
    for path, reason in skipped:
        table.add_row(path, reason)
    console.print(table)
