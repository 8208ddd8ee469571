"""Do a segmentation's errors change the diameters a clinician would read? (issue 32)

Along the label's centreline, the diameter measured on the prediction (its probability map when
there is one, else its mask) minus the diameter measured on the label, both normal to the label's
centreline at the same points (dskd.qca.profile). Points where either has no edge within reach
(the prediction missed the vessel there) are left out and counted. Ends of segments are left out
as in QCA (dskd.qca.lesions.analysable).
"""

from __future__ import annotations

import numpy as np

from dskd.qca.graph import inscribed_diameter, vessel_graph
from dskd.qca.lesions import analysable
from dskd.qca.profile import diameter_profile

__all__ = ["diameter_differences", "diameter_agreement"]


def diameter_differences(prediction: np.ndarray, label: np.ndarray, *,
                         probability: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(label diameters (K,), prediction - label (K,), points left out) in px along the label's
    centreline; prediction and label bool (H, W), probability float (H, W) or None."""
    label = label.astype(bool)
    diameter = inscribed_diameter(label)
    predicted_map = (probability if probability is not None else prediction.astype(np.float32))
    truths, differences, left_out = [], [], 0
    for segment in vessel_graph(label, diameter=diameter):
        reach = 0.75 * float(diameter[tuple(segment.points.astype(int).T)].max()) + 3
        truth = diameter_profile(segment.points, label, method="mask", max_radius=reach)
        usable = analysable(segment, truth)
        measured = diameter_profile(segment.points, predicted_map, method="probability", max_radius=2 * reach)
        both = usable & np.isfinite(measured.diameter)
        left_out += int(np.sum(usable & ~np.isfinite(measured.diameter)))
        truths.append(truth.diameter[both])
        differences.append(measured.diameter[both] - truth.diameter[both])
    if not truths:
        return np.zeros(0), np.zeros(0), left_out
    return np.concatenate(truths), np.concatenate(differences), left_out


def diameter_agreement(prediction: np.ndarray, label: np.ndarray, *, probability: np.ndarray | None = None,
                       mm_per_px: float | None = None) -> dict[str, float]:
    """{"diameter_error_abs", "diameter_error"}: mean absolute and mean signed difference
    (prediction - label), in mm with mm_per_px, else px; NaN when no point is measurable."""
    _, differences, _ = diameter_differences(prediction, label, probability=probability)
    scale = mm_per_px if mm_per_px is not None else 1.0
    if differences.size == 0:
        return {"diameter_error_abs": float("nan"), "diameter_error": float("nan")}
    return {"diameter_error_abs": float(np.mean(np.abs(differences))) * scale,
            "diameter_error": float(np.mean(differences)) * scale}
