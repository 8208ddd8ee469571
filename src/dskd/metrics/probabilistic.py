"""Threshold-free figures from vessel probabilities: AUC-ROC, average precision, the PR curve.

Written with numpy rather than taken from MONAI: MONAI's compute_roc_auc walks the sorted pixels
in a Python loop, about a second per million pixels, and pooled figures sort every pixel of a
test set. The definitions are the usual ones (those of scikit-learn's roc_auc_score and
average_precision_score), checked against MONAI in the tests.
"""

from __future__ import annotations

import numpy as np

__all__ = ["roc_auc", "average_precision", "precision_recall_curve"]


def _flat(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.shape != labels.shape:
        raise ValueError(f"scores shape {scores.shape} != labels shape {labels.shape}")
    return scores.ravel().astype(np.float64), labels.ravel().astype(bool)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of scores (any shape) against bool labels of the same shape.

    The Mann-Whitney form: the chance that a random vessel pixel scores above a random background
    pixel, ties counting one half. NaN when either class is absent.
    """
    scores, labels = _flat(scores, labels)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # here, not at the top: scipy.stats takes seconds to import

    ranks = rankdata(scores)  # average ranks: ties share them
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _cumulative_counts(scores: np.ndarray, labels: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, true positives, false positives) at each distinct score."""
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tps = np.cumsum(labels)[last_of_run]
    fps = (last_of_run + 1) - tps
    return scores[last_of_run], tps, fps


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision: sum over distinct thresholds of (R_k - R_(k-1)) * P_k.

    scores: any shape; labels: bool of the same shape. NaN when there is no positive pixel.
    """
    scores, labels = _flat(scores, labels)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return float("nan")
    _, tps, fps = _cumulative_counts(scores, labels)
    precision = tps / (tps + fps)
    recall_steps = np.diff(np.r_[0, tps]) / n_pos
    return float(np.sum(recall_steps * precision))


def precision_recall_curve(scores: np.ndarray, labels: np.ndarray, *, max_points: int = 1000
                           ) -> dict[str, np.ndarray]:
    """The precision-recall curve: {"threshold", "precision", "recall"}, each (K,), K <= max_points.

    One point per distinct score, thinned evenly (always keeping the first and last point) so a
    pooled curve of millions of pixels stays small enough to store and plot. Empty arrays when
    there is no positive pixel.
    """
    scores, labels = _flat(scores, labels)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return {"threshold": np.empty(0), "precision": np.empty(0), "recall": np.empty(0)}
    thresholds, tps, fps = _cumulative_counts(scores, labels)
    keep = np.unique(np.linspace(0, thresholds.size - 1, min(max_points, thresholds.size)).round()
                     .astype(int))
    return {"threshold": thresholds[keep], "precision": tps[keep] / (tps[keep] + fps[keep]),
            "recall": tps[keep] / n_pos}
