"""Deep Distribution Loss (DDL): patch-wise foreground/background distributions of side outputs."""

from collections.abc import Sequence
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DdlForm", "patch_distribution", "deep_distribution_loss"]

DdlForm = Literal["frequency", "softmax", "softmax_fraction"]

_EPS = 1e-6  # keeps log() finite for patches that are entirely background or foreground


def patch_distribution(
    probs: Tensor,
    *,
    num_patches: int,
    form: DdlForm = "frequency",
    tau: float = 3.0,
) -> Tensor:
    """Two-bin (foreground, background) distribution of every patch of a probability map.

    probs: (B, 1, H, W) in [0, 1], cut into a g x g grid of patches, g = sqrt(num_patches)
    (patch side s = H / g; adaptive pooling handles sizes that do not divide evenly).
    Soft counts: fg = sum of probabilities in the patch, bg = s^2 - fg.
    form="frequency": [fg, bg] / s^2.
    form="softmax":   softmax([fg, bg] / tau). Counts run into the hundreds, so this saturates
                      to one-hot unless tau is of the order of the patch area.
    form="softmax_fraction": softmax([fg, bg] / (s^2 tau)), the fractions sharpened by tau < 1
                      (tau = 1 keeps them close to uniform: the bins differ by at most 1).
    Returns (B, num_patches, 2), each row summing to 1.
    """
    grid = int(round(num_patches**0.5))
    if grid * grid != num_patches:
        raise ValueError(f"num_patches={num_patches} must be a perfect square")
    fg_fraction = F.adaptive_avg_pool2d(probs.float(), grid).flatten(1)  # (B, n)
    if form == "frequency":
        return torch.stack([fg_fraction, 1 - fg_fraction], dim=-1)
    if form == "softmax":
        area = probs.shape[-2] * probs.shape[-1] / num_patches
        counts = torch.stack([fg_fraction * area, (1 - fg_fraction) * area], dim=-1)
        return torch.softmax(counts / tau, dim=-1)
    if form == "softmax_fraction":
        fractions = torch.stack([fg_fraction, 1 - fg_fraction], dim=-1)
        return torch.softmax(fractions / tau, dim=-1)
    raise ValueError(f"form={form!r} is not an option; valid: {', '.join(get_args(DdlForm))}")


def _kl(p: Tensor, q: Tensor) -> Tensor:
    """KL(p || q) over the last axis. p, q: (..., 2) -> (...)."""
    p = p.clamp_min(_EPS)
    q = q.clamp_min(_EPS)
    return (p * (p.log() - q.log())).sum(-1)


def deep_distribution_loss(
    student_side_probs: Sequence[Tensor],
    target_side_probs: Sequence[Tensor],
    *,
    num_patches: int = 16,
    form: DdlForm = "frequency",
    tau: float = 3.0,
    direction: Literal["teacher_student", "student_teacher"] = "teacher_student",
) -> Tensor:
    """L_DDL = sum over side outputs of the patch-averaged KL between patch distributions.

    student_side_probs: d tensors (B, 1, H, W) in [0, 1] (sigmoid of the student's side logits).
    target_side_probs: d tensors (B, 1, H, W): the teacher's side probabilities (default) or the
    label repeated d times (the "loose deep supervision" ablation). Targets get no gradient.
    direction="teacher_student" is KL(target || student), the usual distillation direction.
    Returns a scalar: sum over the d side outputs of the mean over batch and patches.
    """
    if len(student_side_probs) != len(target_side_probs):
        raise ValueError(
            f"{len(student_side_probs)} student side outputs but {len(target_side_probs)} targets"
        )
    if direction not in ("teacher_student", "student_teacher"):
        raise ValueError(f"direction={direction!r}; valid: teacher_student, student_teacher")
    total = student_side_probs[0].new_zeros((), dtype=torch.float32)
    for student, target in zip(student_side_probs, target_side_probs, strict=True):
        s = patch_distribution(student, num_patches=num_patches, form=form, tau=tau)
        t = patch_distribution(target.detach(), num_patches=num_patches, form=form, tau=tau)
        kl = _kl(t, s) if direction == "teacher_student" else _kl(s, t)
        total = total + kl.mean()
    return total
