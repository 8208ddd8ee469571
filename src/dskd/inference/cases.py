"""Probabilities for a list of cases (validation, evaluation)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dskd.data.cases import CaseArrays
from dskd.inference.backends import Net
from dskd.inference.probabilities import TTA, frame_probabilities, predict_probabilities

__all__ = ["net_probabilities", "predict_cases"]


def predict_cases(model: nn.Module, cases: list[CaseArrays], device: torch.device, *,
                  progress: bool = False) -> list[np.ndarray]:
    """Probabilities (H, W) for every case, in order."""
    model.eval()
    bar = tqdm(cases, desc="predict", unit="img", disable=None if progress else True, leave=False)
    return [predict_probabilities(model, c.image, device) for c in bar]


def net_probabilities(net: Net, cases: list[CaseArrays], *, tta: TTA = "none",
                      progress: bool = False) -> list[np.ndarray]:
    """Probabilities (H, W) for every case from any Net (a backend or an EnsembleNet), in order."""
    bar = tqdm(cases, desc="predict", unit="img", disable=None if progress else True, leave=False)
    return [frame_probabilities(net, c.image, tta=tta) for c in bar]
