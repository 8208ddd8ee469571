"""Vessel width along the centreline: the diameter at each skeleton pixel is twice the Euclidean
distance from it to the nearest background pixel (2 x the distance transform), summarised per image
by its median and 95th percentile.

The distance runs from the skeleton pixel's centre to the centre of the first background pixel, so
a straight vessel k pixels wide (k odd, skeleton on its middle row) measures k + 1 pixels: pencil
and paper give 2 x (k + 1) / 2. With a pixel spacing (row, column) in millimetres the distance
transform is taken in millimetres (anisotropic spacing included) and so are the widths; without
one they are in pixels. An empty mask has no width: NaN, left out of means.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

__all__ = ["Spacing", "check_spacing", "centreline_diameters", "vessel_width"]

Spacing = tuple[float, float]  # (row, column) pixel spacing in millimetres


def check_spacing(spacing: Spacing | None) -> Spacing | None:
    """(row, column) as floats, both finite and > 0, or None; ValueError names the value."""
    if spacing is None:
        return None
    values = tuple(float(v) for v in spacing)
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing {spacing!r} must be two positive millimetre values (row, column)")
    return values  # type: ignore[return-value]


def centreline_diameters(mask: np.ndarray, *, spacing: Spacing | None = None) -> np.ndarray:
    """float64 (K,): 2 x the distance transform at the K skeleton pixels of a bool (H, W) mask,
    in millimetres with `spacing`, else in pixels. Empty for an empty mask."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    mask = mask.astype(bool)
    if not mask.any():
        return np.zeros(0)
    spacing = check_spacing(spacing)
    # Pad by one background pixel so a vessel touching the border still has an edge there.
    distance = distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1]
    return 2.0 * distance[skeletonize(mask)]


def vessel_width(mask: np.ndarray, *, spacing: Spacing | None = None) -> dict[str, float]:
    """{"width_median", "width_p95"} of a bool (H, W) mask (see the module docstring); NaN when
    the mask is empty."""
    diameters = centreline_diameters(mask, spacing=spacing)
    if diameters.size == 0:
        return {"width_median": float("nan"), "width_p95": float("nan")}
    return {"width_median": float(np.median(diameters)),
            "width_p95": float(np.percentile(diameters, 95))}
