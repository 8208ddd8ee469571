"""Whole-image probabilities from a network: upscale to the network's input scale, standardise, pad
to the network's multiple, run the image whole or in overlapping windows, optionally average over
flips or all 8 symmetries (test-time augmentation), crop back and average back to the image's size.

Every backend (dskd.inference.backends: PyTorch or ONNX Runtime, or an ensemble of them) goes
through these same steps, so all see identical inputs and their outputs can be compared number
for number.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from dskd.data.datasets import image_tensor
from dskd.data.resolution import downscale_probabilities, upscale_image
from dskd.errors import DataError
from dskd.inference.backends import Net, TorchNet

__all__ = ["TTA", "TTA_TRANSFORMS", "predict_probabilities", "frame_probabilities", "run_network",
           "check_window", "FLIPS", "WINDOW_OVERLAP"]

# Flip test-time augmentation: identity, left-right, up-down, both (all mirrorings of a 2-D image).
FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))
# Test-time augmentation: the transforms averaged over. "dihedral": the 8 symmetries of the square
# (the 4 flips, with and without swapping rows and columns), each (flip dims, transpose).
TTA = Literal["none", "flips", "dihedral"]
TTA_TRANSFORMS: dict[str, tuple[tuple[tuple[int, ...], bool], ...]] = {
    "none": (((), False),),
    "flips": tuple((dims, False) for dims in FLIPS),
    "dihedral": tuple((dims, swap) for swap in (False, True) for dims in FLIPS),
}
WINDOW_OVERLAP = 0.25  # share of a window that overlaps its neighbour; MONAI's default


def check_window(window: int | None, multiple: int) -> int | None:
    """The tile side for sliding-window inference, rounded down to the network's multiple.

    None or 0 means never tile. Raises DataError when the window is smaller than one multiple.
    """
    if not window:
        return None
    if window < multiple:
        raise DataError(f"window {window} is smaller than the network's size multiple {multiple}; "
                        f"use at least {multiple} (or 0 to never tile)")
    return window // multiple * multiple


def run_network(net: Net, batch: Tensor, *, window: int | None = None) -> Tensor:
    """Probabilities of a padded, standardised batch (B, 1, H, W) -> (B, 1, H, W).

    When H or W exceeds `window` (a multiple of net.size_multiple) the image is covered by
    overlapping windows whose outputs are blended with Gaussian weights (MONAI), which bounds
    memory and keeps each window at the scale the network was validated on.
    """
    height, width = batch.shape[-2:]
    if window is None or (height <= window and width <= window):
        return net(batch)
    roi = (min(window, height), min(window, width))
    # Imported here: MONAI's package import pulls in its data stack (seconds), and only tiled
    # frames need its sliding window.
    from monai.inferers import sliding_window_inference

    return sliding_window_inference(batch, roi, 1, net, overlap=WINDOW_OVERLAP, mode="gaussian")


def _transform(batch: Tensor, dims: tuple[int, ...], swap: bool) -> Tensor:
    batch = torch.flip(batch, dims) if dims else batch
    return batch.transpose(-2, -1) if swap else batch


def _untransform(batch: Tensor, dims: tuple[int, ...], swap: bool) -> Tensor:
    batch = batch.transpose(-2, -1) if swap else batch
    return torch.flip(batch, dims) if dims else batch


def frame_probabilities(net: Net, image: np.ndarray, *, tta: TTA = "none",
                        window: int | None = None) -> np.ndarray:
    """image: float32 (H, W) in [0, 1] -> vessel probabilities float32 (H, W), any H and W.

    A network of input scale s (model.input_scale) runs on the image upscaled s times; each
    pixel's probability is the mean over its s x s block (dskd.data.resolution).
    tta: average over the transforms of TTA_TRANSFORMS[tta] (4 flips, or all 8 symmetries).
    window: tile images larger than this (see run_network; pass it through check_window first).
    """
    if tta not in TTA_TRANSFORMS:
        raise DataError(f"tta '{tta}' is not an option; valid: {', '.join(TTA_TRANSFORMS)}")
    scale = net.input_scale
    height, width = image.shape[0] * scale, image.shape[1] * scale
    # standardised, edge-padded at bottom/right, at the scale the network was trained on
    batch = image_tensor(upscale_image(image, scale), net.size_multiple)
    transforms = TTA_TRANSFORMS[tta]
    total = torch.zeros_like(batch)
    for dims, swap in transforms:
        probabilities = run_network(net, _transform(batch, dims, swap), window=window)
        total += _untransform(probabilities, dims, swap)
    mean = total[:, :, :height, :width] / len(transforms)
    return downscale_probabilities(mean, scale)[0, 0].numpy()


def predict_probabilities(model: nn.Module, image: np.ndarray, device: torch.device, *,
                          tta: TTA = "none", window: int | None = None) -> np.ndarray:
    """image: float32 (H, W) in [0, 1] -> vessel probabilities float32 (H, W).

    The model is put in eval mode by the caller; side outputs are skipped. Without tta and window
    this is one forward pass of the whole padded image.
    """
    net = TorchNet(model, device)
    return frame_probabilities(net, image, tta=tta, window=check_window(window, net.size_multiple))
