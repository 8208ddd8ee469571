"""Quality benchmark: DSKD against baselines at an identical budget, several seeds, paired statistics.

    python benchmarks/quality.py --config configs/cimat.yaml --name quality-cimat
    python benchmarks/quality.py --config configs/drive.yaml --name quality-drive --seeds 0

Every method trains with the same config (data, crops, batch, epochs, schedule, seed set); only
`loss.objective` changes. Checkpoint and threshold are chosen on the validation split of the
config's split file; each run is then scored once on its "test" part. Finished runs are skipped
and interrupted ones resumed, so the command can be re-run after a stop.

Writes benchmarks/results/<name>.json and <name>.md:
    results[method][metric] = {"mean", "std"} over seeds of the per-image mean,
    comparisons["dskd_vs_<baseline>"][metric] = paired per-image difference (images averaged over
    seeds) with its Wilcoxon signed-rank p-value.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wilcoxon

from dskd.config import Config, load_config
from dskd.evaluation.evaluate import evaluate_checkpoint
from dskd.training.fit import fit

METRICS = ("dice", "iou", "accuracy", "sensitivity", "specificity", "precision")
# Figures of the evaluation suite reported beside them (per-image means from test/summary.json).
EXTRA = ("auc_roc", "average_precision", "cldice", "betti_0_error", "betti_1_error", "hd95", "assd")
RESULTS = Path(__file__).parent / "results"
log = logging.getLogger("quality")


@dataclass(frozen=True)
class RunScore:
    """One scored run. rows: per-image METRICS by image name at the threshold chosen on
    validation (the protocol); rows_at_half: the same at the fixed threshold 0.5 (the figure our
    Dice target is stated at); extra: the per-image means of EXTRA at the chosen threshold."""

    rows: dict[str, dict[str, float]]
    rows_at_half: dict[str, dict[str, float]]
    threshold: float
    extra: dict[str, float]
    train_minutes: float


def _read_rows(test_dir: Path) -> dict[str, dict[str, float]]:
    with open(test_dir / "per_image.csv") as handle:
        return {row["name"]: {m: float(row[m]) for m in METRICS} for row in csv.DictReader(handle)}


def run_one(config: Config, run_dir: Path) -> RunScore:
    """Train (or resume, or reuse) one run and score it on the test split (scores are reused)."""
    log_csv = run_dir / "log.csv"
    finished = log_csv.exists() and len(log_csv.read_text().splitlines()) - 1 >= config.optim.epochs
    if not finished:
        fit(config, run_dir, resume=(run_dir / "last.pt").exists())
    for test_dir, threshold in ((run_dir / "test", None), (run_dir / "test-t0.5", 0.5)):
        if not (test_dir / "summary.json").exists():
            evaluate_checkpoint(run_dir / "best.pt", config.data.root, test_dir,
                                layout=config.data.layout, split_file=config.data.split_file,
                                split_part="test", threshold=threshold)
    summary = json.loads((run_dir / "test" / "summary.json").read_text())
    return RunScore(rows=_read_rows(run_dir / "test"), rows_at_half=_read_rows(run_dir / "test-t0.5"),
                    threshold=float(summary["threshold"]),
                    extra={m: float(summary["per_image"][m]["mean"]) for m in EXTRA},
                    train_minutes=training_seconds(run_dir) / 60)


def _relative(path: str | None) -> str:
    """The path relative to the working directory when it lies below it (portable results)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except (TypeError, ValueError):
        return str(path)


def training_seconds(run_dir: Path) -> float:
    with open(run_dir / "log.csv") as handle:
        return sum(float(row["seconds"]) for row in csv.DictReader(handle))


def paired(a: dict, b: dict, metric: str) -> dict[str, float]:
    """Mean per-image difference a - b and Wilcoxon signed-rank p (two-sided) over common images."""
    names = sorted(a)
    diff = np.array([a[n][metric] - b[n][metric] for n in names])
    p = float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
    return {"mean_diff": float(diff.mean()), "p_value": p, "n_images": len(names),
            "a_better": int((diff > 0).sum()), "b_better": int((diff < 0).sum())}


def seed_average(per_seed: list[dict]) -> dict:
    """Per-image metrics averaged over seeds (the unit of the paired test is the image)."""
    names = sorted(per_seed[0])
    return {n: {m: float(np.mean([rows[n][m] for rows in per_seed])) for m in METRICS} for n in names}


