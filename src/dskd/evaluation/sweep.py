"""`dskd threshold-sweep`: Dice, sensitivity and precision of a checkpoint across thresholds, on
a validation split, and the threshold with the best per-image mean Dice (the rule of
dskd.evaluation.evaluate.choose_threshold, which training uses with run.threshold=validation).

Never on the test set: a test split is refused by name, and by default the images are the
checkpoint's own validation split, rebuilt from the config stored in it.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch

from dskd.data.cases import CaseArrays
from dskd.errors import DataError
from dskd.evaluation.evaluate import predict_cases, score_predictions
from dskd.metrics.overlap import overlap_metrics

__all__ = ["threshold_grid", "threshold_sweep", "best_threshold", "sweep_checkpoint"]

log = logging.getLogger(__name__)


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


def _validation_cases(config, data_root, layout: str, split_file: str | None, split_part: str):
    from dskd.data.readers import read_cases
    from dskd.data.splits import apply_split, read_split_file
    from dskd.training.fit import split_training_cases

    if split_part.lower() == "test":
        raise DataError("--split test: a threshold chosen on the test set inflates the test figures; "
                        "sweep on a validation split (e.g. --split val)")
    if data_root is None:
        _, val = split_training_cases(config)
        if not val:
            raise DataError("the checkpoint's run had no validation split (data.val_fraction=0 and no "
                            "split file); pass --data with a validation set")
        return val, f"the checkpoint's validation split of {config.data.root}"
    cases = read_cases(layout, data_root)
    if split_file:
        return (apply_split(cases, read_split_file(split_file), split_part, source=str(split_file)),
                f"part '{split_part}' of {split_file} in {data_root}")
    return cases, f"all images of {data_root} (given as a validation set)"


def _store(checkpoint: Path, threshold: float, target: Path) -> None:
    """A copy of the checkpoint that carries the threshold, marked as chosen on validation."""
    from dskd.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(checkpoint)
    config = {**payload["config"], "run": {**payload["config"].get("run", {}), "threshold": "validation"}}
    save_checkpoint({**payload, "config": config, "threshold": threshold}, target)


def sweep_checkpoint(checkpoint: str | Path, out_dir: str | Path, *, data_root: str | Path | None = None,
                     layout: str = "folder", split_file: str | None = None, split_part: str = "val",
                     device: str = "cpu", step: float = 0.05, store: str | Path | None = None) -> dict:
    """Sweep thresholds on validation images; writes out_dir/threshold_sweep.{csv,json,png}.

    store: write a copy of the checkpoint there (it may be the checkpoint itself) with the chosen
    threshold, which `dskd evaluate` then uses and reports as policy "validation".
    """
    from dskd.checkpoint import load_model
    from dskd.data.cases import load_case
    from dskd.evaluation.report.figures import plot_threshold_sweep

    grid = threshold_grid(step)
    model, config, _ = load_model(checkpoint)
    torch_device = torch.device(device)
    model.to(torch_device)
    cases, source = _validation_cases(config, data_root, layout, split_file, split_part)
    arrays = [load_case(c) for c in cases]
    if any(c.mask is None for c in arrays):
        raise DataError(f"{source}: the threshold sweep needs labelled images")
    probabilities = predict_cases(model, arrays, torch_device, progress=True)
    rows = threshold_sweep(arrays, probabilities, grid)
    chosen = best_threshold(rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "threshold_sweep.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_threshold_sweep(rows, out_dir / "threshold_sweep.png", chosen=chosen)
    result = {"checkpoint": str(checkpoint), "images": source, "n_images": len(arrays),
              "criterion": "best per-image mean Dice (lowest threshold on a tie)",
              "chosen_threshold": chosen,
              "dice_mean_at_chosen": next(r["dice_mean"] for r in rows if r["threshold"] == chosen),
              "stored_in": str(store) if store is not None else None}
    (out_dir / "threshold_sweep.json").write_text(json.dumps(result, indent=2))
    if store is not None:
        _store(Path(checkpoint), chosen, Path(store))
    log.info("threshold %.2f chosen on %d validation images (%s)", chosen, len(arrays), source)
    return result
