"""Attentive probe in the official V-JEPA style, trained as a small lr × weight-decay grid in one pass.

A learned query token cross-attends over the frozen patch tokens (after an optional stack of
self-attention blocks; the official probe uses 3 + 1 blocks and 16 heads). The modules are
`transformers`' own `VJEPA2AttentivePooler`, built from a small `VJEPA2Config` whose width is the token
width, beside a linear classifier: a saved probe's `pooler.*` and `classifier.*` tensors are named as in
`VJEPA2ForVideoClassification`. The pooler carries no positions (the
encoder's tokens were produced with RoPE), so fixed 2-D sin-cos positions of the (rows, cols) grid
can be added to the tokens; whether that helps is measured in benchmarks/bench_probes.py. Unlike the
official probe, which sees many scenes, ours belongs to one fixed camera: by default it first subtracts
the mean token at each grid position over its training clips, so what it attends to is how each place
differs from its usual look (benchmarks/bench_room_probe.py measures this against no subtraction).

Training follows the official frozen evaluation: every (lr, weight decay) pair is its own head,
all heads see the same batches in one loop, each keeps its best epoch on an inner validation split
(early stopping), and the head with the best validation score is kept, with a softmax temperature
fitted on the same split. The kept head has seen only the training side of that split (as in the
official protocol); nothing the test clips of an outer fold could influence is used for any choice.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional
from transformers import VJEPA2Config
from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2AttentivePooler, VJEPA2PoolerSelfAttentionLayer

from classroom_mode.errors import UserError
from classroom_mode.model.compute import one_thread
from classroom_mode.model.probes.calibration import fit_temperature
from classroom_mode.model.probes.features import FeatureSet
from classroom_mode.model.schedule import warmup_cosine

TEMPERATURES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
"""Softmax temperatures tried on the validation split, so `uncertain_below` reads a calibrated probability."""
MIN_CLIPS_PER_CLASS = 3
"""An inner validation split needs at least one clip per class on each side, plus one to spare."""


@dataclass(frozen=True)
class AttentiveSettings:
    """Architecture and training schedule of the attentive probe (the grid is trained in parallel)."""

    self_attention_layers: int = 0
    num_heads: int = 16
    """Upper bound: the largest divisor of the token width not above this is used."""
    mlp_ratio: float = 4.0
    positions: str = "sincos"
    """'sincos' adds fixed 2-D positions of the patch grid to the tokens; 'none' leaves them as they are."""
    background: str = "mean"
    """'mean' subtracts the training clips' mean token at each grid position before anything else; 'none' does not.

    A probe belongs to one fixed camera, so most of every token is the room itself (walls, desks, the light);
    what tells the modes apart is how each place differs from its usual look, which is what is left.
    """
    learning_rates: tuple[float, ...] = (1e-2, 3e-3, 1e-3)
    weight_decays: tuple[float, ...] = (0.01, 0.1)
    max_epochs: int = 100
    patience: int = 20
    warmup_fraction: float = 0.1
    batch_size: int = 32
    val_fraction: float = 0.2

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AttentiveClassifier(nn.Module):
    """Query token → (self-attention blocks over the tokens) → cross-attention → linear classifier."""

    positions: torch.Tensor
    background: torch.Tensor | None

    def __init__(self, dim: int, grid: tuple[int, int], n_classes: int, settings: AttentiveSettings):
        super().__init__()
        heads = _heads_for(dim, settings.num_heads)
        config = VJEPA2Config(
            hidden_size=dim, num_attention_heads=heads, mlp_ratio=settings.mlp_ratio, num_pooler_layers=0
        )
        config._attn_implementation = "sdpa"  # for the self-attention blocks; cross-attention: see cross_attend
        # drawn in the order probes always drew them (query, blocks, cross-attention), so a seed gives the probe it
        # gave before the modules were the pooler's: with 80 clips a different start moves a room's score by points
        query = nn.init.trunc_normal_(torch.empty(1, 1, dim), std=0.02)
        blocks = [VJEPA2PoolerSelfAttentionLayer(config) for _ in range(settings.self_attention_layers)]
        self.pooler = VJEPA2AttentivePooler(config)  # num_pooler_layers=0: the cross-attention layer alone
        self.pooler.query_tokens = nn.Parameter(query)
        self.pooler.self_attention_layers = nn.ModuleList(blocks)
        self.classifier = nn.Linear(dim, n_classes)
        positions = sincos_2d(grid, dim) if settings.positions == "sincos" else torch.zeros(grid[0] * grid[1], dim)
        self.register_buffer("positions", positions, persistent=False)
        background = torch.zeros(grid[0] * grid[1], dim) if settings.background == "mean" else None
        self.register_buffer("background", background)  # None: not a buffer, not in the saved tensors

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, C) and the query's attention over the tokens (B, N), averaged over heads."""
        hidden = tokens + self.positions if self.background is None else tokens - self.background + self.positions
        for block in self.pooler.self_attention_layers:
            hidden = block(hidden, attention_mask=None)[0]
        pooled, attention = self.cross_attend(hidden)
        return self.classifier(pooled), attention.mean(dim=1)

    def cross_attend(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pooler's cross-attention for its one learned query, in an exactly equal but cheaper order.

        Returns (B, D) pooled and (B, H, N) attention.

        `transformers`' layer projects all N tokens to keys and values (2·N·D² per clip: hours per probe
        on CPU for ViT-L's 256 × 1024 tokens). With a single query, the key projection can be folded into
        the query (q·W_k·LN(x) = (W_kᵀq)·LN(x); the key bias and LayerNorm shift only add a constant per
        head, which softmax ignores), and the value projection moved after the attention-weighted sum
        (the weights sum to one), so each clip costs O(N·D·H + D²). Same parameters, same outputs: a
        test checks this against the layer's own forward.
        """
        layer, query_token = self.pooler.cross_attention_layer, self.pooler.query_tokens.view(1, -1)
        attn = layer.cross_attn
        batch, _, dim = hidden.shape
        heads, head_dim = attn.num_heads, attn.head_dim
        norm = layer.layer_norm1
        normalised = functional.layer_norm(hidden, (dim,), eps=norm.eps)  # LN without its affine part
        query = attn.q_proj(query_token).view(heads, head_dim)
        folded = torch.einsum("hd,hdk->hk", query, attn.k_proj.weight.view(heads, head_dim, dim)) * attn.scale
        attention = torch.einsum("bnk,hk->bhn", normalised, folded * norm.weight).softmax(dim=-1)
        mixed = torch.einsum("bhn,bnk->bhk", attention, normalised) * norm.weight + norm.bias
        values = torch.einsum("bhk,hdk->bhd", mixed, attn.v_proj.weight.view(heads, head_dim, dim))
        pooled = query_token + (values + attn.v_proj.bias.view(heads, head_dim)).reshape(batch, dim)
        return pooled + layer.mlp(layer.layer_norm2(pooled)), attention


@dataclass
class AttentiveHead:
    kind: ClassVar[str] = "attentive"
    model: AttentiveClassifier
    settings: AttentiveSettings
    dim: int
    grid: tuple[int, int]
    n_classes: int
    temperature: float = 1.0
    """Logits are divided by this (fitted on the validation split: small probes are overconfident)."""
    chosen: dict[str, Any] = field(default_factory=dict)
    """The grid point kept and its validation scores, plus every head's scores, for the sidecar."""

    @classmethod
    def fit(
        cls,
        features: FeatureSet,
        y: np.ndarray,
        n_classes: int,
        *,
        seed: int = 0,
        settings: AttentiveSettings | None = None,
    ) -> AttentiveHead:
        settings = settings or AttentiveSettings()
        if features.tokens is None or features.grid is None:
            raise UserError("the attentive probe needs patch tokens, and these embeddings carry none")
        smallest = int(np.bincount(y, minlength=n_classes).min())
        if smallest < MIN_CLIPS_PER_CLASS:
            raise UserError(
                f"the attentive probe needs at least {MIN_CLIPS_PER_CLASS} clips per mode (the smallest has "
                f"{smallest}); use --probe prototype"
            )
        with torch.random.fork_rng(devices=[]), one_thread():
            torch.manual_seed(seed)
            model, temperature, chosen = _train_grid(features, y, n_classes, seed, settings)
        return cls(model, settings, features.dim, features.grid, n_classes, temperature, chosen)

    @torch.no_grad()
    def _forward(self, features: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
        if features.tokens is None or features.grid != self.grid:
            raise UserError(f"the attentive probe expects a {self.grid} token grid, got {features.grid}")
        self.model.eval()
        logits, attention = self.model(torch.from_numpy(features.tokens))
        return torch.softmax(logits / self.temperature, dim=-1).numpy().astype(np.float64), attention.numpy()

    def predict_proba(self, features: FeatureSet) -> np.ndarray:
        return self._forward(features)[0]

    def attention(self, features: FeatureSet) -> np.ndarray:
        """(n, rows * cols) attention of the query over the patch grid."""
        return self._forward(features)[1]

    def tensors(self) -> dict[str, np.ndarray]:
        return {name: value.detach().numpy() for name, value in self.model.state_dict().items()}

    def hparams(self) -> dict[str, Any]:
        return {
            "settings": self.settings.to_json(),
            "dim": self.dim,
            "grid": list(self.grid),
            "n_classes": self.n_classes,
            "temperature": self.temperature,
            **self.chosen,
        }

    @classmethod
    def tensor_shapes(cls, hparams: dict[str, Any], dim: int, n_classes: int) -> dict[str, tuple[int, ...]]:
        """The tensors a head with these hyper-parameters holds, for features `dim` wide and `n_classes` modes."""
        for name, wanted in (("dim", dim), ("n_classes", n_classes)):
            if int(hparams[name]) != wanted:
                raise ValueError(f"head.{name} is {hparams[name]}, but the probe's features and modes imply {wanted}")
        with torch.device("meta"):  # shapes only: nothing is allocated
            model = AttentiveClassifier(dim, _grid(hparams), n_classes, _settings(hparams))
        return {name: tuple(value.shape) for name, value in model.state_dict().items()}

    @classmethod
    def restore(cls, tensors: dict[str, np.ndarray], hparams: dict[str, Any]) -> AttentiveHead:
        settings, grid, dim, n_classes = (
            _settings(hparams),
            _grid(hparams),
            int(hparams["dim"]),
            int(hparams["n_classes"]),
        )
        model = AttentiveClassifier(dim, grid, n_classes, settings)
        model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}, strict=True)
        chosen = {k: v for k, v in hparams.items() if k not in ("settings", "dim", "grid", "n_classes", "temperature")}
        return cls(model, settings, dim, grid, n_classes, float(hparams["temperature"]), chosen)


