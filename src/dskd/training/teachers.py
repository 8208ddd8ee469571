"""The teacher policies: where the teacher's outputs for a batch come from, and when it changes.

Every policy has the same small interface, which is all the training loop sees:

    teacher.start_epoch(cases)      before the epoch's first step (whole training images)
    teacher.targets(batch)          the teacher's outputs for a batch, or None (no teacher yet)
    teacher.after_step(student)     after every optimiser step
    teacher.end_epoch(student, world)
    teacher.state_dict() / load_state_dict(state)   for last.pt (None when there is no teacher)
    teacher.ready                   whether targets() gives outputs this epoch

    NoTeacher          the objective reads no teacher
    SnapshotTeacher    the student of the previous epoch, run on every batch (METHOD.md, Teacher)
    EmaTeacher         an exponential moving average of the student's weights, run on every batch
    WholeImageTeacher  the snapshot, run once an epoch on the whole training images; each crop's
                       outputs are cut from those maps with the crop's placement (teacher_maps.py)

`build_teacher` picks one from the config; a new policy is one class here and one line there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from dskd.config import TeacherConfig
from dskd.data.cases import CaseArrays
from dskd.models.unet import UNetOutput
from dskd.training.distributed import World, broadcast_module
from dskd.training.frozen_copy import FrozenCopy
from dskd.training.teacher_maps import TeacherMaps

__all__ = ["Batch", "EmaTeacher", "NoTeacher", "SnapshotTeacher", "TeacherPolicy",
           "WholeImageTeacher", "build_teacher"]


@dataclass(frozen=True)
class Batch:
    """images: float (B, 1, h, w) standardised; masks: float (B, 1, h, w) in {0, 1};
    placements: float64 (B, 10), where each crop came from (TrainCrops), or None."""

    images: Tensor
    masks: Tensor
    placements: Tensor | None = None

    def pin_memory(self) -> Batch:
        """Called by the DataLoader (pin_memory=True) to make host-to-GPU copies asynchronous."""
        return Batch(self.images.pin_memory(), self.masks.pin_memory(), self.placements)


class TeacherPolicy(Protocol):
    @property
    def ready(self) -> bool: ...

    def start_epoch(self, cases: Sequence[CaseArrays]) -> None: ...

    def targets(self, batch: Batch) -> UNetOutput | None: ...

    def after_step(self, student: nn.Module) -> None: ...

    def end_epoch(self, student: nn.Module, world: World) -> None: ...

    def state_dict(self) -> dict | None: ...

    def load_state_dict(self, state: dict | None) -> None: ...


class NoTeacher:
    """For objectives that read no teacher (dice, deep supervision, DDL against the label)."""

    ready = False

    def start_epoch(self, cases: Sequence[CaseArrays]) -> None:
        pass

    def targets(self, batch: Batch) -> None:
        return None

    def after_step(self, student: nn.Module) -> None:
        pass

    def end_epoch(self, student: nn.Module, world: World) -> None:
        pass

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: dict | None) -> None:
        pass


class SnapshotTeacher:
    """The student as it was at the end of the previous epoch, run on every batch."""

    kind = "snapshot"

    def __init__(self, student: nn.Module, *, with_side_outputs: bool, ema_decay: float = 0.99,
                 device: torch.device, memory_format: torch.memory_format, compile: bool = False
                 ) -> None:
        self.copy = FrozenCopy(student, kind=self.kind, ema_decay=ema_decay)
        self.copy.to(device, memory_format=memory_format)
        if compile:
            self.copy.compile()
        self.with_side_outputs = with_side_outputs
        self.device, self.memory_format = device, memory_format

    @property
    def ready(self) -> bool:
        return self.copy.ready

    def start_epoch(self, cases: Sequence[CaseArrays]) -> None:
        pass

    def targets(self, batch: Batch) -> UNetOutput | None:
        return self.copy(batch.images, with_side_outputs=self.with_side_outputs)

    def after_step(self, student: nn.Module) -> None:
        pass

    def end_epoch(self, student: nn.Module, world: World) -> None:
        # Every process takes rank 0's copy, then the teacher of epoch t + 1 is the student of t.
        broadcast_module(self.copy.model, world)
        self.copy.refresh(student)

    def state_dict(self) -> dict:
        return self.copy.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        self.copy.load_state_dict(state)


class EmaTeacher(SnapshotTeacher):
    """An exponential moving average of the student's weights, moved after every step."""

    kind = "ema"

    def after_step(self, student: nn.Module) -> None:
        self.copy.update(student)


class WholeImageTeacher(SnapshotTeacher):
    """The snapshot run once an epoch on each whole training image; a batch's outputs are cut from
    those maps with each crop's placement (the batch must carry placements)."""

    def __init__(self, student: nn.Module, *, size_multiple: int, amp_dtype: torch.dtype | None,
                 show_progress: bool, **kwargs) -> None:
        super().__init__(student, **kwargs)
        self.size_multiple = size_multiple
        self.amp_dtype = amp_dtype
        self.show_progress = show_progress
        self.maps: TeacherMaps | None = None

    def start_epoch(self, cases: Sequence[CaseArrays]) -> None:
        self.maps = None
        if self.ready:
            self.maps = TeacherMaps.compute(
                self.copy, cases, size_multiple=self.size_multiple,
                with_side_outputs=self.with_side_outputs, device=self.device,
                memory_format=self.memory_format, amp_dtype=self.amp_dtype,
                show_progress=self.show_progress)

    def targets(self, batch: Batch) -> UNetOutput | None:
        if self.maps is None:
            return None
        if batch.placements is None:
            raise ValueError("teacher.runs_on=whole_images needs batches that carry placements")
        return self.maps.crops(batch.placements, batch.images.shape[-1])


def build_teacher(config: TeacherConfig, student: nn.Module, *, needed: bool,
                  with_side_outputs: bool, device: torch.device,
                  memory_format: torch.memory_format, amp_dtype: torch.dtype | None = None,
                  compile: bool = False, show_progress: bool = True) -> TeacherPolicy:
    """The configured policy; NoTeacher when the objective reads none (needed=False).

    with_side_outputs: whether the objective reads the teacher's side outputs.
    """
    if not needed:
        return NoTeacher()
    common = {"with_side_outputs": with_side_outputs, "ema_decay": config.ema_decay,
              "device": device, "memory_format": memory_format, "compile": compile}
    if config.kind == "ema":
        return EmaTeacher(student, **common)
    if config.runs_on == "whole_images":
        return WholeImageTeacher(student, size_multiple=student.size_multiple, amp_dtype=amp_dtype,
                                 show_progress=show_progress, **common)
    return SnapshotTeacher(student, **common)
