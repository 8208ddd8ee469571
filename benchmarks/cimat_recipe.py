"""The CIMAT recipe: choose test-time augmentation and threshold out of fold, then score the
ensemble of the fold models on CIMAT testing once.

The fold models are the runs of a cross-validation grid (`dskd ablate --grid
benchmarks/ablations/components.yaml --out runs/ablate/cimat-components` trains them): fold model
k was trained on the other folds of splits/cimat_cv5.json, so its predictions on fold k are out of
fold. On those predictions (every training image once) this script chooses
  1. the test-time augmentation (none, flips, dihedral) with the best per-image mean Dice at 0.5,
  2. the threshold (0.05..0.95) with the best per-image mean Dice under that augmentation,
and only then predicts CIMAT testing 1-20 with the mean probabilities of all fold models, scored
once with `dskd evaluate`'s protocol. Nothing is chosen on the test images.

    python benchmarks/cimat_recipe.py --runs runs/ablate/cimat-components/runs/dice \\
        --out benchmarks/results/cimat-recipe

or, in one command that first trains (or resumes, or finds finished) the five fold models of a
recipe config, two at a time, then chooses and scores (the shipped recipe):

    python benchmarks/cimat_recipe.py --config configs/cimat-recipe.yaml --out runs/cimat-recipe

or the same for a variant of an ablation grid (its fold runs stay in that grid's folders):

    python benchmarks/cimat_recipe.py --grid benchmarks/ablations/components.yaml --variant dice \\
        --out benchmarks/results/cimat-recipe

With several --runs folders (candidate recipes: variants of the grids), each is chosen out of
fold as above and the one with the best out-of-fold Dice at its chosen TTA and threshold is the
recipe: only it is scored on the test images. --out-of-fold-only stops before the test images.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from dskd.ablate.grid import Grid, Variant, read_grid
from dskd.ablate.launch import run_grid
from dskd.checkpoint import load_model
from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.data.splits import apply_split, read_split_file
from dskd.evaluation.evaluate import evaluate_checkpoint
from dskd.inference.backends import TorchNet
from dskd.inference.cases import net_probabilities
from dskd.metrics.scoring import best_threshold, score_predictions, threshold_grid, threshold_sweep

REPO = Path(__file__).resolve().parent.parent
SPLIT = REPO / "splits" / "cimat_cv5.json"
DATA = REPO.parent / "shared" / "data" / "cimat-angiograms"
TTAS = ("none", "flips", "dihedral")


def fold_models(runs: Path) -> dict[int, Path]:
    """{fold: last.pt} of the finished runs fold<k>-seed0 under `runs`."""
    found = {}
    for run in sorted(runs.glob("fold*-seed0")):
        if (run / "training_curves.png").is_file():  # written after the last checkpoint
            found[int(run.name[4:].split("-")[0])] = run / "last.pt"
    return found


def out_of_fold(models: dict[int, Path], data: Path) -> dict[str, tuple[list, list]]:
    """{tta: (cases, probabilities)} over every held-out fold, each predicted by its fold model."""
    cases_all = read_cases("cimat", data)
    split = read_split_file(SPLIT)
    result: dict[str, tuple[list, list]] = {t: ([], []) for t in TTAS}
    for fold, checkpoint in models.items():
        model, _, _ = load_model(checkpoint)
        net = TorchNet(model, torch.device("cpu"))
        arrays = [load_case(c) for c in apply_split(cases_all, split, f"fold_{fold}", source=str(SPLIT))]
        for tta in TTAS:
            result[tta][0].extend(arrays)
            result[tta][1].extend(net_probabilities(net, arrays, tta=tta))
    return result


def grid_of_config(config: Path) -> Grid:
    """A one-variant grid of a recipe config: its five fold models (data.fold 0-4, seed 0)."""
    name = config.stem
    return Grid(name=name, path=config.resolve(), base=config.resolve(), folds=(0, 1, 2, 3, 4),
                seeds=(0,), reference=name, variants=(Variant(name, ()),),
                description=f"the fold models of {config}")


def train_fold_models(grid: Grid, variant: str, *, jobs: int, out: Path, results: Path) -> Path:
    """Train (or resume) the variant's runs of the grid in the grid folder `out`; their folder."""
    grid = dataclasses.replace(grid, variants=(grid.variant(variant),), reference=variant)
    _, failures = run_grid(grid, out, jobs=jobs, results=results)
    if failures:
        raise SystemExit("fold models failed: " + "; ".join(failures))
    return out / "runs" / variant


