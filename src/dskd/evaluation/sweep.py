"""`dskd threshold-sweep`: Dice, sensitivity and precision of a checkpoint across thresholds, on
a validation split, and the threshold with the best per-image mean Dice (the rule of
dskd.metrics.scoring.choose_threshold, which training uses with run.threshold=validation).

Never on the test set: a test split is refused by name, and by default the images are the
checkpoint's own validation split, rebuilt from the config stored in it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from dskd.errors import DataError
from dskd.inference.cases import predict_cases
from dskd.metrics.scoring import best_threshold, threshold_grid, threshold_sweep
from dskd.tables import write_csv

__all__ = ["sweep_checkpoint"]

log = logging.getLogger(__name__)


def _validation_cases(config, data_root, layout: str, split_file: str | None, split_part: str):
    from dskd.data.readers import read_cases
    from dskd.data.splits import apply_split, read_split_file
    from dskd.data.training_split import split_training_cases

    if split_part.lower() == "test":
        raise DataError("--split test: a threshold chosen on the test set inflates the test figures; "
                        "sweep on a validation split (e.g. --split val)")
    if data_root is None:
        _, val = split_training_cases(config.data, seed=config.run.seed)
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
    model, config, _ = load_model(checkpoint, check_threshold=False)  # a sweep replaces it
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
    write_csv(out_dir / "threshold_sweep.csv", rows)
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
