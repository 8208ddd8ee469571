"""QCA on real angiograms (issue 32): the predicted mask's diameters against the expert's.

CIMAT training 1-40 out of fold: each fold's images are predicted by the model of that fold
(which never saw them; a cross-validation grid's runs, `--runs`, one folder per fold named
fold<k>-seed<s>, last.pt, threshold 0.5). Along the expert mask's centreline, the diameter on the
predicted mask minus the diameter on the expert mask (dskd.qca.agreement, both binary masks):
Bland-Altman bias and 95% limits of agreement (points along a centreline are correlated, so the
limits describe points, not independent measurements). Lesions: QCA (dskd.qca, %DS >= 50) on
each expert mask, and how many are found on the predicted mask (a predicted lesion within 10 px);
lesions on the predicted mask matching none on the expert mask are counted too. CIMAT states no
pixel spacing: figures in pixels. No target: nobody has published this for these data.

    python benchmarks/qca_cimat.py --runs runs/ablate/cimat-bf16/runs/dice_bf16

The single look at CIMAT testing 1-20 that issue 32 allows, for the shipped recipe only: the
ensemble of the recipe's fold models at the TTA and threshold chosen out of fold
(benchmarks/cimat_recipe.py wrote them to <recipe>/recipe.json), the same figures. Scoring the
test split appends the look to the test ledger (dskd.evaluation.ledger), as every look does.

    python benchmarks/cimat_recipe.py --config configs/cimat-recipe.yaml --out runs/cimat-recipe \\
        --out-of-fold-only
    python benchmarks/qca_cimat.py --recipe runs/cimat-recipe --out benchmarks/results/qca-cimat-test
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import torch

from dskd.checkpoint import load_model
from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.data.splits import apply_split, read_split_file
from dskd.errors import DataError
from dskd.inference import predict_probabilities
from dskd.qca import analyse_frame
from dskd.qca.agreement import diameter_differences

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from inference import machine  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "cimat-angiograms"
SPLIT = REPO / "splits" / "cimat_cv5.json"
OUT = REPO / "benchmarks" / "results" / "qca-cimat"


def finished_fold_runs(runs: Path) -> dict[int, Path]:
    """fold -> its run folder (the lowest seed whose training finished: its last checkpoint and
    the training curves written at the end)."""
    found: dict[int, Path] = {}
    for folder in sorted(runs.iterdir()):
        match = re.fullmatch(r"fold(\d+)-seed(\d+)", folder.name)
        if match and all((folder / name).is_file() for name in ("last.pt", "training_curves.png")):
            found.setdefault(int(match.group(1)), folder)
    return found


def _matched(lesion, others, reach: float = 10.0) -> bool:
    return any(math.hypot(lesion.row - o.row, lesion.col - o.col) <= reach for o in others)


def out_of_fold_predictions(runs: Path, data: Path):
    """(image, fold, predicted mask, expert mask) of CIMAT training 1-40, each image predicted by
    the fold model that never saw it (last.pt, threshold 0.5); and the folds used."""
    cases = read_cases("cimat", data)
    split = read_split_file(SPLIT)
    folds = finished_fold_runs(runs)
    for fold, run in sorted(folds.items()):
        model, _, _ = load_model(run / "last.pt")
        for case in apply_split(cases, split, f"fold_{fold}", source=str(SPLIT)):
            arrays = load_case(case)
            predicted = predict_probabilities(model, arrays.image, torch.device("cpu")) >= 0.5
            yield case.name, fold, predicted, arrays.mask.astype(bool)


def test_predictions(recipe: Path, data: Path, out: Path, ledger: Path | None = None):
    """(image, "test", predicted mask, expert mask) of CIMAT testing 1-20, predicted by the
    recipe's fold-model ensemble at its chosen TTA and threshold; the look goes in the ledger."""
    from cimat_recipe import fold_models

    from dskd.evaluation.evaluate import score_checkpoint

    chosen = json.loads((recipe / "recipe.json").read_text())
    models = fold_models(Path(chosen["runs"]))
    scored = score_checkpoint([models[k] for k in sorted(models)], data, layout="cimat",
                              split_file=str(SPLIT), split_part="test", tta=chosen["chosen_tta"],
                              threshold=chosen["chosen_threshold"], ledger=ledger, out=out)
    for arrays, probabilities in zip(scored.cases, scored.probabilities, strict=True):
        yield arrays.name, "test", probabilities >= scored.threshold, arrays.mask.astype(bool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", type=Path, help="a grid variant's runs folder (out of fold)")
    source.add_argument("--recipe", type=Path,
                        help="a cimat_recipe.py --out folder: its ensemble on CIMAT testing, once")
    parser.add_argument("--data", type=Path, default=DATA, help=f"CIMAT (default {DATA})")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    parser.add_argument("--ledger", type=Path, default=None,
                        help="--recipe: the test ledger (default: test-ledger.jsonl beside the split file)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.recipe is not None:
        predictions = test_predictions(args.recipe, args.data, args.out, args.ledger)
    else:
        predictions = out_of_fold_predictions(args.runs, args.data)
    pairs, per_image = [], []
    expert_lesions = found = predicted_lesions = false_lesions = segments = flagged_segments = refused = 0
    for name, fold, predicted, label in predictions:
        truth, differences, left_out = diameter_differences(predicted, label)
        pairs.append(np.stack([truth, truth + differences], axis=1))
        expert = analyse_frame(label)
        try:
            mine = analyse_frame(predicted).lesions
        except DataError:  # a prediction too fragmented to be a vessel tree: no lesion read on it
            mine, refused = [], refused + 1
        expert_lesions += len(expert.lesions)
        found += sum(_matched(lesion, mine) for lesion in expert.lesions)
        predicted_lesions += len(mine)
        false_lesions += sum(not _matched(lesion, expert.lesions) for lesion in mine)
        segments += len(expert.segments)
        flagged_segments += len({lesion.segment for lesion in expert.lesions})
        per_image.append(
            {
                "image": name,
                "fold": fold,
                "points": int(truth.size),
                "left_out": left_out,
                "bias": float(differences.mean()) if differences.size else None,
                "expert_lesions": len(expert.lesions),
                "predicted_lesions": len(mine),
            }
        )
    folds = sorted({row["fold"] for row in per_image}, key=str)
    both = np.concatenate(pairs)
    expert_d, predicted_d = both[:, 0], both[:, 1]
    difference = predicted_d - expert_d
    bias, sd = float(difference.mean()), float(difference.std(ddof=1))
    report = {
        "command": "python benchmarks/qca_cimat.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "runs": str(args.runs or args.recipe),
        "folds": folds,
        "images": len(per_image),
        "points": int(difference.size),
        "bias_px": bias,
        "sd_px": sd,
        "limits_of_agreement_px": [bias - 1.96 * sd, bias + 1.96 * sd],
        "mean_abs_px": float(np.mean(np.abs(difference))),
        "expert_diameter_median_px": float(np.median(expert_d)),
        "expert_lesions": expert_lesions,
        "found_on_prediction": found,
        "predicted_lesions": predicted_lesions,
        "predicted_lesions_not_on_expert": false_lesions,
        "predictions_refused_by_qca": refused,
        "expert_segments": segments,
        "expert_segments_with_a_lesion": flagged_segments,
        "per_image": per_image,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    loa = report["limits_of_agreement_px"]
    if args.recipe is not None:
        title = "on CIMAT testing 1-20, the shipped recipe, one look (recorded in the test ledger)"
        what = (f"{report['images']} images of CIMAT testing 1-20, predicted by the recipe's ensemble of "
                f"fold models at its out-of-fold TTA and threshold ({args.recipe / 'recipe.json'})")
    else:
        title = "out of fold"
        what = (f"folds {report['folds']} ({report['images']} images of CIMAT training 1-40, each "
                "predicted by the fold model that never saw it)")
    lines = [
        f"# QCA on CIMAT: predicted against expert diameters, {title} (issue 32)",
        "",
        f"Command: `{report['command']}`; {what}; CPU {report['machine']['cpu']}. Pixels (CIMAT states "
        "no spacing).",
        "",
        f"- Diameter, predicted - expert, along the expert centreline ({report['points']} points, expert "
        f"median {report['expert_diameter_median_px']:.2f} px): **bias {bias:+.3f} px, 95% limits "
        f"[{loa[0]:+.2f}, {loa[1]:+.2f}] px**, mean absolute {report['mean_abs_px']:.3f} px.",
        f"- Lesions of >= 50% on the expert masks: {expert_lesions} on {flagged_segments} of {segments} "
        f"segments; found on the predicted masks: {found} of {expert_lesions}.",
        f"- Lesions of >= 50% on the predicted masks: {predicted_lesions}, of which "
        f"{false_lesions} match none on the expert mask"
        + (f"; {refused} predicted masks refused as too fragmented to be a vessel tree." if refused else "."),
        "",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
