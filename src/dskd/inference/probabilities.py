"""Whole-image probabilities from a network: standardise, pad to the network's multiple, run the
image whole or in overlapping windows, optionally average over flips, crop back.

Every backend (dskd.inference.backends: PyTorch or ONNX Runtime) goes through these same steps, so both see
identical inputs and their outputs can be compared number for number.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import Tensor, nn

from dskd.data.datasets import image_tensor
from dskd.errors import DataError
from dskd.inference.backends import Net, TorchNet

__all__ = ["predict_probabilities", "frame_probabilities", "run_network", "check_window", "FLIPS",
           "WINDOW_OVERLAP"]

# Flip test-time augmentation: identity, left-right, up-down, both (all mirrorings of a 2-D image).
FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))
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
    return sliding_window_inference(batch, roi, 1, net, overlap=WINDOW_OVERLAP, mode="gaussian")


def frame_probabilities(net: Net, image: np.ndarray, *, tta: bool = False,
                        window: int | None = None) -> np.ndarray:
    """image: float32 (H, W) in [0, 1] -> vessel probabilities float32 (H, W), any H and W.

    tta: average over the four flips (FLIPS). window: tile images larger than this (see
    run_network; pass it through check_window first).
    """
    height, width = image.shape
    batch = image_tensor(image, net.size_multiple)  # standardised, edge-padded at bottom/right
    flips = FLIPS if tta else ((),)
    total = torch.zeros_like(batch)
    for dims in flips:
        flipped = torch.flip(batch, dims) if dims else batch
        probabilities = run_network(net, flipped, window=window)
        total += torch.flip(probabilities, dims) if dims else probabilities
    return (total[0, 0, :height, :width] / len(flips)).numpy()


def predict_probabilities(model: nn.Module, image: np.ndarray, device: torch.device, *,
                          tta: bool = False, window: int | None = None) -> np.ndarray:
    """image: float32 (H, W) in [0, 1] -> vessel probabilities float32 (H, W).

    The model is put in eval mode by the caller; side outputs are skipped. Without tta and window
    this is one forward pass of the whole padded image.
    """
    net = TorchNet(model, device)
    return frame_probabilities(net, image, tta=tta, window=check_window(window, net.size_multiple))
