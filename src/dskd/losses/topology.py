"""Topology-aware losses for thin tubular structures: soft clDice and Skeleton Recall."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage.morphology import skeletonize
from torch import Tensor

__all__ = ["soft_cldice_loss", "skeleton_recall_loss", "tubed_skeleton"]


def soft_cldice_loss(logits: Tensor, target: Tensor, *, iterations: int = 3) -> Tensor:
    """1 - soft clDice (Shit et al., CVPR 2021) of the sigmoid of `logits` against `target`.

    logits: (B, 1, H, W); target: (B, 1, H, W) in {0, 1}. Returns a scalar. MONAI's
    SoftclDiceLoss does the work: with sigmoid=True and include_background=True it scores the one
    vessel channel (its soft skeleton takes `iterations` erosions, 3 px of vessel radius).
    """
    from monai.losses import SoftclDiceLoss  # here: MONAI's import takes seconds, and few runs use it

    loss = SoftclDiceLoss(iter_=iterations, sigmoid=True, include_background=True)
    return loss(logits.float(), target.float())


def tubed_skeleton(target: Tensor, *, tube_radius: int = 1) -> Tensor:
    """The label's skeleton (scikit-image), dilated to a tube of 2 * tube_radius + 1 px.

    target: (B, 1, H, W) in {0, 1} -> float (B, 1, H, W) in {0, 1}, on target's device. Runs on the
    CPU: skeletonisation is not differentiable and the label needs no gradient.
    """
    masks = target.detach().to("cpu", torch.bool).numpy()[:, 0]
    structure = np.ones((2 * tube_radius + 1,) * 2, dtype=bool)
    tubes = [ndimage.binary_dilation(skeletonize(m), structure) if m.any() else m for m in masks]
    return torch.from_numpy(np.stack(tubes)[:, None].astype(np.float32)).to(target.device)


def skeleton_recall_loss(logits: Tensor, target: Tensor, *, tube_radius: int = 1,
                         smooth: float = 1.0) -> Tensor:
    """1 - soft recall of the label's tubed skeleton (Kirchhoff et al., "Skeleton Recall Loss",
    ECCV 2024): the share of the centre line of every vessel, thin ones weighing as much per
    pixel of length as wide ones, that the prediction covers.

    logits, target: (B, 1, H, W). Per image: 1 - (sum(p * S) + smooth) / (sum(S) + smooth), S the
    tubed skeleton; averaged over the batch. Written here because neither MONAI nor PyTorch has it.
    """
    skeleton = tubed_skeleton(target, tube_radius=tube_radius).flatten(1)
    probs = torch.sigmoid(logits.float()).flatten(1)
    recall = ((probs * skeleton).sum(1) + smooth) / (skeleton.sum(1) + smooth)
    return (1 - recall).mean()
