"""One V-JEPA training step, in nanoGPT's order: batch → masks → forward/backward → optimizer step → teacher.

Gradients accumulate over `recipe.accumulation` micro-batches before each AdamW step (weight decay on matrices
only, as the official code), after which an EMA teacher moves toward the student by the scheduled momentum; a
frozen teacher never moves; a pixels run has none. With room-grouped batches (`recipe.windows_per_room` > 1) the
windows of a room share one mask per generator. Every random draw (batches, crops, masks) comes from one seeded
generator whose state is checkpointed, so a resumed run takes exactly the step it would have taken.
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
from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2Encoder

from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.model.distributed import Ranks
from classroom_mode.model.jepa.collapse import CollapseStats, collapse_stats
from classroom_mode.model.jepa.data import ClipBank
from classroom_mode.model.jepa.objective import MaskPair, OnlineNetworks, jepa_loss, pixel_loss, sample_masks
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
    """The loss's parts (`l1`, and `dense` when on), averaged over micro-batches."""
    logged: bool
    """The first, the last or every `recipe.log_every`-th step: the ones the history records."""
    stats: CollapseStats | None
    """Collapse statistics of this step's teacher tokens, on logged steps of a run with a teacher."""


def frozen_teacher(recipe: PretrainRecipe, student: VJEPA2Encoder) -> VJEPA2Encoder:
    """The teacher that never moves: the encoder of `recipe.teacher_model`, or a copy of the student's starting
    weights (a random network of the same architecture for a run from scratch, as SALT's weakest teacher)."""
    if recipe.teacher_model is None:
        return copy.deepcopy(student)
    from classroom_mode.model.backbone import load_backbone

    teacher = load_backbone(recipe.teacher_model, device="cpu").model
    ours, theirs = TokenGrid.for_config(student.config), TokenGrid.for_config(teacher.config)
    if (ours, student.config.hidden_size) != (theirs, teacher.config.hidden_size):
        raise UserError(
            f"teacher {recipe.teacher_model}: its token grid {theirs.astuple()} × {teacher.config.hidden_size} "
            f"differs from the student's {ours.astuple()} × {student.config.hidden_size}"
        )
    if len(teacher.encoder.layer) < recipe.deep_levels:
        raise UserError(
            f"teacher {recipe.teacher_model}: deep_levels {recipe.deep_levels} reads {recipe.deep_levels} of its "
            f"layers; it has {len(teacher.encoder.layer)}"
        )
    return teacher.encoder