def _settings(hparams: dict[str, Any]) -> AttentiveSettings:
    raw = {"background": "none", **hparams["settings"]}  # probes written before `background` existed
    raw["learning_rates"], raw["weight_decays"] = tuple(raw["learning_rates"]), tuple(raw["weight_decays"])
    return AttentiveSettings(**raw)


def _grid(hparams: dict[str, Any]) -> tuple[int, int]:
    return int(hparams["grid"][0]), int(hparams["grid"][1])


def _train_grid(
    features: FeatureSet, y: np.ndarray, n_classes: int, seed: int, settings: AttentiveSettings
) -> tuple[AttentiveClassifier, float, dict[str, Any]]:
    """Train one head per (lr, wd) on shared batches; return the head with the best validation score,
    its softmax temperature fitted on the same validation split, and the scores of the grid."""
    assert features.tokens is not None and features.grid is not None
    clips = _split(features.tokens, y, n_classes, seed, settings)
    template = AttentiveClassifier(features.dim, features.grid, n_classes, settings)
    if template.background is not None:  # unlabelled statistics of the clips this probe is fitted on
        template.background.copy_(clips.tokens.mean(dim=0))
    grid = [(lr, wd) for lr in settings.learning_rates for wd in settings.weight_decays]
    heads = [copy.deepcopy(template) for _ in grid]  # same start for every grid point: only lr and wd differ
    best = _train_heads(heads, grid, clips, seed, settings)
    scores = [(record.balanced_accuracy, -record.loss) for record in best]
    winner = max(range(len(grid)), key=lambda i: scores[i])
    heads[winner].load_state_dict(best[winner].state)
    with torch.no_grad():
        val_logits = heads[winner].eval()(clips.tokens[clips.val])[0].numpy().astype(np.float64)
    temperature = fit_temperature(val_logits, y[clips.val], TEMPERATURES)
    return heads[winner], temperature, _chosen(grid, best, winner)


