"""Pixel-wise Self-knowledge Distillation Loss (PSDL) and its softening schedule."""

import torch.nn.functional as F
from torch import Tensor

__all__ = ["pixel_self_distillation_loss", "alpha_schedule"]


def alpha_schedule(epoch: int, epochs: int, alpha_T: float) -> float:  # noqa: N803 (paper name)
    """alpha_t = alpha_T * t / T, with t the zero-based epoch and T the number of epochs.

    The first epoch uses the label alone (alpha_0 = 0); the last uses alpha_T * (T - 1) / T.
    """
    if not 0 <= epoch < epochs:
        raise ValueError(f"epoch {epoch} is outside 0..{epochs - 1}")
    return alpha_T * epoch / epochs


def pixel_self_distillation_loss(
    student_logits: Tensor, teacher_probs: Tensor | None, target: Tensor, *, alpha_t: float
) -> Tensor:
    """BCE of the student against the progressively softened target (METHOD.md, L_PSDL).

    soft_target = alpha_t * teacher_probs + (1 - alpha_t) * target

    student_logits: (B, 1, H, W); teacher_probs: (B, 1, H, W) in [0, 1], or None when there is no
    teacher yet (then the target is the label alone); target: (B, 1, H, W) in {0, 1}.
    Returns the mean over all pixels (a scalar). The teacher gets no gradient.
    """
    soft_target = target.float()
    if teacher_probs is not None and alpha_t > 0:
        soft_target = alpha_t * teacher_probs.detach().float() + (1 - alpha_t) * soft_target
    return F.binary_cross_entropy_with_logits(student_logits.float(), soft_target)
