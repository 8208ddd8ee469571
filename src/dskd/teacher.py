"""The teacher: an earlier state of the student, frozen, in eval mode, run without gradients.

kind="snapshot": `refresh(student)` copies the student's weights at the end of every epoch
(PS-KD style), so during epoch t the teacher holds the weights of the end of epoch t - 1.
kind="ema": `update(student)` after every optimiser step keeps an exponential moving average of the
weights (BatchNorm statistics are copied, not averaged); `refresh` marks it ready to teach.
Either way there is no teacher during the first epoch (`ready` is False until the first refresh).
The teacher is never in the optimiser and never wrapped in DDP.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import Tensor, nn

from dskd.distributed import unwrap
from dskd.models.unet import UNetOutput

__all__ = ["Teacher"]


class Teacher:
    def __init__(
        self, student: nn.Module, *, kind: Literal["snapshot", "ema"] = "snapshot",
        ema_decay: float = 0.99,
    ) -> None:
        if kind not in ("snapshot", "ema"):
            raise ValueError(f"teacher kind={kind!r}; valid: snapshot, ema")
        self.kind = kind
        self.ema_decay = ema_decay
        self.model = copy.deepcopy(unwrap(student)).eval().requires_grad_(False)
        self.ready = False

    @torch.no_grad()
    def refresh(self, student: nn.Module) -> None:
        """End of an epoch: snapshot copies the student; EMA keeps its average. Both become ready."""
        if self.kind == "snapshot":
            self.model.load_state_dict(unwrap(student).state_dict())
        self.ready = True

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        """After an optimiser step: move the EMA towards the student (no-op for snapshots)."""
        if self.kind != "ema":
            return
        student_state = unwrap(student).state_dict()
        for name, value in self.model.state_dict().items():
            new = student_state[name]
            if value.dtype.is_floating_point:
                value.lerp_(new, 1 - self.ema_decay)
            else:
                value.copy_(new)  # e.g. BatchNorm's num_batches_tracked

    @torch.no_grad()
    def __call__(self, images: Tensor) -> UNetOutput | None:
        """The teacher's outputs on a batch (no graph), or None before the first refresh."""
        if not self.ready:
            return None
        return self.model(images)

    def state_dict(self) -> dict:
        return {"kind": self.kind, "ready": self.ready, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["kind"] != self.kind:
            raise ValueError(f"teacher state is of kind {state['kind']!r}, expected {self.kind!r}")
        self.ready = bool(state["ready"])
        self.model.load_state_dict(state["model"])

    def to(self, device: torch.device | str) -> Teacher:
        self.model.to(device)
        return self