@dataclass
class _Clips:
    """What the grid is fitted on: every clip's tokens and label, the two sides of the inner validation split, and
    the loss weighted by the training side's class counts."""

    tokens: torch.Tensor
    labels: torch.Tensor
    train: np.ndarray
    val: np.ndarray
    loss_fn: nn.Module
    n_classes: int


def _split(tokens: np.ndarray, y: np.ndarray, n_classes: int, seed: int, settings: AttentiveSettings) -> _Clips:
    """A stratified validation split large enough to hold every class, and a class-balanced loss, so a mode with
    few clips weighs as much as the others in both training and the choice of head."""
    train, val = train_test_split(
        np.arange(len(y)),
        test_size=max(settings.val_fraction, n_classes / len(y)),
        stratify=y,
        random_state=seed,
    )
    labels = torch.from_numpy(y).long()
    counts = torch.bincount(labels[train], minlength=n_classes).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (n_classes * counts))
    return _Clips(torch.from_numpy(tokens), labels, train, val, loss_fn, n_classes)


def _train_heads(
    heads: list[AttentiveClassifier],
    grid: list[tuple[float, float]],
    clips: _Clips,
    seed: int,
    settings: AttentiveSettings,
) -> list[_Best]:
    """All heads on the same shuffled batches, one optimizer with a parameter group per grid point, until every head
    has gone `patience` epochs without a better validation loss; each head's best epoch."""
    optimizer = torch.optim.AdamW(
        [
            {"params": head.parameters(), "lr": lr, "weight_decay": wd}
            for head, (lr, wd) in zip(heads, grid, strict=True)
        ]
    )
    steps_per_epoch = math.ceil(len(clips.train) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(settings.max_epochs * steps_per_epoch, settings.warmup_fraction)
    )
    generator = torch.Generator().manual_seed(seed)
    best = [_Best() for _ in grid]
    for epoch in range(settings.max_epochs):
        for head in heads:
            head.train()
        order = torch.from_numpy(clips.train)[torch.randperm(len(clips.train), generator=generator)]
        for batch in order.split(settings.batch_size):
            optimizer.zero_grad(set_to_none=True)
            # parameters are disjoint, so the gradient of the sum is each head's own gradient
            loss = sum(clips.loss_fn(head(clips.tokens[batch])[0], clips.labels[batch]) for head in heads)
            loss.backward()
            optimizer.step()
            scheduler.step()
        for head, record in zip(heads, best, strict=True):
            record.update(epoch, head, *_validate(head, clips))
        if all(epoch - record.epoch >= settings.patience for record in best):
            break
    return best


