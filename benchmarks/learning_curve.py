"""The learning curve of synthetic pretraining (issue 14) from the learning-curve grid's results.

For each count of labelled images (4, 8, 16, 32) and each fine-tuning objective (dice, dskd):
out-of-fold per-image Dice from scratch and from the synthetic-only model, and the paired
difference (synthetic - scratch) with its bootstrap 95% CI and Wilcoxon p over the images both
have scored; then DSKD against Dice at each count and start. Every figure is the grid's primary
one (last.pt at threshold 0.5, nothing chosen on the held-out fold), computed by `dskd ablate
--table`'s own pairing (dskd.ablate.table). Counts without both runs are left out.

    dskd ablate --grid benchmarks/ablations/learning-curve.yaml --out runs/ablate/cimat-learning-curve \\
        --results benchmarks/results/ablations/learning-curve/results --jobs 2
    python benchmarks/learning_curve.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure

from dskd.ablate.results import read_results
from dskd.ablate.table import ablation_table

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "ablations" / "learning-curve"
COUNTS = (4, 8, 16, 32)
OBJECTIVES = ("dice", "dskd")
STARTS = ("scratch", "synthetic")


def _pair(results: list[dict], reference: str, variant: str) -> dict | None:
    """Dice of both variants and their paired difference, on the images both have scored."""
    known = {r["variant"] for r in results}
    if reference not in known or variant not in known:
        return None
    table = ablation_table(results, reference=reference, variants=[variant])
    means = {v: table["variants"][v]["metrics"]["dice"] for v in (reference, variant)}
    difference = table["differences"][variant]["dice"]
    return {"reference": reference, "variant": variant, "n_images": table["n_images"],
            "folds": table["variants"][variant]["folds"],
            "reference_dice": round(means[reference]["mean"], 4),
            "variant_dice": round(means[variant]["mean"], 4),
            "variant_dice_ci": [round(means[variant]["ci_low"], 4), round(means[variant]["ci_high"], 4)],
            "reference_dice_ci": [round(means[reference]["ci_low"], 4),
                                  round(means[reference]["ci_high"], 4)],
            "difference": round(difference["mean_difference"], 4),
            "difference_ci": [round(difference["ci_low"], 4), round(difference["ci_high"], 4)],
            "wilcoxon_p": difference["p_value"]}


def learning_curve(results: list[dict]) -> dict:
    pretraining = [{"labels": n, "objective": o, **pair} for o in OBJECTIVES for n in COUNTS
                   if (pair := _pair(results, f"n{n}-{o}-scratch", f"n{n}-{o}-synthetic"))]
    objective = [{"labels": n, "start": s, **pair} for s in STARTS for n in COUNTS
                 if (pair := _pair(results, f"n{n}-dice-{s}", f"n{n}-dskd-{s}"))]
    return {"description": __doc__.split("\n\n")[0].replace("\n", " "),
            "figures": "primary: last.pt at threshold 0.5, out of fold (splits/cimat_cv5.json)",
            "synthetic_minus_scratch": pretraining, "dskd_minus_dice": objective}


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _row(first: list[str], row: dict) -> str:
    """A table row: the given first cells, both Dice figures, the difference in points, p."""
    low, high = row["difference_ci"]
    return " | ".join(["", *first, f"{row['reference_dice']:.4f}", f"{row['variant_dice']:.4f}",
                       f"{_points(row['difference'])} [{_points(low)}, {_points(high)}]",
                       f"{row['wilcoxon_p']:.3g}", ""]).strip()


def format_markdown(curve: dict) -> str:
    lines = ["| labels | objective | images (folds) | from scratch | from synthetic "
             "| gain, Dice points [95% CI] | Wilcoxon p |", "|---:|---|---|---:|---:|---:|---:|"]
    lines += [_row([str(r["labels"]), r["objective"],
                    f"{r['n_images']} ({','.join(map(str, r['folds']))})"], r)
              for r in curve["synthetic_minus_scratch"]]
    lines += ["", "| labels | start | images | Dice objective | DSKD objective "
              "| DSKD - Dice, points [95% CI] | Wilcoxon p |", "|---:|---|---:|---:|---:|---:|---:|"]
    lines += [_row([str(r["labels"]), r["start"], str(r["n_images"])], r) for r in curve["dskd_minus_dice"]]
    return "\n".join(lines) + "\n"


def plot(curve: dict, path: Path) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    styles = {("dice", "scratch"): ("tab:blue", "--"), ("dice", "synthetic"): ("tab:blue", "-"),
              ("dskd", "scratch"): ("tab:orange", "--"), ("dskd", "synthetic"): ("tab:orange", "-")}
    for objective in OBJECTIVES:
        rows = [r for r in curve["synthetic_minus_scratch"] if r["objective"] == objective]
        for start, key in (("scratch", "reference"), ("synthetic", "variant")) if rows else ():
            colour, line = styles[(objective, start)]
            means = [r[f"{key}_dice"] for r in rows]
            errors = [[m - r[f"{key}_dice_ci"][0] for m, r in zip(means, rows, strict=True)],
                      [r[f"{key}_dice_ci"][1] - m for m, r in zip(means, rows, strict=True)]]
            ax.errorbar([r["labels"] for r in rows], means, yerr=errors, color=colour, linestyle=line,
                        marker="o", capsize=3, label=f"{objective}, from {start}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(COUNTS), [str(n) for n in COUNTS])
    ax.set_xlabel("labelled CIMAT training images")
    ax.set_ylabel("out-of-fold per-image Dice (95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(RESULTS / "results"))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    curve = learning_curve(read_results(args.results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning-curve.json").write_text(json.dumps(curve, indent=1) + "\n")
    (out / "learning-curve.md").write_text(format_markdown(curve))
    plot(curve, out / "learning-curve.png")
    print(format_markdown(curve))
    print(f"wrote {out / 'learning-curve.json'}, learning-curve.md, learning-curve.png")


if __name__ == "__main__":
    main()
