"""Scoring a model on labelled images: per-image rows, per-image mean/std and pooled figures."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dskd.data.cases import CaseArrays
from dskd.errors import DataError
from dskd.inference import predict_probabilities
from dskd.metrics.overlap import OVERLAP_METRICS, confusion_counts, overlap_metrics

__all__ = [
    "predict_cases",
    "score_predictions",
    "summarize",
    "choose_threshold",
    "write_report",
    "evaluate_checkpoint",
]

log = logging.getLogger(__name__)


def predict_cases(model: nn.Module, cases: list[CaseArrays], device: torch.device, *,
                  progress: bool = False) -> list[np.ndarray]:
    """Probabilities (H, W) for every case, in order."""
    model.eval()
    bar = tqdm(cases, desc="predict", unit="img", disable=None if progress else True, leave=False)
    return [predict_probabilities(model, c.image, device) for c in bar]


def score_predictions(cases: list[CaseArrays], probabilities: list[np.ndarray], *,
                      threshold: float) -> tuple[list[dict], torch.Tensor]:
    """Per-image metric rows (name + OVERLAP_METRICS) and the (N, 4) confusion counts.

    Pixels outside a case's field-of-view mask, when it has one, are not counted.
    """
    rows, all_counts = [], []
    for case, probs in zip(cases, probabilities, strict=True):
        if case.mask is None:
            raise DataError(f"case '{case.name}' has no mask; evaluation needs labels")
        pred = torch.from_numpy(probs >= threshold)[None]
        truth = torch.from_numpy(case.mask)[None]
        fov = torch.from_numpy(case.fov)[None] if case.fov is not None else None
        counts = confusion_counts(pred, truth, fov)
        metrics = overlap_metrics(counts, reduction="per_image")
        rows.append({"name": case.name, **{k: float(metrics[k][0]) for k in OVERLAP_METRICS}})
        all_counts.append(counts)
    return rows, torch.cat(all_counts)


def summarize(rows: list[dict], counts: torch.Tensor, *, threshold: float,
              threshold_policy: str) -> dict:
    """Per-image mean and std (population std, ddof=0) of each metric, and pooled-pixel figures."""
    pooled = overlap_metrics(counts, reduction="pooled")
    summary = {
        "n_images": len(rows),
        "threshold": threshold,
        "threshold_policy": threshold_policy,
        "per_image": {
            k: {"mean": float(np.mean([r[k] for r in rows])), "std": float(np.std([r[k] for r in rows]))}
            for k in OVERLAP_METRICS
        },
        "pooled": {k: float(pooled[k]) for k in OVERLAP_METRICS},
    }
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


def write_report(rows: list[dict], summary: dict, out_dir: str | Path) -> None:
    """out_dir/per_image.csv and out_dir/summary.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "per_image.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["name", *OVERLAP_METRICS])
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))


def evaluate_checkpoint(checkpoint: str | Path, data_root: str | Path, out_dir: str | Path, *,
                        layout: str = "folder", split_file: str | None = None,
                        split_part: str = "test", device: str = "cpu",
                        overlays: bool = False) -> dict:
    """Score a checkpoint on a labelled dataset; writes per_image.csv, summary.json (and overlays).

    The threshold is the one stored in the checkpoint: 0.5 by default, or the one chosen on the
    validation split during training (the summary says which).
    """
    from dskd.checkpoint import load_model
    from dskd.data.cases import load_case
    from dskd.data.io import write_png
    from dskd.data.readers import read_cases
    from dskd.data.splits import apply_split, read_split_file
    from dskd.plots import overlay

    model, config, threshold = load_model(checkpoint)
    torch_device = torch.device(device)
    model.to(torch_device)
    cases = read_cases(layout, data_root)
    if split_file:
        cases = apply_split(cases, read_split_file(split_file), split_part, source=str(split_file))
    arrays = [load_case(c) for c in cases]
    probabilities = predict_cases(model, arrays, torch_device, progress=True)
    rows, counts = score_predictions(arrays, probabilities, threshold=threshold)
    policy = "validation" if config.run.threshold == "validation" else "fixed"
    summary = summarize(rows, counts, threshold=threshold, threshold_policy=policy)
    summary["checkpoint"] = str(checkpoint)
    summary["data"] = str(data_root)
    write_report(rows, summary, out_dir)
    if overlays:
        for case, probs in zip(arrays, probabilities, strict=True):
            write_png(Path(out_dir) / "overlays" / f"{case.name}.png",
                      overlay(case.image, probs >= threshold, case.mask))
    return summary