def _chosen(grid: list[tuple[float, float]], best: list[_Best], winner: int) -> dict[str, Any]:
    """The kept grid point and its validation scores, beside every point's, for the probe's sidecar."""
    return {
        "lr": grid[winner][0],
        "weight_decay": grid[winner][1],
        "best_epoch": best[winner].epoch,
        "val_balanced_accuracy": best[winner].balanced_accuracy,
        "val_loss": best[winner].loss,
        "grid_scores": [
            {"lr": lr, "weight_decay": wd, "val_balanced_accuracy": r.balanced_accuracy, "val_loss": r.loss}
            for (lr, wd), r in zip(grid, best, strict=True)
        ],
    }


@dataclass
class _Best:
    """One head's best epoch so far on validation loss, with a copy of its weights then."""

    epoch: int = -1
    loss: float = math.inf
    balanced_accuracy: float = 0.0
    state: dict[str, torch.Tensor] = field(default_factory=dict)

    def update(self, epoch: int, head: nn.Module, loss: float, balanced_accuracy: float) -> None:
        if loss < self.loss - 1e-4:
            self.epoch, self.loss, self.balanced_accuracy = epoch, loss, balanced_accuracy
            self.state = {k: v.detach().clone() for k, v in head.state_dict().items()}


@torch.no_grad()
def _validate(head: AttentiveClassifier, clips: _Clips) -> tuple[float, float]:
    """The head's loss and balanced accuracy on the validation side of the split."""
    head.eval()
    tokens, labels = clips.tokens[clips.val], clips.labels[clips.val]
    logits = head(tokens)[0]
    predicted = logits.argmax(dim=-1)
    recalls = [
        (predicted[labels == c] == c).float().mean().item() for c in range(clips.n_classes) if (labels == c).any()
    ]
    return float(clips.loss_fn(logits, labels)), float(np.mean(recalls))


def _schedule(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    warmup = max(1, int(total_steps * warmup_fraction))
    return lambda step: warmup_cosine(step, total_steps, warmup)


def _heads_for(dim: int, wanted: int) -> int:
    """The largest number of attention heads not above `wanted` that divides the token width."""
    return max(h for h in range(1, wanted + 1) if dim % h == 0)


def sincos_2d(grid: tuple[int, int], dim: int) -> torch.Tensor:
    """(rows * cols, dim) fixed sine-cosine positions, half the channels for the row and half for the column.

    Row-major order, matching the encoder's token order (time, then row, then column). Widths that
    are not a multiple of 4 leave the last channels at zero.
    """
    rows, cols = grid
    quarter = dim // 4
    frequencies = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / max(quarter, 1)))
    r, c = torch.meshgrid(
        torch.arange(rows, dtype=torch.float32), torch.arange(cols, dtype=torch.float32), indexing="ij"
    )
    angles_r, angles_c = r.reshape(-1, 1) * frequencies, c.reshape(-1, 1) * frequencies
    table = torch.zeros(rows * cols, dim)
    table[:, : 4 * quarter] = torch.cat([angles_r.sin(), angles_r.cos(), angles_c.sin(), angles_c.cos()], dim=1)
    return table
