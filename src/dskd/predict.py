"""Prediction on image files: binary masks and overlays for files and folders."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tqdm import tqdm

from dskd.checkpoint import load_model
from dskd.data.io import IMAGE_SUFFIXES, read_image, write_png
from dskd.errors import DataError
from dskd.inference import predict_probabilities
from dskd.plots import overlay

__all__ = ["collect_inputs", "predict_files"]

log = logging.getLogger(__name__)


def collect_inputs(inputs: list[str | Path]) -> list[Path]:
    """Image files named directly, and the image files inside named folders (sorted)."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{item}: no images found")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"{item}: file not found")
    return files


def predict_files(checkpoint: str | Path, inputs: list[str | Path], out_dir: str | Path, *,
                  threshold: float | None = None, device: str = "cpu") -> list[Path]:
    """Write <stem>_mask.png (0/255) and <stem>_overlay.png per input image; returns the masks."""
    model, _, stored_threshold = load_model(checkpoint)
    threshold = stored_threshold if threshold is None else threshold
    torch_device = torch.device(device)
    model.to(torch_device)
    out_dir = Path(out_dir)
    written = []
    for path in tqdm(collect_inputs(inputs), desc="predict", unit="img", disable=None):
        image = read_image(path)
        mask = predict_probabilities(model, image, torch_device) >= threshold
        write_png(out_dir / f"{path.stem}_mask.png", mask)
        write_png(out_dir / f"{path.stem}_overlay.png", overlay(image, mask))
        written.append(out_dir / f"{path.stem}_mask.png")
    log.info("wrote %d masks to %s (threshold %.2f)", len(written), out_dir, threshold)
    return written
