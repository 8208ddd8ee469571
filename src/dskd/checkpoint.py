"""Checkpoints: written atomically, loaded with weights_only=True, carrying the config that made them.

A checkpoint is a plain dict of tensors and plain values:
    format, config (nested dict), model (state dict), epoch (epochs completed), threshold,
    val_dice, and for resuming (last.pt only): optimizer, teacher, best_val_dice, history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dskd.config import Config, config_from_dict
from dskd.errors import CheckpointError, DskdError
from dskd.models.unet import UNet, build_model

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "FORMAT_VERSION"]

FORMAT_VERSION = 1


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"format": FORMAT_VERSION, **payload}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, on the CPU. weights_only=True: a checkpoint file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable dskd checkpoint ({first_line})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not a dskd checkpoint of format {FORMAT_VERSION}")
    return payload


def load_model(path: str | Path) -> tuple[UNet, Config, float]:
    """(model in eval mode on the CPU, its config, its decision threshold) from a checkpoint."""
    payload = load_checkpoint(path)
    try:
        config = config_from_dict(payload["config"])
    except DskdError as error:
        raise CheckpointError(f"{path}: stored config is invalid ({error})") from None
    model = build_model(config.model)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not match the stored config ({error})") from None
    return model.eval(), config, float(payload.get("threshold", config.run.threshold_value))
