"""Whole-image probabilities from a model: standardise, pad to the network's multiple, crop back."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dskd.data.datasets import image_tensor
from dskd.distributed import unwrap

__all__ = ["predict_probabilities"]


@torch.inference_mode()
def predict_probabilities(model: nn.Module, image: np.ndarray, device: torch.device) -> np.ndarray:
    """image: float32 (H, W) in [0, 1] -> vessel probabilities float32 (H, W).

    The model is put in eval mode by the caller; side outputs are skipped.
    """
    height, width = image.shape
    batch = image_tensor(image, unwrap(model).size_multiple).to(device)
    logits = model(batch, with_side_outputs=False).logits[0, 0, :height, :width]
    return torch.sigmoid(logits.float()).cpu().numpy()
