"""The training objectives, all computed from the same network outputs.

    dice              Dice + BCE on the main output (the plain U-Net baseline)
    deep_supervision  Dice + BCE on the main output and on every side output, decaying weights
    pskd              Dice + PSDL
    ddl               Dice + DDL
    dskd              Dice + DDL + PSDL (METHOD.md, Losses)

Without a teacher (the first epoch), PSDL falls back to BCE against the label and DDL is skipped,
unless the DDL target is the label itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dskd.config import LossConfig
from dskd.losses.dice import soft_dice_loss
from dskd.losses.distribution import deep_distribution_loss
from dskd.losses.self_distillation import pixel_self_distillation_loss
from dskd.models.unet import UNetOutput

__all__ = [
    "LossTerms",
    "compute_objective",
    "deep_supervision_weights",
    "needs_teacher",
    "student_reads_side_outputs",
    "teacher_reads_side_outputs",
]

_USES_DDL = {"ddl", "dskd"}
_USES_PSDL = {"pskd", "dskd"}


@dataclass(frozen=True)
class LossTerms:
    """total: the scalar to back-propagate; parts: detached scalar terms for logging."""

    total: Tensor
    parts: dict[str, Tensor]


def needs_teacher(config: LossConfig) -> bool:
    """Whether this objective ever reads the teacher's outputs."""
    return config.objective in _USES_PSDL or (
        config.objective in _USES_DDL and config.ddl_target == "teacher"
    )


def student_reads_side_outputs(config: LossConfig, *, teacher_ready: bool) -> bool:
    """Whether this step's objective reads the student's side outputs (else the network can skip
    its side heads: nothing downstream depends on them, so the step computes the same loss)."""
    if config.objective == "deep_supervision":
        return True
    return config.objective in _USES_DDL and (config.ddl_target == "label" or teacher_ready)


def teacher_reads_side_outputs(config: LossConfig) -> bool:
    """Whether the objective reads the teacher's side outputs (only the DDL against the teacher)."""
    return config.objective in _USES_DDL and config.ddl_target == "teacher"


def deep_supervision_weights(num_outputs: int, decay: float) -> list[float]:
    """Weights decay**k for output k = 0 (main) .. num_outputs - 1, normalised to sum to 1."""
    raw = [decay**k for k in range(num_outputs)]
    return [w / sum(raw) for w in raw]


def _dice_bce(logits: Tensor, target: Tensor) -> Tensor:
    return soft_dice_loss(logits, target) + F.binary_cross_entropy_with_logits(logits.float(), target)


def compute_objective(
    student: UNetOutput,
    teacher: UNetOutput | None,
    target: Tensor,
    *,
    config: LossConfig,
    alpha_t: float,
) -> LossTerms:
    """The configured objective for one batch.

    student: the student's outputs, logits (B, 1, H, W) and side logits; teacher: the teacher's
    outputs on the same batch (no gradient), or None before the first refresh; target: (B, 1, H, W)
    binary label; alpha_t: the PSDL softening for the current epoch (see alpha_schedule).
    """
    target = target.float()
    objective = config.objective
    parts: dict[str, Tensor] = {}

    if objective == "dice":
        parts["dice"] = soft_dice_loss(student.logits, target)
        parts["bce"] = F.binary_cross_entropy_with_logits(student.logits.float(), target)
        total = parts["dice"] + parts["bce"]
    elif objective == "deep_supervision":
        outputs = (student.logits, *student.side_logits)
        weights = deep_supervision_weights(len(outputs), config.deep_supervision_decay)
        total = sum(w * _dice_bce(o, target) for w, o in zip(weights, outputs, strict=True))
        parts["deep_supervision"] = total
    else:
        parts["dice"] = soft_dice_loss(student.logits, target)
        total = config.w_dice * parts["dice"]
        if objective in _USES_PSDL:
            teacher_probs = torch.sigmoid(teacher.logits) if teacher is not None else None
            parts["psdl"] = pixel_self_distillation_loss(
                student.logits, teacher_probs, target, alpha_t=alpha_t
            )
            total = total + config.w_psdl * parts["psdl"]
        if objective in _USES_DDL:
            if config.ddl_target == "label":
                side_targets = [target] * len(student.side_logits)
            elif teacher is not None:
                side_targets = [torch.sigmoid(t) for t in teacher.side_logits]
            else:
                side_targets = None  # first epoch: no teacher yet, label terms only
            if side_targets is not None:
                parts["ddl"] = deep_distribution_loss(
                    [torch.sigmoid(s) for s in student.side_logits],
                    side_targets,
                    num_patches=config.ddl_patches,
                    form=config.ddl_form,
                    tau=config.tau,
                    direction=config.ddl_direction,
                )
                total = total + config.w_ddl * parts["ddl"]
    return LossTerms(total=total, parts={k: v.detach() for k, v in parts.items()})
