"""One optimisation step (`train_step`) and one epoch of them (`train_one_epoch`)."""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.dataloader import default_collate
from tqdm import tqdm

from dskd.errors import DskdError
from dskd.losses.terms import LossTerms
from dskd.training.distributed import World, reduce_sum
from dskd.training.setup import Training
from dskd.training.teachers import Batch

__all__ = ["NonFiniteLossError", "collate_batch", "train_step", "train_one_epoch"]


class NonFiniteLossError(DskdError):
    """The loss became NaN or infinite; the step's update was not applied."""


def collate_batch(items: list[tuple[torch.Tensor, ...]]) -> Batch:
    """TrainCrops items (image, mask[, placement]) -> one Batch (the DataLoader's collate_fn)."""
    columns = default_collate(items)
    return Batch(images=columns[0], masks=columns[1],
                 placements=columns[2] if len(columns) > 2 else None)


def _check_finite(total: torch.Tensor, world: World | None) -> None:
    """NonFiniteLossError when the loss is NaN or infinite here or, under torchrun, on any process.

    The processes decide together, before backward: a process that stopped alone would leave the
    others waiting forever in DDP's gradient all-reduce.
    """
    finite = torch.isfinite(total)
    if world is not None and world.distributed:
        everywhere = float(reduce_sum(finite.float(), world)) == world.size
    else:
        everywhere = bool(finite)  # the one host sync of the check, as in a single process
    if not everywhere:
        raise NonFiniteLossError(f"loss is {float(total):g}" if not bool(finite)
                                 else "the loss of another process is not finite")


def train_step(training: Training, batch: Batch, *, alpha_t: float, world: World | None = None) -> LossTerms:
    """Forward the student (and take the teacher's targets), back-propagate the objective, step the
    optimiser and let the teacher follow. Returns the loss terms of the batch.

    Side outputs that no term reads in this step are not computed, by the student or the teacher.
    Raises NonFiniteLossError, before any weight changes, when the loss is NaN or infinite (on
    any of the `world`'s processes).
    """
    device, optimizer, scaler = training.device, training.optimizer, training.scaler
    batch = Batch(images=batch.images.to(device, non_blocking=True,
                                         memory_format=training.memory_format),
                  masks=batch.masks.to(device, non_blocking=True), placements=batch.placements)
    student_sides = training.objective.reads(teacher_ready=training.teacher.ready).student_sides
    autocast = (torch.autocast(device_type=device.type, dtype=training.amp_dtype)
                if training.amp_dtype is not None else nullcontext())
    with autocast:
        teacher_out = training.teacher.targets(batch)
        student_out = training.model(batch.images, with_side_outputs=student_sides)
        terms = training.objective(student_out, teacher_out, batch.masks, alpha_t=alpha_t)
    _check_finite(terms.total.detach(), world)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(terms.total).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones (no-op if disabled)
    if training.grad_clip > 0:
        nn.utils.clip_grad_norm_(training.student.parameters(), training.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    training.teacher.after_step(training.student)
    return terms


def train_one_epoch(training: Training, loader: DataLoader, *, alpha_t: float, world: World,
                    description: str = "train") -> dict[str, float]:
    """One pass over the loader (batches of collate_batch). Returns the mean of every loss term
    over the batches, and over the processes under torchrun."""
    training.model.train()
    device = training.device
    sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=device))
    batches = 0
    progress = tqdm(loader, desc=description, unit="batch", leave=False,
                    disable=None if world.is_main else True)
    for batch in progress:
        try:
            terms = train_step(training, batch, alpha_t=alpha_t, world=world)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{description}, step {batches + 1}: {error}; training "
                                     "stopped, the checkpoints of the last finished epoch are "
                                     "kept (lower optim.lr, or set optim.grad_clip)") from None
        sums["loss"] += terms.total.detach()
        for name, value in terms.parts.items():
            sums[name] += value
        batches += 1
    # One all-reduce for all the terms and the batch count (a no-op in a single process).
    names = list(sums)
    packed = torch.stack([*(sums[n].float() for n in names),
                          torch.tensor(float(batches), device=device)])
    packed = reduce_sum(packed, world)
    total_batches = max(float(packed[-1]), 1.0)
    return {name: float(packed[i]) / total_batches for i, name in enumerate(names)}
