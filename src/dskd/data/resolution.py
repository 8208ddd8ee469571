"""Resampling by an integer factor, for networks that see images larger than they are.

A network of `model.input_scale` s trains on images and masks upscaled s times (vessels of 1-2 px
drawn 2s-4s px wide, more pixels across each vessel for its 3x3 kernels) and predicts on an
upscaled frame whose probabilities are averaged back onto the frame's own pixels, so masks and
scores always keep the image's own size. Bilinear upscaling with half-pixel centres puts the s x s
block of output pixels around the centre of the input pixel it came from; the mean over that
block (an s x s average pool) is therefore the matching way back.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dskd.data.cases import CaseArrays

__all__ = ["upscale_image", "upscale_mask", "upscale_case", "downscale_probabilities"]


def upscale_image(image: np.ndarray, scale: int) -> np.ndarray:
    """float32 (H, W) -> float32 (scale * H, scale * W), bilinear; the image itself when scale 1."""
    if scale == 1:
        return image
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    return F.interpolate(tensor, scale_factor=scale, mode="bilinear",
                         align_corners=False)[0, 0].numpy()


def upscale_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """bool (H, W) -> bool (scale * H, scale * W): the bilinear upscaling cut at 0.5, whose edges
    follow a vessel's direction instead of the staircase of repeated pixels."""
    if scale == 1:
        return mask
    return upscale_image(mask.astype(np.float32), scale) >= 0.5


def upscale_case(case: CaseArrays, scale: int) -> CaseArrays:
    """The case with image, mask and field of view upscaled `scale` times."""
    if scale == 1:
        return case
    return CaseArrays(case.name, upscale_image(case.image, scale),
                      None if case.mask is None else upscale_mask(case.mask, scale),
                      None if case.fov is None else upscale_mask(case.fov, scale))


def downscale_probabilities(probabilities: Tensor, scale: int) -> Tensor:
    """(B, 1, scale * H, scale * W) -> (B, 1, H, W): the mean of each scale x scale block."""
    if scale == 1:
        return probabilities
    return F.avg_pool2d(probabilities, scale)
