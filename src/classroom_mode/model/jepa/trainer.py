"""One V-JEPA training step: masked context → predictor → L1 against EMA targets, then AdamW and the EMA update.

Per clip and per mask generator: the context encoder encodes the visible tokens alone, the predictor fills in
the masked ones from the context outputs and learnable mask tokens with their positions, and the loss is the
L1 distance to the target encoder's non-affine layer-normalised tokens of the full clip (stop-gradient). The
loss averages over generators; gradients accumulate over `recipe.accumulation` micro-batches before each
AdamW step (weight decay on matrices only, as the official code), after which the target encoder moves toward
the context encoder by the scheduled EMA momentum. With room-grouped batches (`recipe.windows_per_room` > 1)
the windows of a room share one mask per generator, and the recipe may centre the targets per room or add
the within-room variance-covariance terms (`within_room.py`). Every random draw (batches, crops, masks) comes from one
seeded generator whose state is checkpointed, so a resumed run takes exactly the step it would have taken.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass

import torch
from transformers import VJEPA2Model

from classroom_mode.errors import ClassroomModeError
from classroom_mode.model.jepa.collapse import CollapseStats, collapse_stats
from classroom_mode.model.jepa.context import encode_context, gather_tokens, predict, target_tokens
from classroom_mode.model.jepa.data import ClipBank
from classroom_mode.model.jepa.masks import TokenGrid, sample_masks
from classroom_mode.model.jepa.recipe import PretrainRecipe
from classroom_mode.model.jepa.within_room import centre_per_room, variance_covariance


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
    """The context encoder, predictor, EMA target encoder and optimizer of one run, stepped one batch at a time."""

    def __init__(self, recipe: PretrainRecipe, model: VJEPA2Model, device: torch.device | None = None) -> None:
        self.recipe = recipe
        self.config = model.config
        self.device = device or torch.device("cpu")
        self.grid = TokenGrid.for_config(model.config, recipe.clip_frames)
        self.encoder = model.encoder.to(self.device).train().requires_grad_(True)
        self.predictor = model.predictor.to(self.device).train().requires_grad_(True)
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

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def loss(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The JEPA loss of one batch (B, T, C, H, W), averaged over mask generators; also the targets and parts."""
        recipe = self.recipe
        group = recipe.windows_per_room
        pixel_values = pixel_values.to(self.device)
        batch = pixel_values.shape[0]
        with torch.no_grad(), self._autocast():
            targets = target_tokens(self.target_encoder, pixel_values).float()
        regression = centre_per_room(targets, group) if recipe.target_centring == "room" else targets
        terms: dict[str, list[torch.Tensor]] = {"l1": [], "variance": [], "covariance": []}
        for spec in self.mask_specs:
            masks = sample_masks(self.grid, spec, batch, self.generator, repeat=group)
            visible, hidden = masks.context.to(self.device), masks.target.to(self.device)
            with self._autocast():
                context = encode_context(self.encoder, pixel_values, visible)
                predicted = predict(self.predictor, context, visible, hidden, self.grid.num_tokens)
            terms["l1"].append((predicted.float() - gather_tokens(regression, hidden)).abs().mean())
            if recipe.variance_weight or recipe.covariance_weight:
                variance, covariance = variance_covariance(context, group)
                terms["variance"].append(variance)
                terms["covariance"].append(covariance)
        parts = {name: torch.stack(values).mean() for name, values in terms.items() if values}
        total = parts["l1"]
        if "variance" in parts:
            total = total + recipe.variance_weight * parts["variance"] + recipe.covariance_weight * parts["covariance"]
        return total, targets, parts

    def train_step(self, bank: ClipBank) -> StepResult:
        """One optimizer step over `recipe.accumulation` micro-batches drawn from `bank`."""
        started = time.perf_counter()
        recipe = self.recipe
        lr = recipe.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        terms: dict[str, float] = {}
        for _ in range(recipe.accumulation):
            pixel_values = bank.batch(
                recipe.batch_size, self.generator, recipe.random_resized_crop, recipe.windows_per_room
            )
            loss, targets, parts = self.loss(pixel_values)
            if not torch.isfinite(loss):
                raise DivergedError(f"the loss became {loss.item()} at step {self.step + 1}")
            (loss / recipe.accumulation).backward()
            total += loss.item() / recipe.accumulation
            for name, value in parts.items():
                terms[name] = terms.get(name, 0.0) + value.item() / recipe.accumulation
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
            clips=recipe.batch_size * recipe.accumulation,
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
        return model.to(dtype).eval()
