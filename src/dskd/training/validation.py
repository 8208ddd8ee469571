"""Validation during training: per-image Dice each epoch, and the threshold stored in best.pt."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from dskd.checkpoint import load_checkpoint, save_checkpoint
from dskd.config import ModelConfig
from dskd.data.cases import CaseArrays
from dskd.inference import predict_probabilities
from dskd.inference.cases import predict_cases
from dskd.metrics.scoring import choose_threshold, score_predictions
from dskd.models.unet import build_model
from dskd.training.distributed import World, reduce_sum

__all__ = ["store_validation_threshold", "validation_dice"]


def validation_dice(model: nn.Module, cases: Sequence[CaseArrays], device: torch.device,
                    world: World) -> float:
    """Per-image mean Dice at threshold 0.5. Each process scores every world.size-th image; the
    Dice sums and image counts are all-reduced, so every process gets the mean over all images."""
    if not len(cases):
        return float("nan")
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64)  # sum of Dice, number of images
    for index in range(world.rank, len(cases), world.size):
        case = cases[index]  # read from disk here when the data is not cached
        rows, _ = score_predictions([case], [predict_probabilities(model, case.image, device)],
                                    threshold=0.5)
        totals += torch.tensor([rows[0]["dice"], 1.0], dtype=torch.float64)
    totals = reduce_sum(totals.to(device), world).cpu()
    return float(totals[0] / totals[1])


def store_validation_threshold(best_path: Path, model_config: ModelConfig,
                               val_cases: Sequence[CaseArrays], device: torch.device) -> None:
    """Choose the threshold on the validation images with the best weights; store it in best.pt.

    Holds every validation probability map in memory (the threshold sweep scores them at 19
    thresholds), even when the images themselves are read from disk.
    """
    best = load_checkpoint(best_path)
    model = build_model(model_config).to(device)
    model.load_state_dict(best["model"])
    threshold = choose_threshold(val_cases, predict_cases(model, val_cases, device))
    save_checkpoint({**best, "threshold": threshold}, best_path)
