"""`dskd compare`: paired per-image differences between evaluations of the same images.

Each run is a folder written by `dskd evaluate` (per_image.csv and summary.json). Images are
matched by name; the runs must hold the same images and have been scored under the same protocol,
else the comparison is refused. The first run is the baseline A; every other run B is compared
with it metric by metric (dskd.evaluation.stats: mean difference B - A, bootstrap CI, Wilcoxon p, Holm p).
Those answer "on these images, with these trained weights". With seed replicates of both
methods (`replicates`: further evaluations of A and of B by independently trained models), each
metric also gets the seed-aware interval of a claim about the methods
(dskd.evaluation.method_stats.replicated_difference), under the key "method".
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.errors import DataError
from dskd.evaluation.method_stats import replicated_difference
from dskd.evaluation.report.html import decimals
from dskd.evaluation.stats import format_p, holm_adjust, paired_comparison
from dskd.metrics.suite import METRICS, better_direction
from dskd.metrics.summary import EvaluationSummary
from dskd.tables import json_safe

__all__ = ["EvaluatedRun", "load_run", "compare_runs", "format_markdown", "write_comparison"]

# Protocol fields that change the figures: runs that differ in one cannot be compared.
_PROTOCOL_KEYS = ("connectivity", "empty_policy", "zero_division", "spacing_mm")


@dataclass(frozen=True)
class EvaluatedRun:
    label: str
    folder: Path
    values: dict[str, dict[str, float]]  # image name -> metric -> value (NaN when undefined)
    summary: EvaluationSummary


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def load_run(folder: str | Path, label: str | None = None) -> EvaluatedRun:
    """An evaluation folder: its per-image metric values and its summary."""
    folder = Path(folder)
    csv_path, summary_path = folder / "per_image.csv", folder / "summary.json"
    for path in (csv_path, summary_path):
        if not path.is_file():
            raise DataError(f"{folder}: no {path.name}; pass a folder written by `dskd evaluate --out`")
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        metrics = [m for m in METRICS if m in (reader.fieldnames or [])]
        values = {row["name"]: {m: _number(row[m]) for m in metrics} for row in reader}
    if not values:
        raise DataError(f"{csv_path}: no images")
    return EvaluatedRun(label or folder.name, folder, values, EvaluationSummary.read(summary_path))


def _unique_labels(folders: list[Path]) -> list[str]:
    """Folder names, or parent/name where two runs share a name (e.g. two 'evaluation' folders)."""
    names = [f.name for f in folders]
    labels = [f"{f.parent.name}/{f.name}" if names.count(f.name) > 1 else f.name for f in folders]
    return [f"{label} ({i + 1})" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def _check_comparable(runs: list[EvaluatedRun]) -> None:
    base = runs[0]
    for run in runs[1:]:
        missing, extra = set(base.values) - set(run.values), set(run.values) - set(base.values)
        if missing or extra:
            sample = sorted(missing or extra)[:3]
            raise DataError(
                f"{run.folder} and {base.folder} hold different images ({len(missing)} only in "
                f"{base.label}, {len(extra)} only in {run.label}, e.g. {', '.join(sample)}); "
                "evaluate both on the same images")
        for key in _PROTOCOL_KEYS:
            a = (base.summary.protocol or {}).get(key)
            b = (run.summary.protocol or {}).get(key)
            if a != b:
                raise DataError(f"{run.folder} was scored with {key}={b}, {base.folder} with {key}={a}; "
                                "re-evaluate one of them with the other's setting")
        if bool(base.summary.sources.get("fov")) != bool(run.summary.sources.get("fov")):
            raise DataError(f"{run.folder} and {base.folder}: one was scored inside a field-of-view "
                            "mask and the other was not; pass the same --fov to both evaluations")


def compare_runs(folders: list[str | Path], *, labels: list[str] | None = None,
                 metrics: list[str] | None = None, confidence: float = 0.95,
                 n_resamples: int = 10_000, seed: int = 0,
                 replicates: tuple[list[str | Path], list[str | Path]] | None = None
                 ) -> tuple[dict, list[EvaluatedRun]]:
    """Compare every run with the first; returns (the result as plain data, the loaded runs).

    replicates: (further seeds of A, further seeds of B), evaluation folders of the same images;
    only with two runs. Adds the seed-aware interval of the methods' difference to each metric.
    """
    if len(folders) < 2:
        raise DataError("compare needs at least two evaluation folders")
    if replicates is not None and len(folders) != 2:
        raise DataError("seed replicates compare two methods: give exactly two runs (A and B) with them")
    folders = [Path(f) for f in folders]
    if labels is not None and len(labels) != len(folders):
        raise DataError(f"{len(labels)} labels for {len(folders)} runs; give one label per run")
    runs = [load_run(f, label) for f, label in zip(folders, labels or _unique_labels(folders), strict=True)]
    _check_comparable(runs)
    replicate_runs = None
    if replicates is not None:
        replicate_runs = tuple([runs[k], *(load_run(f) for f in replicates[k])] for k in (0, 1))
        _check_comparable([runs[0], *replicate_runs[0][1:], *replicate_runs[1][1:]])
    common = [m for m in METRICS if all(m in next(iter(r.values.values())) for r in runs)]
    if metrics is not None:
        unknown = [m for m in metrics if m not in common]
        if unknown:
            raise DataError(f"metric '{unknown[0]}' is not in every run; available: {', '.join(common)}")
        common = list(metrics)
    names = sorted(runs[0].values)
    comparisons = []
    for run in runs[1:]:
        results = {}
        for m in common:
            a = np.array([runs[0].values[n][m] for n in names])
            b = np.array([run.values[n][m] for n in names])
            results[m] = paired_comparison(a, b, higher_is_better=METRICS[m].higher_is_better,
                                           confidence=confidence, n_resamples=n_resamples,
                                           seed=seed).to_dict()
            if replicate_runs is not None:
                seeds_a, seeds_b = (np.array([[r.values[n][m] for n in names] for r in side])
                                    for side in replicate_runs)
                try:
                    results[m]["method"] = replicated_difference(seeds_a, seeds_b,
                                                                 confidence=confidence).to_dict()
                except ValueError as error:
                    raise DataError(f"--replicates: {error}") from None
        for m, p_holm in zip(common, holm_adjust([results[m]["p_value"] for m in common]), strict=True):
            results[m]["p_holm"] = p_holm
        if replicate_runs is not None:
            method_p = holm_adjust([results[m]["method"]["p_value"] for m in common])
            for m, p_holm in zip(common, method_p, strict=True):
                results[m]["method"]["p_holm"] = p_holm
        comparisons.append({"a": runs[0].label, "b": run.label, "metrics": results})
    result = {
        "runs": [{"label": r.label, "folder": str(r.folder), "threshold": r.summary.threshold,
                  "threshold_policy": r.summary.threshold_policy} for r in runs],
        "n_images": len(names),
        "protocol": runs[0].summary.protocol,
        "settings": {"difference": "b - a, per image", "interval": "percentile bootstrap of the mean",
                     "confidence": confidence, "n_resamples": n_resamples, "seed": seed,
                     "test": "two-sided Wilcoxon signed-rank (scipy), zero differences dropped",
                     "p_holm": "Holm-adjusted over the metrics of one comparison"},
        "higher_is_better": {m: METRICS[m].higher_is_better for m in common},
        "comparisons": comparisons,
        "replicates": None if replicate_runs is None else
        {"a": [str(r.folder) for r in replicate_runs[0]], "b": [str(r.folder) for r in replicate_runs[1]],
         "interval": "seed-aware t interval over seed replicates and images "
                     "(dskd.evaluation.method_stats.replicated_difference); Holm over the metrics"},
    }
    return result, runs


def _cell(value: float | None, digits: int = 4) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def format_markdown(result: dict) -> str:
    """One markdown table per comparison."""
    confidence = int(round(result["settings"]["confidence"] * 100))
    out = []
    for comparison in result["comparisons"]:
        a, b = comparison["a"], comparison["b"]
        out.append(f"### {b} vs {a} ({result['n_images']} images, difference = {b} - {a})\n")
        out.append(f"| metric | better | {a} | {b} | mean diff | {confidence}% CI | median diff | "
                   f"Wilcoxon p | Holm p | n | {b} better / {a} better |")
        out.append("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
        for m, r in comparison["metrics"].items():
            digits = decimals(m)
            better = better_direction(m)
            out.append(f"| {m} | {better} | {_cell(r['mean_a'], digits)} | {_cell(r['mean_b'], digits)} | "
                       f"{_cell(r['mean_difference'], digits)} | [{_cell(r['ci_low'], digits)}, "
                       f"{_cell(r['ci_high'], digits)}] | {_cell(r['median_difference'], digits)} | "
                       f"{format_p(r['p_value'])} | {format_p(r['p_holm'])} | {r['n']} | "
                       f"{r['b_better']} / {r['a_better']} |")
        if result.get("replicates"):
            reps = result["replicates"]
            out += ["", f"Methods, over seed replicates ({len(reps['a'])} of {a}, {len(reps['b'])} of {b}) "
                    "and images: the claim about the training procedures.", "",
                    f"| metric | mean diff | {confidence}% CI (seed-aware) | t p | Holm p | df |",
                    "|---|---:|---|---:|---:|---:|"]
            for m, r in comparison["metrics"].items():
                digits, d = decimals(m), r["method"]
                out.append(f"| {m} | {_cell(d['mean_difference'], digits)} | [{_cell(d['ci_low'], digits)}, "
                           f"{_cell(d['ci_high'], digits)}] | {format_p(d['p_value'])} | "
                           f"{format_p(d['p_holm'])} | {_cell(d['degrees_of_freedom'], 1)} |")
        out.append("")
    settings = result["settings"]
    out.append(f"Per-image paired differences; {confidence}% {settings['interval']} "
               f"({settings['n_resamples']} resamples, seed {settings['seed']}); {settings['test']}; "
               f"{settings['p_holm']}. Thresholds: " + ", ".join(
                   f"{r['label']} {_cell(r['threshold'], 2) if r['threshold'] is not None else 'external'} "
                   f"({r['threshold_policy']})" for r in result["runs"]) + ".")
    return "\n".join(out) + "\n"


def write_comparison(result: dict, runs: list[EvaluatedRun], out_dir: str | Path, *,
                     report: bool = True) -> Path:
    """out_dir/comparison.json, comparison.md (and report.html with its figures)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.json").write_text(json.dumps(json_safe(result), indent=2))
    (out_dir / "comparison.md").write_text(format_markdown(result))
    if report:
        from dskd.evaluation.report.compare_report import write_comparison_report

        write_comparison_report(out_dir, result, runs)
    return out_dir
