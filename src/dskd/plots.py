"""Pictures: training curves and prediction overlays (no screen needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global figure state, no backend to pick

__all__ = ["plot_training_curves", "overlay"]

# Overlay colours (RGB): agreement, false alarms, misses; and plain predictions without a label.
TRUE_POSITIVE = (40, 200, 60)
FALSE_POSITIVE = (230, 40, 40)
FALSE_NEGATIVE = (40, 110, 255)
PREDICTION = (255, 190, 0)


def plot_training_curves(history: list[dict], path: str | Path) -> None:
    """Loss terms and validation Dice per epoch, side by side."""
    if not history:
        return
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 3.6))
    ax_loss, ax_dice = fig.subplots(1, 2)
    skip = {"epoch", "lr", "alpha_t", "val_dice", "seconds"}
    for name in [k for k in history[-1] if k not in skip]:
        ax_loss.plot(epochs, [row.get(name, np.nan) for row in history], label=name)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.legend(fontsize=8)
    ax_dice.plot(epochs, [row["val_dice"] for row in history], marker="o", color="tab:green")
    ax_dice.set_xlabel("epoch")
    ax_dice.set_ylabel("validation Dice (per-image mean, t=0.5)")
    ax_dice.set_ylim(0, 1)
    ax_dice.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def overlay(image: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None,
            *, opacity: float = 0.6) -> np.ndarray:
    """An RGB uint8 (H, W, 3) picture of a prediction over its grayscale image.

    image: float (H, W) in [0, 1]; prediction, truth: bool (H, W). With a label: true positives
    green, false positives red, false negatives blue. Without: the prediction in amber.
    """
    gray = (np.clip(image, 0, 1) * 255).astype(np.float32)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    if truth is None:
        layers = [(prediction, PREDICTION)]
    else:
        layers = [(prediction & truth, TRUE_POSITIVE), (prediction & ~truth, FALSE_POSITIVE),
                  (~prediction & truth, FALSE_NEGATIVE)]
    for where, colour in layers:
        rgb[where] = (1 - opacity) * rgb[where] + opacity * np.array(colour, dtype=np.float32)
    return rgb.astype(np.uint8)
