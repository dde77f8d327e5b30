"""torchrun support: one process per GPU (or per CPU slot), DistributedDataParallel.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; with WORLD_SIZE > 1 the training loop joins a
process group (NCCL on CUDA, gloo on CPU), shards the training films with DistributedSampler,
wraps the model in DDP, validates on rank 0 alone over the whole validation set and shares the
epoch's row with the other ranks, and only rank 0 writes the run folder and prints.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

# Rank 0 validates alone while the others wait on the next collective: allow for a long one.
TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Group:
    """The process's place in a torchrun launch; a single process outside one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    return Group(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def is_main() -> bool:
    return from_env().main


def uses_cuda(device: str) -> bool:
    if device == "auto":
        return torch.cuda.is_available()
    return device.startswith("cuda")


@contextmanager
def process_group(device: str) -> Iterator[Group]:
    """Joins (and at the end leaves) the process group when launched by torchrun."""
    group = from_env()
    if not group.active or dist.is_initialized():
        yield group
        return
    cuda = uses_cuda(device)
    if cuda:
        torch.cuda.set_device(group.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    try:
        yield group
    finally:
        dist.destroy_process_group()


def broadcast(value: Any, group: Group) -> Any:
    """Rank 0's `value` on every rank."""
    if not group.active:
        return value
    box = [value if group.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any, group: Group) -> list[Any]:
    """Every rank's `value`, in rank order, on every rank."""
    if not group.active:
        return [value]
    out: list[Any] = [None] * group.world
    dist.all_gather_object(out, value)
    return out


def sum_all(values: list[float], group: Group, device: torch.device) -> list[float]:
    if not group.active:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def sync_buffers(model: nn.Module, group: Group) -> None:
    """BatchNorm statistics as rank 0 has them (DDP syncs them only at the next forward)."""
    if group.active:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names and raw bytes: equal only for bit-identical weights."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
