"""A frozen copy of the student, in eval mode, run without gradients: what every teacher is made of.

kind="snapshot": `refresh(student)` copies the student's weights at the end of every epoch
(PS-KD style), so during epoch t the teacher holds the weights of the end of epoch t - 1.
kind="ema": `update(student)` after every optimiser step keeps an exponential moving average of the
weights (BatchNorm statistics are copied, not averaged); `refresh` marks it ready to teach.
Either way there is no teacher during the first epoch (`ready` is False until the first refresh).
The teacher is never in the optimiser and never wrapped in DDP.

Speed: the teacher runs on every batch, so its forward pass is a large share of a DSKD step. Being
frozen and in eval mode, each BatchNorm is a fixed affine map, folded here into the convolution
before it (PyTorch's `fuse_conv_bn_weights`): the same function with two fewer passes over every
feature map. Folding reorders floating-point operations, so outputs agree with the unfolded
network to about 1e-6 (relative), not bit for bit; the state that is saved and restored is always
the unfolded `model`, and the folded copy is rebuilt from it whenever it changes.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

from dskd.models.unet import UNetOutput
from dskd.models.wrappers import unwrap

__all__ = ["FrozenCopy"]


def _fold_batchnorm(model: nn.Module) -> tuple[nn.Module, dict[str, str]]:
    """A copy of eval-mode `model` in which every Conv2d directly followed by a BatchNorm inside an
    nn.Sequential absorbs it (the BatchNorm becomes Identity).

    Returns (folded copy, {conv name: batchnorm name}) with the names of `model`'s modules.
    """
    folded_model = copy.deepcopy(model)
    folded: dict[str, str] = {}
    for parent_name, parent in folded_model.named_modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if (isinstance(conv, nn.Conv2d) and isinstance(bn, _BatchNorm)
                    and bn.track_running_stats):
                setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(parent, bn_name, nn.Identity())
                prefix = f"{parent_name}." if parent_name else ""
                folded[prefix + conv_name] = prefix + bn_name
    return folded_model, folded


class FrozenCopy:
    def __init__(
        self, student: nn.Module, *, kind: Literal["snapshot", "ema"] = "snapshot",
        ema_decay: float = 0.99, fold_batchnorm: bool = True,
    ) -> None:
        if kind not in ("snapshot", "ema"):
            raise ValueError(f"teacher kind={kind!r}; valid: snapshot, ema")
        self.kind = kind
        self.ema_decay = ema_decay
        self.model = copy.deepcopy(unwrap(student)).eval().requires_grad_(False)
        self.ready = False
        # `_runner` computes the outputs; `_forward` is it, or its torch.compile'd wrapper.
        self._runner, self._folded = (_fold_batchnorm(self.model) if fold_batchnorm
                                      else (self.model, {}))
        self._forward: nn.Module = self._runner
        self._stale = False  # the runner lags behind `model` (after EMA updates)

    @torch.no_grad()
    def refresh(self, student: nn.Module) -> None:
        """End of an epoch: snapshot copies the student; EMA keeps its average. Both become ready."""
        if self.kind == "snapshot":
            self.model.load_state_dict(unwrap(student).state_dict())
        self._sync_runner()
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
        self._stale = True

    def __call__(self, images: Tensor, *, with_side_outputs: bool = True) -> UNetOutput | None:
        """The teacher's outputs on a batch (no graph), or None before the first refresh.

        Run under inference mode: its outputs are only read by the losses, never saved for the
        student's backward pass as anything but constants, so no autograd bookkeeping is needed.
        `with_side_outputs=False` skips the side heads when the objective does not read them.
        """
        if not self.ready:
            return None
        if self._stale:
            self._sync_runner()
        with torch.inference_mode():
            return self._forward(images, with_side_outputs=with_side_outputs)

    @torch.no_grad()
    def _sync_runner(self) -> None:
        """Rebuild the folded runner's weights from `model` (a few milliseconds)."""
        self._stale = False
        if self._runner is self.model:
            return
        modules = dict(self.model.named_modules())
        state = self.model.state_dict()
        for key, value in self._runner.state_dict().items():
            owner = key.rsplit(".", 1)[0]
            if owner not in self._folded:
                value.copy_(state[key])
        runner_modules = dict(self._runner.named_modules())
        for conv_name, bn_name in self._folded.items():
            conv, bn = modules[conv_name], modules[bn_name]
            weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                                bn.running_var, bn.eps, bn.weight, bn.bias)
            runner_modules[conv_name].weight.copy_(weight)
            runner_modules[conv_name].bias.copy_(bias)

    def compile(self) -> FrozenCopy:
        """torch.compile the forward pass (run.compile); weights stay shared with the runner."""
        self._forward = torch.compile(self._runner)
        return self

    def state_dict(self) -> dict:
        return {"kind": self.kind, "ready": self.ready, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["kind"] != self.kind:
            raise ValueError(f"teacher state is of kind {state['kind']!r}, expected {self.kind!r}")
        self.ready = bool(state["ready"])
        self.model.load_state_dict(state["model"])
        self._sync_runner()

    def to(self, device: torch.device | str,
           memory_format: torch.memory_format = torch.preserve_format) -> FrozenCopy:
        """Move to `device`; memory_format=torch.channels_last follows a channels-last student."""
        for module in {id(m): m for m in (self.model, self._runner)}.values():
            module.to(device)
            if memory_format != torch.preserve_format:
                module.to(memory_format=memory_format)
        return self
