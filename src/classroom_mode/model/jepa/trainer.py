"""One V-JEPA training step: the objective's loss (`objective.py`), then AdamW and the EMA update.

Gradients accumulate over `recipe.accumulation` micro-batches before each AdamW step (weight decay on matrices
only, as the official code), after which the target encoder moves toward the context encoder by the scheduled
EMA momentum. With room-grouped batches (`recipe.windows_per_room` > 1) the windows of a room share one mask
per generator. Every random draw (batches, crops, masks) comes from one seeded generator whose state is
checkpointed, so a resumed run takes exactly the step it would have taken.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from transformers import VJEPA2Model

from classroom_mode.errors import ClassroomModeError
from classroom_mode.model.distributed import Ranks
from classroom_mode.model.jepa.collapse import CollapseStats, collapse_stats
from classroom_mode.model.jepa.data import ClipBank
from classroom_mode.model.jepa.objective import MaskPair, OnlineNetworks, jepa_loss, sample_masks, sigreg_directions
from classroom_mode.model.jepa.recipe import PretrainRecipe
from classroom_mode.model.token_grid import TokenGrid


class DivergedError(ClassroomModeError):
    """The loss became NaN or infinite; the run stops and its last good checkpoint stays."""


@dataclass(frozen=True)
class StepResult:
    step: int
    """Optimizer steps done after this one."""
    loss: float
    lr: float
    momentum: float
    clips: int
    seconds: float
    terms: dict[str, float]
    """The loss's parts (the L1, and the within-room terms a recipe adds), averaged over micro-batches."""
    stats: CollapseStats | None
    """Collapse statistics of this step's targets: on the first, the last and every `recipe.log_every`-th step."""