def markdown(report: dict) -> str:
    methods = list(report["results"])
    head = "| method | " + " | ".join(METRICS) + " | dice @ 0.5 | threshold | train time / run |"
    lines = [f"# {report['name']}", "", report["protocol"], "",
             f"Budget per run: {report['budget']}.", "", head,
             "|" + "---|" * (len(METRICS) + 4)]
    for method in methods:
        res = report["results"][method]
        cells = [f"{res[m]['mean']:.4f} ± {res[m]['std']:.4f}" for m in (*METRICS, "dice_at_0.5")]
        thresholds = ", ".join(f"{t:.2f}" for t in res["thresholds"])
        lines.append(f"| {method} | " + " | ".join(cells)
                     + f" | {thresholds} | {res['train_minutes']:.1f} min |")
    lines += ["", "Mean ± std over seeds of the per-image mean on the test split; 'dice @ 0.5' is "
              "the same checkpoint scored at the fixed threshold 0.5; 'threshold' lists the "
              "validation-chosen threshold of each seed.", "",
              "| method | " + " | ".join(EXTRA) + " |", "|" + "---|" * (len(EXTRA) + 1)]
    for method in methods:
        res = report["results"][method]
        lines.append(f"| {method} | " + " | ".join(
            f"{res[m]['mean']:.3f} ± {res[m]['std']:.3f}" for m in EXTRA) + " |")
    lines += ["", "Topology and distance figures at the same threshold (docs/evaluation.md): AUC-ROC "
              "and average precision from the probabilities, clDice, Betti-0/1 errors (components, "
              "loops), HD95 and ASSD in pixels.", "",
              "Paired per-image comparison (each image's metric averaged over seeds; two-sided "
              "Wilcoxon signed-rank test):", "", "| comparison | metric | mean difference | p | "
              "images better / worse |", "|---|---|---|---|---|"]
    for name, comparison in report["comparisons"].items():
        for metric in ("dice", "iou", "sensitivity", "precision"):
            c = comparison[metric]
            lines.append(f"| {name} | {metric} | {c['mean_diff']:+.4f} | {c['p_value']:.3g} | "
                         f"{c['a_better']} / {c['b_better']} |")
    lines += ["", f"Machine: {report['machine']}. Command: `{report['command']}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--name", required=True, help="results file stem, e.g. quality-cimat")
    parser.add_argument("--methods", nargs="+", default=["dice", "deep_supervision", "dskd"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--runs", default="runs/benchmarks", help="folder for the training runs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--results", default=str(RESULTS), help="folder for <name>.json and .md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    started = time.perf_counter()
    per_method: dict[str, list[RunScore]] = {}
    config = None
    for method in args.methods:
        for seed in args.seeds:
            config = load_config(args.config, [*args.set, f"loss.objective={method}", f"run.seed={seed}"])
            run_dir = Path(args.runs) / args.name / f"{method}-seed{seed}"
            log.info("%s seed %d -> %s", method, seed, run_dir)
            per_method.setdefault(method, []).append(run_one(config, run_dir))

    def over_seeds(values: list[float]) -> dict:
        return {"mean": float(np.mean(values)), "std": float(np.std(values)), "per_seed": values}

    results = {}
    for method, runs in per_method.items():
        results[method] = {m: over_seeds([float(np.mean([r[m] for r in run.rows.values()]))
                                          for run in runs]) for m in METRICS}
        results[method]["dice_at_0.5"] = over_seeds(
            [float(np.mean([r["dice"] for r in run.rows_at_half.values()])) for run in runs])
        results[method].update({m: over_seeds([run.extra[m] for run in runs]) for m in EXTRA})
        results[method]["thresholds"] = [run.threshold for run in runs]
        results[method]["train_minutes"] = float(np.mean([run.train_minutes for run in runs]))
    comparisons = {}
    if "dskd" in per_method:
        ours = seed_average([run.rows for run in per_method["dskd"]])
        for baseline in (m for m in per_method if m != "dskd"):
            theirs = seed_average([run.rows for run in per_method[baseline]])
            comparisons[f"dskd_vs_{baseline}"] = {m: paired(ours, theirs, m) for m in METRICS}

    assert config is not None
    d, o = config.data, config.optim
    report = {
        "name": args.name,
        "protocol": (f"Train on the 'train' part of {_relative(d.split_file)}, choose the checkpoint (best "
                     f"validation Dice) and the threshold (policy: {config.run.threshold}) on its "
                     "'val' part, score once on its 'test' part. Per-image metrics at that threshold."),
        "budget": (f"{o.epochs} epochs x {d.samples_per_epoch} random {d.crop_size}-px crops, batch "
                   f"{d.batch_size}, {o.optimizer} lr {o.lr} {o.schedule} schedule, model width "
                   f"{config.model.width} depth {config.model.depth}, seeds {args.seeds}"),
        "results": results,
        "comparisons": comparisons,
        "config": args.config,
        "overrides": args.set,
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{config.run.threads or torch.get_num_threads()} threads per run, "
                   f"torch {torch.__version__}",
        "wall_minutes": round((time.perf_counter() - started) / 60, 1),
        "command": "python benchmarks/quality.py " + " ".join(
            [f"--config {args.config}", f"--name {args.name}", "--methods", *args.methods, "--seeds",
             *map(str, args.seeds), *[f"--set {s}" for s in args.set]]),
    }
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{args.name}.json").write_text(json.dumps(report, indent=2))
    (results_dir / f"{args.name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
