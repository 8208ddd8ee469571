"""Helpers shared by single-process and DistributedDataParallel training.

Multi-process training is PyTorch's own: `torchrun` starts the processes and sets RANK,
WORLD_SIZE, LOCAL_RANK and the rendezvous address; `process_group` joins them with
`torch.distributed.init_process_group`; the trainer wraps the student in DistributedDataParallel.
Nothing here starts processes or moves gradients by hand. A `World` says which process this is;
single-process training is `World()` (rank 0 of 1) and every helper is then a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from dskd.errors import ConfigError, DskdError

__all__ = [
    "World",
    "world_from_env",
    "process_group",
    "reduce_sum",
    "run_on_main",
    "broadcast_module",
    "barrier",
]

T = TypeVar("T")

# A collective that waits longer than this means another process died or hangs: fail loudly.
_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # index of this process on its node: picks the GPU

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run folder (logs, checkpoints, plots)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env(env: Mapping[str, str]) -> World | None:
    """The World that torchrun describes in `env` (RANK, WORLD_SIZE, LOCAL_RANK), or None when the
    process was not started by torchrun. The CLI passes os.environ; the library reads no env."""
    if "WORLD_SIZE" not in env:
        return None
    try:
        return World(rank=int(env["RANK"]), size=int(env["WORLD_SIZE"]),
                     local_rank=int(env.get("LOCAL_RANK", env["RANK"])))
    except (KeyError, ValueError):
        raise DskdError("WORLD_SIZE is set but RANK/LOCAL_RANK are missing or not integers; "
                        "start multi-process training with torchrun") from None


def _backend(backend: Literal["auto", "nccl", "gloo"], cuda: bool) -> str:
    if backend == "auto":
        return "nccl" if cuda else "gloo"
    if backend == "nccl" and not cuda:
        raise ConfigError("run.dist_backend=nccl needs CUDA devices; use run.dist_backend=gloo on CPU")
    return backend


@contextmanager
def process_group(world: World | None, *, backend: Literal["auto", "nccl", "gloo"] = "auto",
                  cuda: bool = False) -> Iterator[World]:
    """Join torchrun's process group for the duration of the block; yields this process's World.

    world=None (not started by torchrun) yields World() and joins nothing. `cuda`: whether training
    runs on GPUs (then each process takes GPU `local_rank`, and backend auto means NCCL; on CPU it
    means gloo). The rendezvous address comes from torchrun (env:// initialisation).
    """
    if world is None:
        yield World()
        return
    if cuda:
        if world.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"process {world.rank} wants GPU {world.local_rank} but this node has "
                              f"{torch.cuda.device_count()}; lower --nproc_per_node")
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(_backend(backend, cuda), rank=world.rank, world_size=world.size,
                            timeout=_TIMEOUT)
    try:
        yield world
    finally:
        dist.destroy_process_group()


def reduce_sum(tensor: Tensor, world: World) -> Tensor:
    """The element-wise sum of `tensor` over all processes (in place; returned for chaining)."""
    if world.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def run_on_main(fn: Callable[[], T], world: World) -> T:
    """Run `fn` on rank 0 only and hand its result (a picklable value) to every process.

    A DskdError raised on rank 0 is raised on every process with the same message, so that a
    user error (a bad run folder, a checkpoint that does not match) stops all of them instead of
    leaving the others waiting in the next collective.
    """
    if not world.distributed:
        return fn()
    payload: list[object] = [None]
    if world.is_main:
        try:
            payload[0] = ("ok", fn())
        except DskdError as error:
            payload[0] = ("error", error)
    dist.broadcast_object_list(payload, src=0)
    status, value = payload[0]  # type: ignore[misc]
    if status == "error":
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


@torch.no_grad()
def broadcast_module(module: nn.Module, world: World) -> None:
    """Copy rank 0's parameters and buffers into every process's `module`.

    DDP keeps parameters equal, but each process updates its own BatchNorm running statistics from
    its own share of the batch; this makes every process hold rank 0's (the saved) state.
    """
    if not world.distributed:
        return
    for tensor in module.state_dict().values():
        if tensor.is_contiguous():
            dist.broadcast(tensor, src=0)
        else:  # channels-last weights: collectives want dense, row-major buffers
            dense = tensor.contiguous()
            dist.broadcast(dense, src=0)
            tensor.copy_(dense)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