class JEPATrainer:
    """The context encoder, predictor, EMA target encoder and optimizer of one run, stepped one batch at a time.

    Under torchrun (`ranks.distributed`) the online pair is wrapped in DistributedDataParallel: each rank plans
    the step's whole effective batch (per-rank batch × ranks × accumulation) with the same seeded generator
    and computes only its own rows, gradients are averaged across ranks, and the EMA target, updated from
    identical weights, stays identical everywhere. A step therefore takes the same clips, crops and masks at
    any world size, which is what lets a checkpoint resume at another one.
    """

    def __init__(
        self,
        recipe: PretrainRecipe,
        model: VJEPA2Model,
        device: torch.device | None = None,
        ranks: Ranks | None = None,
    ) -> None:
        self.recipe = recipe
        self.config = model.config
        self.device = device or torch.device("cpu")
        self.ranks = ranks or Ranks()
        self.grid = TokenGrid.for_config(model.config, recipe.clip_frames)
        self.encoder = model.encoder.to(self.device).train().requires_grad_(True)
        self.predictor = model.predictor.to(self.device).train().requires_grad_(True)
        self.online: nn.Module = OnlineNetworks(self.encoder, self.predictor, self.grid.num_tokens)
        if self.ranks.distributed:
            # the predictor holds one mask token per generator slot; slots a recipe leaves unused get no gradient
            self.online = DistributedDataParallel(
                self.online, device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )  # fmt: skip
        self.target_encoder = copy.deepcopy(self.encoder).eval().requires_grad_(False)
        self.mask_specs = [m.spec() for m in recipe.masks]
        self.optimizer = torch.optim.AdamW(self._param_groups(), lr=recipe.lr, betas=(0.9, 0.999))
        self.generator = torch.Generator().manual_seed(recipe.seed)
        self.step = 0

    def _param_groups(self) -> list[dict]:
        params = [p for m in (self.encoder, self.predictor) for p in m.parameters()]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]  # biases and LayerNorm gains, as the official recipe
        return [
            {"params": decay, "weight_decay": self.recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    def sample_masks(self, batch: int) -> list[MaskPair]:
        """One context/target pair per mask generator for `batch` clips (a room group's windows share theirs)."""
        group = self.recipe.windows_per_room
        return [sample_masks(self.grid, spec, batch, self.generator, repeat=group) for spec in self.mask_specs]

    def sample_directions(self) -> torch.Tensor | None:
        """SIGReg's directions for one step, the same on every rank (None when the recipe has no SIGReg)."""
        if not self.recipe.sigreg_weight:
            return None
        return sigreg_directions(self.config.hidden_size, self.generator)

    def loss(
        self,
        pixel_values: torch.Tensor,
        masks: list[MaskPair] | None = None,
        directions: torch.Tensor | None = None,
        target_pixel_values: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """`objective.jepa_loss` of one batch (B, T, C, H, W) on this run's networks and recipe.

        `masks` (one pair per generator, B rows each) and SIGReg's directions are drawn from the run's generator
        when not given; `target_pixel_values` is what the target encoder reads instead of the batch itself.
        """
        pixel_values = pixel_values.to(self.device)
        if target_pixel_values is not None:
            target_pixel_values = target_pixel_values.to(self.device)
        if masks is None:
            masks = self.sample_masks(pixel_values.shape[0])
        if directions is None:
            directions = self.sample_directions()
        masks = [MaskPair(m.context.to(self.device), m.target.to(self.device)) for m in masks]
        settings = self.recipe.loss_settings()
        return jepa_loss(
            self.online, self.target_encoder, pixel_values, masks, settings, directions, target_pixel_values
        )

    def train_step(self, bank: ClipBank) -> StepResult:
        """One optimizer step: the effective batch planned, this rank's micro-batches through forward and backward."""
        started = time.perf_counter()
        recipe, ranks = self.recipe, self.ranks
        lr = recipe.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        per_rank = recipe.batch_size * recipe.accumulation
        effective = per_rank * ranks.world_size
        plan = bank.plan(effective, self.generator, recipe.random_resized_crop, recipe.windows_per_room)
        masks = self.sample_masks(effective)
        directions = self.sample_directions()
        total = 0.0
        terms: dict[str, float] = {}
        for micro in range(recipe.accumulation):
            start = ranks.rank * per_rank + micro * recipe.batch_size
            rows = slice(start, start + recipe.batch_size)
            pixel_values = bank.materialise(plan, rows)
            erased = bank.materialise(plan, rows, erased=True) if recipe.erases_targets else None
            last = micro == recipe.accumulation - 1
            # gradients are averaged across ranks once, on the last micro-batch's backward
            sync = contextlib.nullcontext() if last or not ranks.distributed else self.online.no_sync()  # type: ignore[operator]
            with sync:
                loss, targets, parts = self.loss(
                    pixel_values, [MaskPair(m.context[rows], m.target[rows]) for m in masks], directions, erased
                )
                if not torch.isfinite(loss):
                    raise DivergedError(f"the loss became {loss.item()} at step {self.step + 1}")
                (loss / recipe.accumulation).backward()
            total += loss.item() / recipe.accumulation
            for name, value in parts.items():
                terms[name] = terms.get(name, 0.0) + value.item() / recipe.accumulation
        if ranks.distributed:  # what is logged is the whole effective batch's loss, not rank 0's share
            names = sorted(terms)
            summed = ranks.sum([total, *(terms[n] for n in names)])
            total, terms = (
                summed[0] / ranks.world_size,
                {n: v / ranks.world_size for n, v in zip(names, summed[1:], strict=True)},
            )
        self.optimizer.step()
        momentum = recipe.ema_at(self.step)
        self.update_target(momentum)
        self.step += 1
        logged = self.step % recipe.log_every == 0 or self.step in (1, recipe.steps)
        stats = collapse_stats(targets) if logged else None
        return StepResult(
            step=self.step,
            loss=total,
            lr=lr,
            momentum=momentum,
            clips=effective,
            seconds=time.perf_counter() - started,
            terms=terms,
            stats=stats,
        )

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """target ← momentum · target + (1 − momentum) · context encoder, parameter by parameter."""
        for target, online in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            target.mul_(momentum).add_(online.detach(), alpha=1.0 - momentum)

    def export_model(self, dtype: torch.dtype = torch.float32) -> VJEPA2Model:
        """A `VJEPA2Model` whose encoder is the EMA target encoder and whose predictor is the trained one."""
        model = VJEPA2Model(self.config)
        state = {f"encoder.{k}": v for k, v in self.target_encoder.state_dict().items()}
        state |= {f"predictor.{k}": v for k, v in self.predictor.state_dict().items()}
        model.load_state_dict(state, strict=True)
        return model.to(dtype=dtype).eval()  # type: ignore[call-arg]  # transformers types `to` as an unbound wrapper
