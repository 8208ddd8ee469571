"""Does the seed-aware interval cover the truth 95% of the time? (issue 34)

1,000 simulated experiments per scenario, each a result table with known variance components and
no true difference between the two methods, scored two ways:

- today's image-only interval: percentile bootstrap of the mean per-image difference
  (dskd.evaluation.stats.bootstrap_mean_ci), which treats the trained weights as fixed;
- the seed-aware interval of dskd.evaluation.method_stats (folds as the unit in a
  cross-validated grid; seed replicates and images on a test split).

A per-image figure is y = image + method x image + run offset + residual. The run offset (shared
by every image one trained model scores) and the residual are set from the committed seed
replicates (`--measured` prints them: two-way seed x image ANOVA of every fold scored by two
seeds of one variant); a second scenario doubles the run offset. Then the A/A check on the
committed replicates: seed 1 against seed 0 of one variant, where the truth is no difference.

    python benchmarks/seed_interval_calibration.py
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from dskd.ablate.results import read_results
from dskd.evaluation.method_stats import fold_clustered_difference, replicated_difference
from dskd.evaluation.stats import bootstrap_mean_ci

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "ablations"
OUT = REPO / "benchmarks" / "results" / "seed-interval-calibration"


def _replicated_cells(results: list[dict]) -> dict[tuple[str, str, int], dict[int, dict[str, float]]]:
    """(grid, variant, fold) -> seed -> image -> Dice, for folds scored by two or more seeds."""
    cells: dict[tuple[str, str, int], dict[int, dict[str, float]]] = defaultdict(dict)
    for r in results:
        j = r["metrics"].index("dice")
        cells[(r["grid"], r["variant"], r["fold"])][r["seed"]] = {
            name: math.nan if row[j] is None else row[j] for name, row in r["primary"]["images"].items()}
    return {key: seeds for key, seeds in cells.items() if len(seeds) > 1}


def measured_components(cells: dict) -> dict:
    """Run-offset and residual standard deviations from every replicated fold (pooled ANOVA)."""
    offsets, residuals = [], []
    for seeds in cells.values():
        names = sorted(set.intersection(*(set(v) for v in seeds.values())))
        y = np.array([[seeds[s][n] for n in names] for s in sorted(seeds)])  # (S, n)
        y = y[:, ~np.isnan(y).any(axis=0)]
        s, n = y.shape
        seed_means, image_means, grand = y.mean(axis=1), y.mean(axis=0), y.mean()
        ms_seed = n * np.sum((seed_means - grand) ** 2) / (s - 1)
        fitted = seed_means[:, None] + image_means[None, :] - grand
        ms_residual = np.sum((y - fitted) ** 2) / ((s - 1) * (n - 1))
        offsets.append((ms_seed - ms_residual) / n)
        residuals.append(ms_residual)
    return {"run_sd": math.sqrt(max(float(np.mean(offsets)), 0.0)),
            "residual_sd": math.sqrt(float(np.mean(residuals))), "replicated_folds": len(offsets)}


def _simulate_grid(rng, *, folds: int, per_fold: int, seeds: int, image_sd: float, interaction_sd: float,
                   run_sd: float, residual_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """(per-image differences B - A averaged over seeds, fold of each image) of one CV experiment."""
    n = folds * per_fold
    fold_of = np.repeat(np.arange(folds), per_fold)
    image = rng.normal(0, image_sd, n)
    sides = []
    for _ in range(2):  # A and B: same images, independent runs; no true difference
        method_image = rng.normal(0, interaction_sd / math.sqrt(2), n)
        runs = rng.normal(0, run_sd, (seeds, folds))[:, fold_of]  # (seeds, n)
        sides.append((image + method_image + runs + rng.normal(0, residual_sd, (seeds, n))).mean(axis=0))
    return sides[1] - sides[0], fold_of


def _simulate_test(rng, *, n: int, seeds: int, image_sd: float, interaction_sd: float, run_sd: float,
                   residual_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """(a (seeds, n), b (seeds, n)): seed replicates of two methods scored on one test split."""
    image = rng.normal(0, image_sd, n)
    return tuple(image + rng.normal(0, interaction_sd / math.sqrt(2), n)
                 + rng.normal(0, run_sd, (seeds, 1)) + rng.normal(0, residual_sd, (seeds, n))
                 for _ in range(2))


def coverage(scenario: dict, *, experiments: int, resamples: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    image_only, seed_aware, widths = 0, 0, []
    params = {k: scenario[k] for k in ("image_sd", "interaction_sd", "run_sd", "residual_sd")}
    for trial in range(experiments):
        if scenario["design"] == "grid":
            d, folds = _simulate_grid(rng, folds=scenario["folds"], per_fold=scenario["per_fold"],
                                      seeds=scenario["seeds"], **params)
            aware = fold_clustered_difference(d, folds)
        else:
            a, b = _simulate_test(rng, n=scenario["images"], seeds=scenario["seeds"], **params)
            d = b[0] - a[0]  # what a plain `dskd compare` of one model each sees
            aware = replicated_difference(a, b)
        low, high = bootstrap_mean_ci(d, n_resamples=resamples, seed=trial)
        image_only += low <= 0 <= high
        seed_aware += aware.ci_low <= 0 <= aware.ci_high
        widths.append(((aware.ci_high - aware.ci_low) / 2, (high - low) / 2))
    widths = np.array(widths)
    return {**scenario, "experiments": experiments,
            "coverage_image_bootstrap": image_only / experiments,
            "coverage_seed_aware": seed_aware / experiments,
            "median_half_width_seed_aware": float(np.median(widths[:, 0])),
            "median_half_width_image_bootstrap": float(np.median(widths[:, 1]))}


def aa_checks(cells: dict, *, resamples: int) -> list[dict]:
    """Seed 1 minus seed 0 of one variant on its replicated folds: the truth is zero."""
    by_variant: dict[tuple[str, str], list[int]] = defaultdict(list)
    for grid, variant, fold in cells:
        by_variant[(grid, variant)].append(fold)
    rows = []
    for (grid, variant), folds in sorted(by_variant.items()):
        differences, fold_of = [], []
        for fold in sorted(folds):
            seeds = cells[(grid, variant, fold)]
            for name in sorted(seeds[0]):
                differences.append(seeds[1][name] - seeds[0][name])
                fold_of.append(fold)
        d = np.array(differences)
        low, high = bootstrap_mean_ci(d[~np.isnan(d)], n_resamples=resamples, seed=0)
        aware = fold_clustered_difference(d, np.array(fold_of))
        rows.append({"grid": grid, "variant": variant, "folds": sorted(folds),
                     "images": int(np.sum(~np.isnan(d))),
                     "mean_difference": aware.mean_difference, "image_bootstrap": [low, high],
                     "seed_aware": [aware.ci_low, aware.ci_high],
                     "image_bootstrap_excludes_zero": not low <= 0 <= high,
                     "seed_aware_excludes_zero": not aware.ci_low <= 0 <= aware.ci_high})
    return rows


def write_markdown(report: dict, path: Path) -> None:
    c = report["components"]
    lines = ["# Calibration of the seed-aware interval (issue 34)", "",
             f"Command: `{report['command']}`. CPU-independent (pure arithmetic); numpy seed "
             f"{report['seed']}, {report['resamples']} bootstrap resamples per interval.", "",
             f"Variance components measured on the committed seed replicates ({c['replicated_folds']} "
             f"folds scored by two seeds of one variant, CIMAT and DRIVE): run offset SD "
             f"{c['run_sd']:.4f}, residual SD {c['residual_sd']:.4f} (per-image Dice).", "",
             "| scenario | design | coverage, image bootstrap | coverage, seed-aware | "
             "median half-width, image bootstrap | seed-aware |",
             "|---|---|---:|---:|---:|---:|"]
    for s in report["scenarios"]:
        design = (f"{s['folds']} folds x {s['per_fold']} images, {s['seeds']} seed(s)"
                  if s["design"] == "grid" else
                  f"test split of {s['images']} images, {s['seeds']} seeds per method")
        lines.append(f"| {s['name']} | {design} | {s['coverage_image_bootstrap']:.1%} | "
                     f"{s['coverage_seed_aware']:.1%} | {s['median_half_width_image_bootstrap']:.4f} | "
                     f"{s['median_half_width_seed_aware']:.4f} |")
    lines += ["", f"Target: the seed-aware 95% interval covers the true difference (zero) in 93-97% of "
              f"{report['experiments']} experiments.", "",
              "## A/A checks on the committed seed replicates (seed 1 - seed 0 of one variant)", "",
              "| grid | variant | folds | images | mean diff | image bootstrap 95% | seed-aware 95% |",
              "|---|---|---|---:|---:|---|---|"]
    for r in report["aa"]:
        lo, hi = r["image_bootstrap"]
        slo, shi = r["seed_aware"]
        lines.append(f"| {r['grid']} | {r['variant']} | {','.join(map(str, r['folds']))} | {r['images']} | "
                     f"{r['mean_difference']:+.4f} | [{lo:+.4f}, {hi:+.4f}]"
                     f"{' excludes 0' if r['image_bootstrap_excludes_zero'] else ''} | "
                     f"[{slo:+.4f}, {shi:+.4f}]{' excludes 0' if r['seed_aware_excludes_zero'] else ''} |")
    n_aa = len(report["aa"])
    lines += ["", f"Intervals excluding zero (a false 'significant' difference): image bootstrap "
              f"{sum(r['image_bootstrap_excludes_zero'] for r in report['aa'])} of {n_aa}, seed-aware "
              f"{sum(r['seed_aware_excludes_zero'] for r in report['aa'])} of {n_aa}.", ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=1000,
                        help="experiments per scenario (default 1000)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="numpy seed (default 0)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"result files (default {RESULTS})")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    args = parser.parse_args(argv)
    results = [r for folder in sorted(args.results.glob("*/results")) for r in read_results(folder)]
    cells = _replicated_cells(results)
    components = measured_components(cells)
    base = {"image_sd": 0.05, "interaction_sd": 0.01, "run_sd": components["run_sd"],
            "residual_sd": components["residual_sd"]}
    scenarios = [
        {"name": "measured, 1 seed", "design": "grid", "folds": 5, "per_fold": 8, "seeds": 1, **base},
        {"name": "measured, 2 seeds", "design": "grid", "folds": 5, "per_fold": 8, "seeds": 2, **base},
        {"name": "2x run offset, 1 seed", "design": "grid", "folds": 5, "per_fold": 8, "seeds": 1,
         **base, "run_sd": 2 * base["run_sd"]},
        {"name": "DRIVE-like, 2 seeds", "design": "grid", "folds": 4, "per_fold": 5, "seeds": 2, **base},
        {"name": "test split, 3 seeds", "design": "test", "images": 20, "seeds": 3, **base},
        {"name": "test split, 2x run offset, 3 seeds", "design": "test", "images": 20, "seeds": 3,
         **base, "run_sd": 2 * base["run_sd"]},
    ]
    report = {"command": "python benchmarks/seed_interval_calibration.py " + " ".join(argv or sys.argv[1:]),
              "seed": args.seed, "resamples": args.resamples, "experiments": args.experiments,
              "components": components,
              "scenarios": [coverage(s, experiments=args.experiments, resamples=args.resamples,
                                     seed=args.seed + i) for i, s in enumerate(scenarios)],
              "aa": aa_checks(cells, resamples=10_000)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    write_markdown(report, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
