"""Soft Dice loss on logits."""

import torch
from torch import Tensor

__all__ = ["soft_dice_loss"]


def soft_dice_loss(logits: Tensor, target: Tensor, *, smooth: float = 1.0) -> Tensor:
    """1 - soft Dice, computed per image and averaged over the batch.

    logits: (B, 1, H, W); target: (B, 1, H, W) in [0, 1]. Returns a scalar.
    Per image: 1 - (2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth), p = sigmoid(logits).
    `smooth` keeps an empty label with an empty prediction at a loss of 0.
    """
    probs = torch.sigmoid(logits.float()).flatten(1)
    target = target.float().flatten(1)
    intersection = (probs * target).sum(1)
    dice = (2 * intersection + smooth) / (probs.sum(1) + target.sum(1) + smooth)
    return (1 - dice).mean()
