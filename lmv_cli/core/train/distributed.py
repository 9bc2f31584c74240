"""Distributed set-up under `torchrun`: one process per device, DistributedDataParallel, rank 0 writes.

`torchrun` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous; without it the run is a world of one
and nothing here touches `torch.distributed`. The backend is NCCL on CUDA and Gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from lmv_cli.core.devices import pick_device


@dataclass(frozen=True)
class World:
    """This process's place in the run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Rank 0: the only process that writes files and reports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup(device_spec: str) -> World:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), pick this rank's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_spec, local_rank)
    if size > 1 and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend, rank=rank, world_size=size)
    return World(rank, size, local_rank, device)


def teardown(world: World) -> None:
    """Leave the process group."""
    if world.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def wrap(model: torch.nn.Module, world: World) -> torch.nn.Module:
    """DistributedDataParallel around `model` in a world of several, else `model` itself. Unused
    parameters are allowed: a step whose history is all rendered does not use the streaming cells."""
    if not world.distributed:
        return model
    ids = [world.device.index] if world.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def broadcast(value: Any, world: World) -> Any:
    """Rank 0's `value` on every rank (a picklable object: a path, a number)."""
    if not world.distributed:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def mean(value: float, world: World) -> float:
    """The mean of a scalar over the ranks."""
    if not world.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=world.device if world.device.type == "cuda" else "cpu")
    torch.distributed.all_reduce(t)
    return float(t.item()) / world.size


def gather(value: Any, world: World) -> list[Any]:
    """Every rank's `value` (a picklable object), in rank order, on every rank."""
    if not world.distributed:
        return [value]
    values: list[Any] = [None] * world.size
    torch.distributed.all_gather_object(values, value)
    return values


def barrier(world: World) -> None:
    if world.distributed:
        torch.distributed.barrier()
