"""TensorBoard logging of a run (run.tensorboard=true): every loss term, the learning rate, alpha_t
and validation Dice per epoch, and a few validation overlays; log.csv is written as always.

The event files go to RUN/tensorboard/ (`tensorboard --logdir RUN`); only rank 0 writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dskd.data.cases import CaseArrays
from dskd.inference import predict_probabilities
from dskd.plots import overlay

__all__ = ["EpochBoard", "open_board"]

OVERLAYS = 3  # validation images drawn each epoch


class EpochBoard:
    """Writes one epoch's record (a log.csv row) and overlays; a no-op when disabled."""

    def __init__(self, folder: Path | None) -> None:
        self.writer = None
        if folder is not None:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self.writer = SummaryWriter(log_dir=str(folder))

    def write_epoch(self, record: dict, model: nn.Module, val_cases: Sequence[CaseArrays],
                    device: torch.device) -> None:
        if self.writer is None:
            return
        epoch = int(record["epoch"])
        for name, value in record.items():
            if name in ("epoch", "seconds") or value is None or not np.isfinite(value):
                continue
            group = "validation" if name.startswith("val_") else (
                "schedule" if name in ("lr", "alpha_t") else "loss")
            self.writer.add_scalar(f"{group}/{name}", value, epoch)
        model.eval()
        for case in list(val_cases[:OVERLAYS]):
            probabilities = predict_probabilities(model, case.image, device)
            picture = overlay(case.image, probabilities >= 0.5, case.mask)
            self.writer.add_image(f"validation/{case.name}", picture, epoch, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def open_board(enabled: bool, run_dir: Path, *, is_main: bool) -> EpochBoard:
    return EpochBoard(run_dir / "tensorboard" if enabled and is_main else None)
