"""Scoring a model on labelled images: per-image rows, per-image mean/std and pooled figures.

The figures and the protocol are those of dskd.metrics.suite (overlap, AUC/AP, topology,
distances); docs/evaluation.md states them. The same scoring serves masks made by other tools
(dskd.evaluation.folders), so every method is measured the same way.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dskd.data.cases import Case, CaseArrays
from dskd.data.readers import list_images
from dskd.errors import DataError
from dskd.inference import predict_probabilities
from dskd.metrics.overlap import OVERLAP_METRICS, overlap_metrics
from dskd.metrics.probabilistic import average_precision, precision_recall_curve, roc_auc
from dskd.metrics.suite import METRICS, Protocol, score_image
from dskd.metrics.topology import SKELETON_COUNT_KEYS, cldice_from_counts

__all__ = [
    "OVERLAP_ONLY",
    "predict_cases",
    "score_masks",
    "score_predictions",
    "pooled_probabilistic",
    "summarize",
    "choose_threshold",
    "write_report",
    "evaluate_checkpoint",
]

log = logging.getLogger(__name__)

# The fast protocol of validation during training and of threshold choice: counts only.
OVERLAP_ONLY = Protocol(groups=("overlap",))


def predict_cases(model: nn.Module, cases: list[CaseArrays], device: torch.device, *,
                  progress: bool = False) -> list[np.ndarray]:
    """Probabilities (H, W) for every case, in order."""
    model.eval()
    bar = tqdm(cases, desc="predict", unit="img", disable=None if progress else True, leave=False)
    return [predict_probabilities(model, c.image, device) for c in bar]


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


def _per_image_stats(values: np.ndarray) -> dict:
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return {"mean": None, "std": None, "median": None, "n": 0}
    return {"mean": float(defined.mean()), "std": float(defined.std()),
            "median": float(np.median(defined)), "n": int(defined.size)}


def summarize(rows: list[dict], counts: torch.Tensor, *, threshold: float | None,
              threshold_policy: str, protocol: Protocol | None = None,
              pooled_extra: dict[str, float] | None = None) -> dict:
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
    summary = {
        "n_images": len(rows),
        "threshold": threshold,
        "threshold_policy": threshold_policy,
        "per_image": {k: _per_image_stats(np.array([r[k] for r in rows], dtype=np.float64))
                      for k in metrics},
        "pooled": {k: _finite_or_none(v) for k, v in pooled.items()},
        "pooled_definition": {k: METRICS[k].pooled for k in pooled if k in METRICS},
        "per_image_only": [k for k in metrics if METRICS[k].pooled is None],
    }
    if rows and "empty_mask" in rows[0]:
        cases = [r["empty_mask"] for r in rows]
        summary["empty_masks"] = {k: cases.count(k) for k in ("prediction", "label", "both")}
    if protocol is not None:
        summary["protocol"] = protocol.to_dict()
    return summary


def choose_threshold(cases: list[CaseArrays], probabilities: list[np.ndarray]) -> float:
    """The threshold in 0.05..0.95 (step 0.05) with the best per-image mean Dice.

    Call it on a validation split only: choosing it on the test set inflates the test figures.
    """
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    scores = [np.mean([r["dice"] for r in score_predictions(cases, probabilities, threshold=t)[0]])
              for t in grid]
    best = float(grid[int(np.argmax(scores))])
    log.info("threshold %.2f chosen on %d validation images (Dice %.4f; at 0.50: %.4f)", best,
             len(cases), max(scores), scores[int(np.argmin(np.abs(grid - 0.5)))])
    return best


def write_report(rows: list[dict], summary: dict, out_dir: str | Path, *,
                 pr_curve: dict[str, np.ndarray] | None = None) -> None:
    """out_dir/per_image.csv and out_dir/summary.json (and pr_curve.csv when given)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["name", *OVERLAP_METRICS]
    with open(out_dir / "per_image.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if pr_curve is not None and pr_curve["recall"].size:
        with open(out_dir / "pr_curve.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["threshold", "precision", "recall"])
            writer.writerows(zip(*(pr_curve[k].tolist() for k in ("threshold", "precision", "recall")),
                                 strict=True))


def _attach_fov(cases: list[Case], fov_dir: str | Path, fov_suffix: str) -> list[Case]:
    """Cases with their field-of-view mask from fov_dir/<name><fov_suffix>.<ext>."""
    folder = Path(fov_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: field-of-view folder not found")
    by_name = {p.stem: p for p in list_images(folder)}
    attached = []
    for case in cases:
        path = by_name.get(f"{case.name}{fov_suffix}")
        if path is None:
            raise DataError(f"{folder}: no field-of-view mask named {case.name}{fov_suffix}.* "
                            "(set --fov-suffix if the names differ by a suffix)")
        attached.append(replace(case, fov=path))
    return attached


def evaluate_checkpoint(checkpoint: str | Path, data_root: str | Path, out_dir: str | Path, *,
                        layout: str = "folder", split_file: str | None = None,
                        split_part: str = "test", device: str = "cpu",
                        overlays: bool = False, threshold: float | None = None,
                        fov_dir: str | Path | None = None, fov_suffix: str = "",
                        protocol: Protocol | None = None, report: bool = False) -> dict:
    """Score a checkpoint on a labelled dataset; writes per_image.csv, summary.json, pr_curve.csv
    (and overlays/, and the HTML report with its figures when report=True).

    The threshold is the one stored in the checkpoint: 0.5 by default, or the one chosen on the
    validation split during training or by `dskd threshold-sweep` (the summary says which).
    `threshold` overrides it (policy "fixed").
    """
    from dskd.checkpoint import load_model
    from dskd.data.cases import load_case
    from dskd.data.readers import read_cases
    from dskd.data.splits import apply_split, read_split_file

    protocol = protocol if protocol is not None else Protocol()
    model, config, stored_threshold = load_model(checkpoint)
    torch_device = torch.device(device)
    model.to(torch_device)
    cases = read_cases(layout, data_root)
    if split_file:
        cases = apply_split(cases, read_split_file(split_file), split_part, source=str(split_file))
    if fov_dir is not None:
        cases = _attach_fov(cases, fov_dir, fov_suffix)
    arrays = [load_case(c) for c in cases]
    if threshold is None:
        threshold = stored_threshold
        policy = "validation" if config.run.threshold == "validation" else "fixed"
    else:
        policy = "fixed"
    probabilities = predict_cases(model, arrays, torch_device, progress=True)
    rows, counts = score_predictions(arrays, probabilities, threshold=threshold, protocol=protocol,
                                     progress=True)
    pooled_extra, pr_curve = ({}, None)
    if "probabilistic" in protocol.groups:
        pooled_extra, pr_curve = pooled_probabilistic(arrays, probabilities)
    summary = summarize(rows, counts, threshold=threshold, threshold_policy=policy,
                        protocol=protocol, pooled_extra=pooled_extra)
    summary["checkpoint"] = str(checkpoint)
    summary["data"] = str(data_root)
    summary["fov"] = str(fov_dir) if fov_dir is not None else None
    training_log = Path(checkpoint).parent / "log.csv"
    summary["training_log"] = str(training_log) if training_log.is_file() else None
    write_report(rows, summary, out_dir, pr_curve=pr_curve)
    predictions = [probs >= threshold for probs in probabilities]
    if overlays or report:
        from dskd.evaluation.report.gallery import write_overlays

        write_overlays(arrays, predictions, Path(out_dir) / "overlays")
    if report:
        from dskd.evaluation.report.run_report import write_run_report

        write_run_report(out_dir, rows, summary, pr_curve=pr_curve)
    return summary
