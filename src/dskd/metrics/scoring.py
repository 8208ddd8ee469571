"""Scoring probability maps and masks against labels: per-image rows, summaries, thresholds.

The core that training (validation Dice, the validation threshold) and every evaluation
application share. The figures and the protocol are those of dskd.metrics.suite.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from dskd.data.cases import CaseArrays
from dskd.errors import DataError
from dskd.metrics.overlap import overlap_metrics
from dskd.metrics.probabilistic import average_precision, precision_recall_curve, roc_auc
from dskd.metrics.suite import METRICS, Protocol, score_image
from dskd.metrics.summary import EvaluationSummary, MetricStats
from dskd.metrics.topology import SKELETON_COUNT_KEYS, cldice_from_counts

__all__ = [
    "OVERLAP_ONLY",
    "best_threshold",
    "choose_threshold",
    "pooled_probabilistic",
    "score_masks",
    "score_predictions",
    "summarize",
    "threshold_grid",
    "threshold_sweep",
]

log = logging.getLogger(__name__)

# The fast protocol of validation during training and of threshold choice: counts only.
OVERLAP_ONLY = Protocol(groups=("overlap",))


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the duration. The metrics run many small tensor operations (MONAI's
    surface distances, the confusion counts) whose cost is thread start-up and synchronisation:
    on a busy 2-core machine one thread scored images 2-6 times faster than two."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def score_masks(cases: list[CaseArrays], predictions: list[np.ndarray], *,
                probabilities: list[np.ndarray] | None = None, protocol: Protocol = OVERLAP_ONLY,
                progress: bool = False) -> tuple[list[dict], torch.Tensor]:
    """Per-image rows (name + the protocol's figures, see score_image) and (N, 4) confusion counts.

    predictions: bool (H, W) per case; probabilities: float (H, W) per case, or None when only
    binary masks exist (then AUC and AP are not computed). Pixels outside a case's field-of-view
    mask, when it has one, are not counted.
    """
    probabilities = probabilities if probabilities is not None else [None] * len(cases)
    rows = []
    bar = tqdm(zip(cases, predictions, probabilities, strict=True), total=len(cases), desc="score",
               unit="img", disable=None if progress else True, leave=False)
    with _one_torch_thread():
        for case, pred, probs in bar:
            if case.mask is None:
                raise DataError(f"case '{case.name}' has no mask; evaluation needs labels")
            if pred.shape != case.mask.shape:
                raise DataError(f"case '{case.name}': prediction {pred.shape[1]}x{pred.shape[0]} does "
                                f"not match its label ({case.mask.shape[1]}x{case.mask.shape[0]})")
            row = score_image(pred.astype(bool), case.mask, fov=case.fov, probabilities=probs,
                              protocol=protocol)
            rows.append({"name": case.name, **row})
    counts = torch.tensor([[r["tp"], r["fp"], r["fn"], r["tn"]] for r in rows], dtype=torch.int64)
    return rows, counts.reshape(len(rows), 4)


def score_predictions(cases: list[CaseArrays], probabilities: list[np.ndarray], *,
                      threshold: float, protocol: Protocol = OVERLAP_ONLY,
                      progress: bool = False) -> tuple[list[dict], torch.Tensor]:
    """Per-image metric rows and the (N, 4) confusion counts of probabilities >= threshold.

    With the default protocol the rows hold OVERLAP_METRICS (fast enough for every epoch);
    pass Protocol() for every figure.
    """
    predictions = [probs >= threshold for probs in probabilities]
    return score_masks(cases, predictions, probabilities=probabilities, protocol=protocol,
                       progress=progress)


def _in_fov(values: np.ndarray, case: CaseArrays) -> np.ndarray:
    return values[case.fov] if case.fov is not None else values.ravel()


def pooled_probabilistic(cases: list[CaseArrays], probabilities: list[np.ndarray]
                         ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Pooled AUC-ROC and AP (all in-FOV pixels of all images ranked together), and the pooled
    precision-recall curve."""
    scores = np.concatenate([_in_fov(p, c) for c, p in zip(cases, probabilities, strict=True)])
    labels = np.concatenate([_in_fov(c.mask, c) for c in cases])
    pooled = {"auc_roc": roc_auc(scores, labels), "average_precision": average_precision(scores, labels)}
    return pooled, precision_recall_curve(scores, labels)


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is written as null."""
    return None if math.isnan(value) else float(value)


def _per_image_stats(values: np.ndarray) -> MetricStats:
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return MetricStats(None, None, None, 0)
    return MetricStats(float(defined.mean()), float(defined.std()), float(np.median(defined)),
                       int(defined.size))


def summarize(rows: list[dict], counts: torch.Tensor, *, threshold: float | None,
              threshold_policy: str, protocol: Protocol | None = None,
              pooled_extra: dict[str, float] | None = None) -> EvaluationSummary:
    """Per-image mean, std (population std, ddof=0), median and count of defined values of each
    metric in the rows, and pooled figures where pooling means something (METRICS[k].pooled).

    NaN values (undefined on that image) are left out of the per-image statistics; "n" says how
    many images count. pooled_extra adds pooled figures computed elsewhere (AUC, AP).
    """
    metrics = [k for k in METRICS if rows and k in rows[0]]
    zero_division = protocol.zero_division if protocol is not None else 1.0
    pooled = {}
    if not rows or "dice" in rows[0]:
        pooled = {k: float(v) for k, v in overlap_metrics(counts, reduction="pooled",
                                                          zero_division=zero_division).items()}
    if rows and all(k in rows[0] for k in SKELETON_COUNT_KEYS):
        skeleton = np.array([[r[k] for k in SKELETON_COUNT_KEYS] for r in rows]).sum(0)
        pooled["cldice"] = cldice_from_counts(skeleton, zero_division=zero_division)
    pooled.update(pooled_extra or {})
    empty_masks = None
    if rows and "empty_mask" in rows[0]:
        cases = [r["empty_mask"] for r in rows]
        empty_masks = {k: cases.count(k) for k in ("prediction", "label", "both")}
    return EvaluationSummary(
        n_images=len(rows), threshold=threshold, threshold_policy=threshold_policy,
        per_image={k: _per_image_stats(np.array([r[k] for r in rows], dtype=np.float64))
                   for k in metrics},
        pooled={k: _finite_or_none(v) for k, v in pooled.items()},
        pooled_definition={k: METRICS[k].pooled for k in pooled if k in METRICS},
        per_image_only=tuple(k for k in metrics if METRICS[k].pooled is None),
        empty_masks=empty_masks, protocol=protocol.to_dict() if protocol is not None else None)


def threshold_grid(step: float = 0.05) -> np.ndarray:
    """step, 2 step, ... up to 1 - step (0.05..0.95 by default), rounded to avoid float drift."""
    if not 0 < step < 0.5:
        raise DataError(f"--step {step}: expected a value between 0 and 0.5 (e.g. 0.05)")
    return np.round(np.arange(step, 1 - step / 2, step), 6)


def threshold_sweep(cases: list[CaseArrays], probabilities: list[np.ndarray],
                    thresholds: np.ndarray) -> list[dict]:
    """One row per threshold: per-image mean (and std) of Dice, IoU, sensitivity, precision,
    specificity, and pooled Dice."""
    rows = []
    for t in thresholds:
        per_image, counts = score_predictions(cases, probabilities, threshold=float(t))
        row = {"threshold": float(t)}
        for m in ("dice", "iou", "sensitivity", "precision", "specificity"):
            row[f"{m}_mean"] = float(np.mean([r[m] for r in per_image]))
        row["dice_std"] = float(np.std([r["dice"] for r in per_image]))
        row["dice_pooled"] = float(overlap_metrics(counts, reduction="pooled")["dice"])
        rows.append(row)
    return rows


def best_threshold(rows: list[dict]) -> float:
    """The threshold of the best per-image mean Dice (the lowest one on a tie)."""
    return rows[int(np.argmax([r["dice_mean"] for r in rows]))]["threshold"]


def choose_threshold(cases: list[CaseArrays], probabilities: list[np.ndarray]) -> float:
    """The threshold of threshold_grid() with the best per-image mean Dice (the lowest on a tie).

    Call it on a validation split only: choosing it on the test set inflates the test figures.
    """
    rows = threshold_sweep(cases, probabilities, threshold_grid())
    best = best_threshold(rows)
    scores = {row["threshold"]: row["dice_mean"] for row in rows}
    log.info("threshold %.2f chosen on %d validation images (Dice %.4f; at 0.50: %.4f)", best,
             len(cases), scores[best], scores[0.5])
    return best
