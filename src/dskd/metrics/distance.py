"""Boundary distances of a binary vessel map: HD95 and average symmetric surface distance (ASSD).

Both come from MONAI (compute_hausdorff_distance with percentile=95, and
compute_average_surface_distance with symmetric=True) on the masks' edges, in pixels, or in
millimetres when a pixel spacing (row, column) is given (MONAI's `spacing`). MONAI has
no answer when a mask is empty, so the empty cases are decided here by a named policy:

- both masks empty: 0 (nothing to find and nothing found: no boundary is misplaced);
- one mask empty, empty_policy="diagonal" (default): the image diagonal sqrt(H^2 + W^2) (in mm
  with a spacing), the largest distance two pixels of the image can have, so a missed image counts
  as the worst case in the mean instead of vanishing from it;
- one mask empty, empty_policy="nan": NaN, left out of means; evaluate counts these images.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
import torch

from dskd.metrics.width import Spacing, check_spacing

__all__ = ["EmptyPolicy", "EMPTY_POLICIES", "surface_distance_metrics"]

EmptyPolicy = Literal["diagonal", "nan"]
EMPTY_POLICIES = ("diagonal", "nan")


def surface_distance_metrics(pred: np.ndarray, truth: np.ndarray, *,
                             empty_policy: EmptyPolicy = "diagonal",
                             spacing: Spacing | None = None) -> dict[str, float | str]:
    """hd95 and assd of bool (H, W) masks, and which of them was empty.

    spacing: (row, column) pixel spacing in mm; the distances are then in mm, else in pixels.

    Returns {"hd95", "assd", "empty_mask"}: empty_mask is "none", "both", "prediction" or "label".
    Restrict both masks to the field of view before calling, if there is one.
    """
    if empty_policy not in EMPTY_POLICIES:
        raise ValueError(f"empty_policy={empty_policy!r}; valid: {', '.join(EMPTY_POLICIES)}")
    if pred.shape != truth.shape or pred.ndim != 2:
        raise ValueError(f"expected two (H, W) masks of one shape, got {pred.shape} and {truth.shape}")
    spacing = check_spacing(spacing)
    has_pred, has_truth = bool(pred.any()), bool(truth.any())
    if not has_pred and not has_truth:
        return {"hd95": 0.0, "assd": 0.0, "empty_mask": "both"}
    if not has_pred or not has_truth:
        row, col = spacing if spacing is not None else (1.0, 1.0)
        worst = math.hypot(pred.shape[0] * row, pred.shape[1] * col) if empty_policy == "diagonal" \
            else float("nan")
        return {"hd95": worst, "assd": worst, "empty_mask": "label" if has_pred else "prediction"}

    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    y_pred = torch.from_numpy(np.ascontiguousarray(pred, dtype=np.float32))[None, None]  # (1, 1, H, W)
    y = torch.from_numpy(np.ascontiguousarray(truth, dtype=np.float32))[None, None]
    with warnings.catch_warnings():
        # MONAI 1.5+ warns about one of its own internal arguments on every call.
        warnings.simplefilter("ignore", FutureWarning)
        hd95 = compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95,
                                          spacing=spacing)
        assd = compute_average_surface_distance(y_pred, y, include_background=True, symmetric=True,
                                                spacing=spacing)
    return {"hd95": float(hd95), "assd": float(assd), "empty_mask": "none"}