class JEPATrainer:
    """The student, predictor, teacher and optimizer of one run, stepped one batch at a time.

    Under torchrun (`ranks.distributed`) the online networks are wrapped in DistributedDataParallel: each rank
    plans the step's whole effective batch (per-rank batch × ranks × accumulation) with the same seeded generator
    and computes only its own rows, gradients are averaged across ranks, and the teacher, updated from identical
    weights, stays identical everywhere. A step therefore takes the same clips, crops and masks at any world
    size, which is what lets a checkpoint resume at another one.
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
        self.student = model.encoder.to(self.device).train().requires_grad_(True)
        self.predictor = model.predictor.to(self.device).train().requires_grad_(True)
        self.teacher = self._build_teacher()
        # the values of one tubelet: the clip's, shared among its tokens
        pixels = recipe.clip_frames * self.config.crop_size**2 * self.config.in_chans // self.grid.num_tokens
        self.networks = OnlineNetworks(
            self.student,
            self.predictor,
            dense=bool(recipe.dense_weight),
            pixels=pixels if recipe.teacher == "pixels" else 0,
            levels=recipe.deep_levels,
        ).to(self.device)
        self.online: nn.Module = self.networks
        if self.ranks.distributed:
            # a recipe with fewer mask generators than the predictor has mask tokens leaves some without gradient
            self.online = DistributedDataParallel(
                self.networks, device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )  # fmt: skip
        self.mask_specs = [m.spec() for m in recipe.masks]
        self.optimizer = torch.optim.AdamW(self._param_groups(), lr=recipe.lr, betas=(0.9, 0.999))
        self.generator = torch.Generator().manual_seed(recipe.seed)
        self.step = 0

    def _build_teacher(self) -> VJEPA2Encoder | None:
        """The encoder whose tokens are the targets: a copy of the student to follow it (ema), a frozen network,
        or none (pixels)."""
        if self.recipe.teacher == "pixels":
            return None
        teacher = (
            copy.deepcopy(self.student) if self.recipe.teacher == "ema" else frozen_teacher(self.recipe, self.student)
        )
        return teacher.to(self.device).eval().requires_grad_(False)

    def _param_groups(self) -> list[dict]:
        params = list(self.networks.parameters())
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]  # biases and LayerNorm gains, as the official recipe
        return [
            {"params": decay, "weight_decay": self.recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    @property
    def exported_encoder(self) -> VJEPA2Encoder:
        """The encoder the run exports and measures (`PretrainRecipe.exports_student`)."""
        if self.teacher is None or self.recipe.exports_student:
            return self.student
        return self.teacher

    def sample_masks(self, batch: int) -> list[MaskPair]:
        """One context/target pair per mask generator for `batch` clips (a room group's windows share theirs)."""
        group = self.recipe.windows_per_room
        return [sample_masks(self.grid, spec, batch, self.generator, repeat=group) for spec in self.mask_specs]

    def loss(
        self, pixel_values: torch.Tensor, masks: list[MaskPair] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """The loss of one batch (B, T, C, H, W) on this run's networks, its teacher's tokens (None without a
        teacher) and its parts: `objective.jepa_loss` at this step's dense weight, or `objective.pixel_loss`
        for a run without a teacher. `masks` (one pair per generator, B rows each) are drawn from the run's
        generator when not given."""
        pixel_values = pixel_values.to(self.device)
        if masks is None:
            masks = self.sample_masks(pixel_values.shape[0])
        masks = [m.to(self.device) for m in masks]
        if self.teacher is None:
            loss, parts = pixel_loss(self.online, pixel_values, masks, self.grid)
            return loss, None, parts
        dense = self.recipe.dense_at(self.step)
        return jepa_loss(
            self.online, self.teacher, pixel_values, masks, self.grid, dense=dense, levels=self.recipe.deep_levels
        )

    def train_step(self, bank: ClipBank) -> StepResult:
        """One optimizer step: the effective batch planned, this rank's micro-batches through forward and backward."""
        started = time.perf_counter()
        recipe, ranks = self.recipe, self.ranks
        per_rank = recipe.batch_size * recipe.accumulation
        effective = per_rank * ranks.world_size
        plan = bank.plan(effective, self.generator, recipe.random_resized_crop, recipe.windows_per_room)
        masks = self.sample_masks(effective)
        lr = recipe.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        total, terms, targets = 0.0, dict[str, float](), None
        for micro in range(recipe.accumulation):
            start = ranks.rank * per_rank + micro * recipe.batch_size
            rows = slice(start, start + recipe.batch_size)
            last = micro == recipe.accumulation - 1
            # gradients are averaged across ranks once, on the last micro-batch's backward
            sync = contextlib.nullcontext() if last or not ranks.distributed else self.online.no_sync()  # type: ignore[operator]
            with sync:
                loss, targets, parts = self.loss(bank.materialise(plan, rows), [m.rows(rows) for m in masks])
                if not torch.isfinite(loss):
                    raise DivergedError(f"the loss became {loss.item()} at step {self.step + 1}")
                (loss / recipe.accumulation).backward()
            total += loss.item() / recipe.accumulation
            for name, value in parts.items():
                terms[name] = terms.get(name, 0.0) + value.item() / recipe.accumulation
        if ranks.distributed:  # what is logged is the whole effective batch's loss, not rank 0's share
            total, terms = self._averaged_across_ranks(total, terms)
        self.optimizer.step()
        momentum = recipe.ema_at(self.step)
        if recipe.teacher == "ema":
            self.update_teacher(momentum)
        self.step += 1
        logged = self.step % recipe.log_every == 0 or self.step in (1, recipe.steps)
        return StepResult(
            step=self.step,
            loss=total,
            lr=lr,
            momentum=momentum,
            clips=effective,
            seconds=time.perf_counter() - started,
            terms=terms,
            logged=logged,
            stats=collapse_stats(targets) if logged and targets is not None else None,
        )

    def _averaged_across_ranks(self, total: float, terms: dict[str, float]) -> tuple[float, dict[str, float]]:
        names = sorted(terms)
        summed = self.ranks.sum([total, *(terms[n] for n in names)])
        world = self.ranks.world_size
        return summed[0] / world, {n: v / world for n, v in zip(names, summed[1:], strict=True)}

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher ← momentum · teacher + (1 − momentum) · student, parameter by parameter."""
        if self.teacher is None:
            raise ClassroomModeError("a run without a teacher has none to update")
        teacher: list[torch.Tensor] = list(self.teacher.parameters())
        student = [p.detach() for p in self.student.parameters()]
        torch._foreach_mul_(teacher, momentum)
        torch._foreach_add_(teacher, student, alpha=1.0 - momentum)

    def modules(self) -> dict[str, nn.Module]:
        """Every network whose state a checkpoint keeps, by its name there."""
        named: dict[str, nn.Module | None] = {
            "student": self.student,
            "teacher": self.teacher,
            "predictor": self.predictor,
            "visible_head": self.networks.visible_head,
            "pixel_head": self.networks.pixel_head,
            "fuse": self.networks.fuse,
            "deep_head": self.networks.deep_head,
        }
        return {name: module for name, module in named.items() if module is not None}

    def export_model(self, dtype: torch.dtype = torch.float32) -> VJEPA2Model:
        """A `VJEPA2Model` of the exported encoder (`exported_encoder`) and the trained predictor."""
        model = VJEPA2Model(self.config)
        state = {f"encoder.{k}": v for k, v in self.exported_encoder.state_dict().items()}
        state |= {f"predictor.{k}": v for k, v in self.predictor.state_dict().items()}
        model.load_state_dict(state, strict=True)
        return model.to(dtype=dtype).eval()  # type: ignore[call-arg]  # transformers types `to` as an unbound wrapper
