"""What a training run needs, built from the config: `build_training(config, device, world)`."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch import nn

from dskd.checkpoint import check_state_dict, load_checkpoint
from dskd.config import Config, ModelConfig, OptimConfig, RunConfig, config_from_dict
from dskd.errors import CheckpointError, ConfigError, DskdError
from dskd.inference.precision import cpu_bf16_units, resolve_autocast
from dskd.losses.terms import Objective
from dskd.models.unet import UNet, build_model
from dskd.training.distributed import World
from dskd.training.objective import build_objective
from dskd.training.teachers import TeacherPolicy, build_teacher

__all__ = ["Training", "build_training", "load_initial_weights", "lr_factor", "resolve_device"]

log = logging.getLogger(__name__)


@dataclass
class Training:
    """The objects of a run. `student` is the plain network (what checkpoints, the teacher and
    validation see); `model` is what the steps call: the student, or its DDP / compiled wrapper,
    rebuilt by `wrap_for_epoch` when the side outputs the objective reads change."""

    student: UNet
    model: nn.Module
    teacher: TeacherPolicy
    objective: Objective
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # enabled for float16 autocast only
    device: torch.device
    memory_format: torch.memory_format
    amp_dtype: torch.dtype | None
    precision: str  # the precision in words and why (dskd.inference.precision), kept in checkpoints
    grad_clip: float
    run: RunConfig
    world: World
    wrapped_for: bool | None = None  # whether `model` was wrapped for side outputs

    def wrap_for_epoch(self) -> None:
        """DDP must know whether every parameter gets a gradient: the side heads get none while the
        objective skips them (e.g. DSKD before its teacher exists). Re-wrap when that changes."""
        reads_sides = self.objective.reads(teacher_ready=self.teacher.ready).student_sides
        if reads_sides == self.wrapped_for:
            return
        model: nn.Module = self.student  # drops the old DDP wrapper and its gradient hooks first
        self.model = model
        if self.world.distributed:
            model = nn.parallel.DistributedDataParallel(
                self.student, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=not reads_sides)
        if self.run.compile:
            model = torch.compile(model)
        self.model, self.wrapped_for = model, reads_sides


def resolve_device(name: str, world: World | None = None) -> torch.device:
    """The training device; under torchrun on GPUs, GPU `local_rank` of this node."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device=cuda but no CUDA device is available; use run.device=cpu")
    if name == "cuda" and world is not None and world.distributed:
        return torch.device("cuda", world.local_rank)
    return torch.device(name)


def lr_factor(epoch: int, optim: OptimConfig) -> float:
    """Multiplier of the base learning rate during zero-based `epoch`."""
    if optim.schedule == "step":
        return optim.gamma ** (epoch // optim.step_size)
    if optim.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / optim.epochs))
    if optim.schedule == "linear":
        return 1 - epoch / optim.epochs
    return 1.0


def load_initial_weights(student: UNet, model: ModelConfig) -> None:
    """model.init: copy the weights of that checkpoint into `student` (weights-only loading, as
    every checkpoint). Raises CheckpointError naming the setting to change when the checkpoint's
    network has another depth, width or input channel count."""
    path = model.init
    payload = load_checkpoint(path)
    if "model" not in payload or "config" not in payload:
        raise CheckpointError(f"model.init={path}: no stored model and config; not a checkpoint "
                              "written by `dskd train` or `dskd pretrain`")
    try:
        stored = config_from_dict(payload["config"]).model
    except DskdError as error:
        raise CheckpointError(f"model.init={path}: stored config is invalid ({error})") from None
    differ = [f"model.{key}={getattr(stored, key)}" for key in ("depth", "width", "in_channels")
              if getattr(stored, key) != getattr(model, key)]
    if differ:
        raise CheckpointError(f"model.init={path}: its network differs from this config's; set "
                              f"{', '.join(differ)} (or start from another checkpoint)")
    check_state_dict(student, payload["model"], path)
    student.load_state_dict(payload["model"])
    log.info("student initialised from %s", path)


def _optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if optim.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    if optim.optimizer == "adam":
        return torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(params, lr=optim.lr, momentum=0.9, weight_decay=optim.weight_decay)


def _autocast_dtype(run: RunConfig, device: torch.device) -> tuple[torch.dtype | None, str]:
    """The autocast dtype of run.amp on this device (None: float32) and why (dskd.inference.precision)."""
    if run.amp is not False and device.type == "cpu" and run.amp_dtype == "float16":
        log.warning("run.amp_dtype=float16 has no CPU autocast here; bfloat16 is used on the CPU")
    dtype, why = resolve_autocast(run.amp, device, cuda_dtype=run.amp_dtype)
    if run.amp is True and device.type == "cpu" and cpu_bf16_units() is None:
        log.warning("run.amp=true on a CPU without bf16 units: bf16 is emulated and slower than float32")
    return dtype, why


def build_training(config: Config, device: torch.device, world: World | None = None) -> Training:
    """Student (seeded by the caller's torch.manual_seed), teacher policy, objective, optimiser
    and gradient scaler, on `device` in the configured memory layout."""
    world = world or World()
    run = config.run
    amp_dtype, precision = _autocast_dtype(run, device)
    if world.is_main:
        log.info("precision: %s", precision)
    memory_format = torch.channels_last if run.channels_last else torch.contiguous_format
    student = build_model(config.model)
    if config.model.init:  # before the teacher's copy: a snapshot teacher starts from these weights
        load_initial_weights(student, config.model)
    student = student.to(device, memory_format=memory_format)
    objective = build_objective(config.loss)
    teacher = build_teacher(config.teacher, student, needed=objective.needs_teacher,
                            with_side_outputs=objective.reads(teacher_ready=True).teacher_sides,
                            device=device, memory_format=memory_format, amp_dtype=amp_dtype,
                            compile=run.compile, show_progress=world.is_main)
    if run.sync_batchnorm and world.distributed:  # after the teacher's copy: it runs in eval mode
        student = nn.SyncBatchNorm.convert_sync_batchnorm(student)
    # Loss scaling for float16 autocast (bfloat16 needs none: it has float32's exponent range).
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    return Training(student=student, model=student, teacher=teacher, objective=objective,
                    optimizer=_optimizer(student, config.optim), scaler=scaler, device=device,
                    memory_format=memory_format, amp_dtype=amp_dtype, precision=precision,
                    grad_clip=config.optim.grad_clip, run=run, world=world)
