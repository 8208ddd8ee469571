"""Topology of a binary vessel map: centreline Dice (clDice) and Betti-number errors.

Dice barely moves when a vessel breaks or a branch is missed; these figures do:
- clDice (Shit et al., CVPR 2021): the harmonic mean of topology precision (share of the
  predicted centreline inside the label) and topology sensitivity (share of the label's
  centreline inside the prediction). Centrelines are hard skeletons (skimage.morphology.skeletonize).
- Betti-0: the number of connected components; a broken artery adds one.
- Betti-1: the number of holes (loops); two branches wrongly merged add one.

Connectivity is an argument: 8 (the default, diagonal neighbours join, the usual choice for thin
2-D vessels) or 4. Holes are counted with the complementary connectivity (4 for 8 and vice versa),
so that the two numbers satisfy the discrete Euler formula.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from skimage.measure import label
from skimage.morphology import skeletonize

__all__ = [
    "Connectivity",
    "SKELETON_COUNT_KEYS",
    "skeleton_counts",
    "cldice_from_counts",
    "betti_numbers",
    "topology_metrics",
]

Connectivity = Literal[4, 8]

# Order of the four numbers skeleton_counts returns (they add up over images, see pooled clDice).
SKELETON_COUNT_KEYS = ("skel_pred_in_label", "skel_pred", "skel_label_in_pred", "skel_label")


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> None:
    if pred.shape != truth.shape or pred.ndim != 2:
        raise ValueError(f"expected two (H, W) masks of one shape, got {pred.shape} and {truth.shape}")


def _check_connectivity(connectivity: int) -> None:
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity={connectivity!r}; valid: 4, 8")


def skeleton_counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The four pixel counts of clDice, in the order of SKELETON_COUNT_KEYS.

    pred, truth: bool (H, W). Returns int64 (4,): |S(P) & T|, |S(P)|, |S(T) & P|, |S(T)|, S the
    hard skeleton. Restrict both masks to the field of view before calling, if there is one.
    """
    _check_pair(pred, truth)
    pred, truth = pred.astype(bool), truth.astype(bool)
    skel_pred = skeletonize(pred) if pred.any() else pred
    skel_truth = skeletonize(truth) if truth.any() else truth
    return np.array([np.sum(skel_pred & truth), np.sum(skel_pred), np.sum(skel_truth & pred),
                     np.sum(skel_truth)], dtype=np.int64)


def _ratio(numerator: float, denominator: float, zero_division: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else zero_division


def cldice_from_counts(counts: np.ndarray, *, zero_division: float = 1.0) -> float:
    """clDice = 2 Tprec Tsens / (Tprec + Tsens) from skeleton_counts (or their sum over images).

    counts: (4,). zero_division is the value of a ratio with nothing to count, as in
    overlap_metrics: with 1.0 an empty prediction of an empty label scores 1, an empty prediction
    of a non-empty label (or the reverse) scores 0.
    """
    in_label, skel_pred, in_pred, skel_label = (float(c) for c in counts)
    t_prec = _ratio(in_label, skel_pred, zero_division)
    t_sens = _ratio(in_pred, skel_label, zero_division)
    if np.isnan(t_prec) or np.isnan(t_sens):  # zero_division=nan: undefined stays undefined
        return float("nan")
    # Both ratios 0: the skeletons miss each other entirely, the worst score rather than undefined.
    return _ratio(2 * t_prec * t_sens, t_prec + t_sens, 0.0)


def betti_numbers(mask: np.ndarray, *, connectivity: Connectivity = 8) -> tuple[int, int]:
    """(Betti-0, Betti-1) of a bool (H, W) mask: its components and its holes.

    A hole is a background component, taken with the complementary connectivity, that does not
    touch the image border: the mask is padded with one background pixel all round and the one
    outer background component is not counted.
    """
    _check_connectivity(connectivity)
    mask = np.asarray(mask, dtype=bool)
    fg_connectivity = 2 if connectivity == 8 else 1  # skimage counts neighbour steps
    b0 = int(label(mask, connectivity=fg_connectivity).max())
    padded = np.pad(~mask, 1, constant_values=True)
    b1 = int(label(padded, connectivity=3 - fg_connectivity).max()) - 1
    return b0, b1


def topology_metrics(pred: np.ndarray, truth: np.ndarray, *, connectivity: Connectivity = 8,
                     zero_division: float = 1.0) -> dict[str, float]:
    """Per-image topology figures of bool (H, W) masks.

    Returns cldice, betti_0_error = |b0(P) - b0(T)|, betti_1_error = |b1(P) - b1(T)|,
    component_ratio = b0(P) / b0(T) (1 is right, > 1 fragmented, < 1 missed or merged; NaN when
    the label has no component, where no ratio is defined), the four Betti numbers themselves and
    the four skeleton counts (for pooled clDice).
    """
    _check_pair(pred, truth)
    counts = skeleton_counts(pred, truth)
    b0_pred, b1_pred = betti_numbers(pred, connectivity=connectivity)
    b0_true, b1_true = betti_numbers(truth, connectivity=connectivity)
    return {
        "cldice": cldice_from_counts(counts, zero_division=zero_division),
        "betti_0_error": float(abs(b0_pred - b0_true)),
        "betti_1_error": float(abs(b1_pred - b1_true)),
        "component_ratio": b0_pred / b0_true if b0_true > 0 else float("nan"),
        "betti_0_pred": b0_pred,
        "betti_0_label": b0_true,
        "betti_1_pred": b1_pred,
        "betti_1_label": b1_true,
        **{key: int(value) for key, value in zip(SKELETON_COUNT_KEYS, counts, strict=True)},
    }