def choose_out_of_fold(runs: Path, data: Path) -> dict:
    """The recipe of one variant's fold models, chosen on their out-of-fold predictions: the TTA
    with the best per-image mean Dice at 0.5 (the cheaper on a tie), then the threshold."""
    models = fold_models(runs)
    if not models:
        raise SystemExit(f"{runs}: no finished fold runs")
    oof = out_of_fold(models, data)
    dice_at_half = {tta: float(np.mean([r["dice"] for r in score_predictions(
        cases, probs, threshold=0.5)[0]])) for tta, (cases, probs) in oof.items()}
    tta = max(TTAS, key=lambda t: (round(dice_at_half[t], 6), -TTAS.index(t)))
    sweep = threshold_sweep(*oof[tta], threshold_grid())
    threshold = best_threshold(sweep)
    return {"runs": str(runs), "folds": sorted(models), "n_out_of_fold_images": len(oof[tta][0]),
            "out_of_fold_dice_at_0.5": dice_at_half, "chosen_tta": tta, "chosen_threshold": threshold,
            "out_of_fold_dice_at_chosen": next(r["dice_mean"] for r in sweep
                                               if r["threshold"] == threshold),
            "models": [str(models[k]) for k in sorted(models)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="+", default=None,
                        help="folder(s) of fold<k>-seed0 runs; with several, the candidate with the "
                             "best out-of-fold figure is the recipe")
    parser.add_argument("--grid", type=Path, default=None,
                        help="train the fold models of --variant of this grid first (dskd ablate)")
    parser.add_argument("--variant", default="dice", help="--grid: the recipe's variant")
    parser.add_argument("--config", type=Path, default=None,
                        help="train the five fold models of this recipe config first "
                             "(configs/cimat-recipe.yaml)")
    parser.add_argument("--jobs", type=int, default=2, help="--grid, --config: runs at once")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--out-of-fold-only", action="store_true",
                        help="choose and report out of fold, do not score the test images")
    args = parser.parse_args(argv)
    if sum(given is not None for given in (args.runs, args.grid, args.config)) != 1:
        parser.error("give one of --runs (trained fold models), --grid or --config (train them first)")
    started = time.perf_counter()
    if args.grid is not None:
        grid = read_grid(args.grid)
        results = REPO / "benchmarks" / "results" / "ablations" / grid.name / "results"
        args.runs = [train_fold_models(grid, args.variant, jobs=args.jobs, results=results,
                                       out=REPO / "runs" / "ablate" / f"cimat-{grid.name}")]
    if args.config is not None:  # the fold runs and their result files stay under --out
        grid = grid_of_config(args.config)
        args.runs = [train_fold_models(grid, grid.reference, jobs=args.jobs, out=args.out / "folds",
                                       results=args.out / "folds" / "results")]
    candidates = [choose_out_of_fold(runs, args.data) for runs in args.runs]
    chosen = max(candidates, key=lambda c: c["out_of_fold_dice_at_chosen"])  # the first on a tie
    command = "python benchmarks/cimat_recipe.py " + (
        f"--grid {args.grid} --variant {args.variant}" if args.grid
        else f"--config {args.config}" if args.config
        else "--runs " + " ".join(map(str, args.runs))
    ) + f" --out {args.out}" + (" --out-of-fold-only" if args.out_of_fold_only else "")
    result = {"what": "CIMAT recipe: fold-model ensemble, TTA and threshold chosen out of fold, "
                      "test once", **{k: v for k, v in chosen.items() if k != "models"}}
    if len(candidates) > 1:
        result["candidates"] = [{k: v for k, v in c.items() if k != "models"} for c in candidates]
    if not args.out_of_fold_only:
        summary = evaluate_checkpoint(chosen["models"], args.data, args.out / "test",
                                      layout="cimat", split_file=str(SPLIT), split_part="test",
                                      threshold=chosen["chosen_threshold"], tta=chosen["chosen_tta"])
        result["test"] = {"n_images": summary.n_images,
                          **{k: {"mean": s.mean, "std": s.std} for k, s in summary.per_image.items()
                             if k in ("dice", "iou", "cldice", "sensitivity", "precision")},
                          "pooled_dice": summary.pooled.get("dice")}
    result.update(seconds=round(time.perf_counter() - started, 1), command=command)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recipe.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
