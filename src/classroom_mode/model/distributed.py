"""Several processes, one job: torch.distributed as `torchrun` starts it.

Nothing here is home-made: `torchrun` (or a cluster scheduler through it) starts the processes and sets
RANK, WORLD_SIZE and LOCAL_RANK; rendezvous, collectives and the failure of a rank are torch.distributed's.
`start` joins the process group (NCCL on CUDA devices, gloo on the CPU) when the environment says there is
more than one rank, and otherwise is a single process that initialises nothing, so every command runs the
same with and without torchrun.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from classroom_mode.errors import ClassroomModeError, UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes checkpoints, the model and the summary, and draws progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of `items`: every world_size-th one from its rank (the same split on every run)."""
        return list(items[self.rank :: self.world_size])

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: Sequence[float]) -> list[float]:
        """Each value summed over the ranks (a single process: the values themselves)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=_collective_device())
        dist.all_reduce(tensor)
        return tensor.tolist()


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def environment_ranks() -> Ranks:
    """What torchrun set; a process started without it is rank 0 of 1."""
    try:
        return Ranks(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )
    except ValueError:
        raise UserError("RANK / WORLD_SIZE / LOCAL_RANK: not integers (are these set by torchrun?)") from None


def start(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the job torchrun started (if any) on `device`; returns this rank and the device it runs on.

    On CUDA each rank takes the GPU of its LOCAL_RANK; a rank whose GPU does not exist stops with one line
    before it joins the group (torchrun then stops the others), rather than waiting for a rendezvous forever.
    """
    ranks = environment_ranks()
    if not ranks.distributed:
        return ranks, device
    if device.type == "cuda":
        available = torch.cuda.device_count()
        if ranks.local_rank >= available:
            raise UserError(
                f"rank {ranks.rank}: LOCAL_RANK {ranks.local_rank} needs GPU {ranks.local_rank}, but this machine "
                f"has {available}; start torchrun with --nproc-per-node {available} or fewer"
            )
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise UserError(f"--device {device.type}: torchrun runs on cuda (NCCL) or cpu (gloo) here")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ranks, device


@contextmanager
def stopped_cleanly(ranks: Ranks, what: str) -> Iterator[None]:
    """Turn a collective that failed because another rank died into one line naming `what` stopped and why."""
    try:
        yield
    except (dist.DistError, RuntimeError) as exc:
        if not ranks.distributed:
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ClassroomModeError(
            f"rank {ranks.rank}: {what} stopped: another rank failed or went away ({reason})"
        ) from None
    finally:
        stop()


def stop() -> None:
    """Leave the process group (a no-op for a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
