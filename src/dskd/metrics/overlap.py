"""Overlap metrics of binary masks: count first (a confusion matrix per image), then reduce.

The reduction is a named argument: "per_image" gives one value per image (average them for the
per-image mean), "pooled" sums the counts of all images first (every pixel weighs the same).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["OVERLAP_METRICS", "confusion_counts", "overlap_metrics"]

OVERLAP_METRICS = ("dice", "iou", "accuracy", "sensitivity", "specificity", "precision")


def confusion_counts(pred: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """Per-image true/false positives/negatives.

    pred, target: (B, ...) boolean (or 0/1) masks of the same shape; valid: optional (B, ...)
    boolean field-of-view mask, pixels outside it are not counted.
    Returns (B, 4) int64 counts in the order tp, fp, fn, tn.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != label shape {tuple(target.shape)}")
    pred = pred.bool().flatten(1)
    target = target.bool().flatten(1)
    valid = torch.ones_like(pred) if valid is None else valid.bool().flatten(1)
    tp = (pred & target & valid).sum(1)
    fp = (pred & ~target & valid).sum(1)
    fn = (~pred & target & valid).sum(1)
    tn = (~pred & ~target & valid).sum(1)
    return torch.stack([tp, fp, fn, tn], dim=1)


def _ratio(numerator: Tensor, denominator: Tensor, zero_division: float) -> Tensor:
    out = numerator / denominator.clamp_min(1)
    return torch.where(denominator > 0, out, torch.full_like(out, zero_division))


def overlap_metrics(
    counts: Tensor,
    *,
    reduction: Literal["per_image", "pooled"] = "per_image",
    zero_division: float = 1.0,
) -> dict[str, Tensor]:
    """Dice, IoU, accuracy, sensitivity, specificity and precision from confusion counts.

    counts: (B, 4) as returned by confusion_counts. reduction="per_image" returns tensors of shape
    (B,); "pooled" sums the counts over images first and returns 0-d tensors.
    zero_division: the value of a ratio whose denominator is 0. With the default 1.0, an empty
    prediction of an empty label scores Dice = IoU = sensitivity = precision = 1 (nothing to find,
    nothing wrongly found); set 0.0 or float('nan') for a stricter policy.
    """
    if reduction not in ("per_image", "pooled"):
        raise ValueError(f"reduction={reduction!r}; valid: per_image, pooled")
    counts = counts.to(torch.float64)
    if reduction == "pooled":
        counts = counts.sum(0)
    tp, fp, fn, tn = counts.unbind(-1)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, zero_division),
        "iou": _ratio(tp, tp + fp + fn, zero_division),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn, zero_division),
        "sensitivity": _ratio(tp, tp + fn, zero_division),
        "specificity": _ratio(tn, tn + fp, zero_division),
        "precision": _ratio(tp, tp + fp, zero_division),
    }
