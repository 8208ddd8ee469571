"""`dskd ablate --table`: the out-of-fold table of a grid's result files, paired to a reference.

The unit is the image. Each image is scored once per seed, by the fold model that did not see it;
a variant's figure of an image is the mean over its seeds. Only (image, seed) pairs present for
every variant count, so every variant is measured on the same images even while some folds are
missing (the table says how many). Per variant: the per-image mean with a percentile bootstrap
95% CI; against the reference: the mean paired difference (variant - reference) with its bootstrap
CI and the two-sided Wilcoxon signed-rank p, Holm-adjusted over the variants of each figure
(dskd.evaluation.stats). Those answer "on these images, with these trained weights". A claim about
a method needs the seed-aware interval beside them (dskd.evaluation.method_stats: the folds, each
its own independent training, as the unit; t over folds), with its own Holm-adjusted p: that is
the interval the power line and the forest plot use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Literal

import numpy as np

from dskd.errors import DataError
from dskd.evaluation.method_stats import fold_clustered_difference
from dskd.evaluation.stats import bootstrap_mean_ci, format_p, holm_adjust, paired_comparison
from dskd.metrics.suite import METRICS

__all__ = ["Figures", "ablation_table", "format_markdown"]

Figures = Literal["primary", "secondary"]
_FIGURE_TEXT = {"primary": "last checkpoint at threshold 0.5 (nothing chosen on the held-out fold)",
                "secondary": "best-validation checkpoint at its validation threshold (both chosen "
                             "on the held-out fold: optimistic)"}


def _fold_of_images(results: list[dict]) -> dict[str, int]:
    """image -> the fold whose models scored it (out of fold, each image has exactly one)."""
    folds: dict[str, int] = {}
    for result in results:
        for image in result["primary"]["images"]:
            if folds.setdefault(image, result["fold"]) != result["fold"]:
                raise DataError(f"image {image} is scored out of fold {folds[image]} and {result['fold']}; "
                                "results of different split files are mixed")
    return folds


def _values_by_variant(results: list[dict], figures: Figures
                       ) -> tuple[dict[str, dict[tuple[str, int], list[float]]], list[str]]:
    """variant -> (image, seed) -> the figures' values; and the metric names."""
    metrics = results[0]["metrics"]
    seen: dict[tuple[str, int, int], str] = {}
    values: dict[str, dict[tuple[str, int], list[float]]] = defaultdict(dict)
    for result in results:
        if result["metrics"] != metrics:
            raise DataError(f"result files list different figures ({result['metrics']} vs {metrics})")
        key = (result["variant"], result["fold"], result["seed"])
        if key in seen and seen[key] != result["config_hash"]:
            raise DataError(f"two results of {key[0]} fold {key[1]} seed {key[2]} with different "
                            "configs; keep one")
        seen[key] = result["config_hash"]
        for image, row in result[figures]["images"].items():
            values[result["variant"]][(image, result["seed"])] = [math.nan if v is None else v for v in row]
    return dict(values), list(metrics)


def _per_image(cells: dict[tuple[str, int], list[float]], keys: list[tuple[str, int]],
               images: list[str]) -> np.ndarray:
    """(n_images, n_metrics): each image's values averaged over its seeds among `keys`."""
    by_image: dict[str, list[list[float]]] = defaultdict(list)
    for image, seed in keys:
        by_image[image].append(cells[(image, seed)])
    rows = []
    for image in images:
        seeds = np.array(by_image[image], dtype=np.float64)  # (n_seeds, n_metrics)
        defined = (~np.isnan(seeds)).sum(axis=0)  # a figure undefined on every seed stays NaN
        rows.append(np.where(defined > 0, np.nansum(seeds, axis=0) / np.maximum(defined, 1), np.nan))
    return np.array(rows)


def _summary(values: np.ndarray, *, n_resamples: int, seed: int) -> dict:
    defined = values[~np.isnan(values)]
    low, high = bootstrap_mean_ci(defined, n_resamples=n_resamples, seed=seed)
    mean = float(defined.mean()) if defined.size else math.nan
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": int(defined.size)}


def ablation_table(results: list[dict], *, reference: str | None = None, figures: Figures = "primary",
                   variants: list[str] | None = None, n_resamples: int = 10_000, seed: int = 0) -> dict:
    """The table as plain data (markdown, JSON and HTML are written from it).

    variants: compare only these (and the reference), e.g. those with more folds done.
    """
    if not results:
        raise DataError("no result files to tabulate")
    results = _keep_variants(_one_per_run(results), variants, reference)
    values, metrics = _values_by_variant(results, figures)
    variants = list(dict.fromkeys(r["variant"] for r in results))
    reference = reference or results[0].get("reference") or variants[0]
    if reference not in variants:
        raise DataError(f"reference '{reference}' has no results; variants: {', '.join(variants)}")
    variants = [reference, *(v for v in variants if v != reference)]
    common = sorted(set.intersection(*(set(values[v]) for v in variants)))
    if not common:
        raise DataError("no (image, seed) is scored for every variant yet; wait for a whole fold")
    images = sorted({image for image, _ in common})
    per_image = {v: _per_image(values[v], common, images) for v in variants}
    per_variant = {v: _variant_summary([r for r in results if r["variant"] == v], values[v], per_image[v],
                                       metrics, n_resamples=n_resamples, seed=seed) for v in variants}
    folds = _fold_of_images(results)
    differences = _differences(per_image, np.array([folds[i] for i in images]), reference, metrics,
                               n_resamples=n_resamples, seed=seed)
    return {
        "grid": results[0].get("grid"), "figures": figures, "figures_definition": _FIGURE_TEXT[figures],
        "reference": reference, "metrics": metrics,
        "higher_is_better": {m: METRICS[m].higher_is_better for m in metrics},
        "n_images": len(images), "n_pairs": len(common), "images": images,
        "seeds": sorted({s for _, s in common}), "n_results": len(results),
        "wall_hours_total": round(sum(r["wall_seconds"] or 0 for r in results) / 3600, 2),
        "variants": per_variant, "differences": differences,
        "settings": {"unit": "image (out of fold); each image's figure averaged over its seeds first",
                     "difference": "variant - reference, per image",
                     "interval": "95% percentile bootstrap of the mean over images",
                     "method_interval": "95% seed-aware t interval, folds as the unit "
                                        "(dskd.evaluation.method_stats)",
                     "n_resamples": n_resamples, "seed": seed,
                     "test": "two-sided Wilcoxon signed-rank (scipy), zero differences dropped",
                     "p_holm": "Holm-adjusted over the variants, for each figure separately"},
    }


def _keep_variants(results: list[dict], variants: list[str] | None, reference: str | None) -> list[dict]:
    """The results of the named variants and the reference (all results when none is named)."""
    if variants is None:
        return results
    known = sorted({r["variant"] for r in results})
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise DataError(f"variant '{unknown[0]}' has no results; variants: {', '.join(known)}")
    keep = set(variants) | {reference or results[0].get("reference")}
    return [r for r in results if r["variant"] in keep]


def _variant_summary(runs: list[dict], values: dict, per_image: np.ndarray, metrics: list[str], *,
                     n_resamples: int, seed: int) -> dict:
    """One variant's row: what ran, and each figure's per-image mean with its bootstrap CI."""
    return {
        "runs": len(runs), "folds": sorted({r["fold"] for r in runs}),
        "seeds": sorted({r["seed"] for r in runs}),
        "images_scored": len({image for image, _ in values}),
        "wall_minutes_per_run": _mean_minutes(runs),
        "overrides": runs[0]["overrides"], "config_hash": runs[0]["config_hash"],
        "metrics": {m: _summary(per_image[:, j], n_resamples=n_resamples, seed=seed)
                    for j, m in enumerate(metrics)},
    }


def _differences(per_image: dict[str, np.ndarray], folds: np.ndarray, reference: str, metrics: list[str], *,
                 n_resamples: int, seed: int) -> dict[str, dict[str, dict]]:
    """Each variant minus the reference, paired per image (image bootstrap and Wilcoxon), and as
    methods (folds as the unit, key "method"); Holm over the variants, per figure, for both."""
    others = [v for v in per_image if v != reference]
    differences: dict[str, dict[str, dict]] = {v: {} for v in others}
    for j, m in enumerate(metrics):
        for v in others:
            differences[v][m] = paired_comparison(per_image[reference][:, j], per_image[v][:, j],
                                                  higher_is_better=METRICS[m].higher_is_better,
                                                  n_resamples=n_resamples, seed=seed).to_dict()
            differences[v][m]["method"] = fold_clustered_difference(
                per_image[v][:, j] - per_image[reference][:, j], folds).to_dict()
        adjusted = holm_adjust([differences[v][m]["p_value"] for v in others])
        method_adjusted = holm_adjust([differences[v][m]["method"]["p_value"] for v in others])
        for v, p, p_method in zip(others, adjusted, method_adjusted, strict=True):
            differences[v][m]["p_holm"] = p
            differences[v][m]["method"]["p_holm"] = p_method
    return differences


def _one_per_run(results: list[dict]) -> list[dict]:
    """The results with copies of one run left out: a grid that reuses another grid's runs holds
    copies of their files, and a table over both folders would count those runs twice."""
    seen: set[tuple] = set()
    unique = []
    for result in results:
        key = (result["variant"], result["fold"], result["seed"], result["config_hash"])
        if key not in seen:
            seen.add(key)
            unique.append(result)
    return unique


def _mean_minutes(runs: list[dict]) -> float | None:
    seconds = [r["wall_seconds"] for r in runs if r.get("wall_seconds") is not None]
    return round(float(np.mean(seconds)) / 60, 1) if seconds else None


def format_figure(value: float | None, metric: str, signed: bool = False) -> str:
    """A figure for a table: 2 decimals for Betti counts, 4 otherwise; a dash when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    digits = 2 if metric.startswith("betti") else 4
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def format_ci(value: float | None, low: float | None, high: float | None, metric: str, *,
              signed: bool = False) -> str:
    """'value [low, high]' with format_figure's digits."""
    return (f"{format_figure(value, metric, signed)} [{format_figure(low, metric, signed)}, "
            f"{format_figure(high, metric, signed)}]")


def format_markdown(table: dict) -> str:
    metrics, reference = table["metrics"], table["reference"]
    missing = {v: i["images_scored"] - table["n_images"] for v, i in table["variants"].items()}
    lines = [f"# Ablation: {table['grid']}", "",
             f"Out-of-fold per-image figures, {table['figures']}: {table['figures_definition']}. "
             f"{table['n_images']} images scored by every variant (seeds {table['seeds']})"
             + ("; images left out because another variant lacks them: "
                + ", ".join(f"{v} {n}" for v, n in missing.items() if n) if any(missing.values()) else "")
             + f". Training time of the {table['n_results']} runs: {table['wall_hours_total']} h.", "",
             "| variant | runs | folds | min / run | " + " | ".join(metrics) + " |",
             "|---|---:|---|---:|" + "---|" * len(metrics)]
    for v, info in table["variants"].items():
        cells = [format_ci(s["mean"], s["ci_low"], s["ci_high"], m) for m, s in info["metrics"].items()]
        folds = ",".join(map(str, info["folds"]))
        lines.append(f"| {v}{' (ref)' if v == reference else ''} | {info['runs']} | {folds} | "
                     f"{info['wall_minutes_per_run'] or '–'} | " + " | ".join(cells) + " |")
    lines += ["", "Per-image mean [95% bootstrap CI]; Betti errors are counts per image (lower is better).",
              "", f"## Paired differences to {reference} (variant - {reference}, per image)", "",
              "| variant | figure | mean diff | method 95% CI (seed-aware) | t p (Holm) | "
              "these weights: 95% CI | Wilcoxon p | Holm p | better / worse |",
              "|---|---|---:|---|---:|---|---:|---:|---:|"]
    for v, by_metric in table["differences"].items():
        for m in metrics:
            d = by_metric[m]
            method = d["method"]
            lines.append(f"| {v} | {m} | {format_figure(d['mean_difference'], m, True)} | "
                         f"[{format_figure(method['ci_low'], m, True)}, "
                         f"{format_figure(method['ci_high'], m, True)}] | {format_p(method['p_holm'])} | "
                         f"[{format_figure(d['ci_low'], m, True)}, {format_figure(d['ci_high'], m, True)}] | "
                         f"{format_p(d['p_value'])} | {format_p(d['p_holm'])} | "
                         f"{d['b_better']} / {d['a_better']} |")
    if "dice" in metrics and table["differences"]:
        widths = ", ".join(f"{v} {(m['ci_high'] - m['ci_low']) / 2:.4f}"
                           for v, d in table["differences"].items() for m in [d["dice"]["method"]]
                           if not math.isnan(m["ci_high"] - m["ci_low"]))
        lines += ["", f"Power: half-width of the seed-aware 95% CI of the Dice difference: {widths or '–'} "
                  "(target: at most 0.005; it needs two or more folds)."]
    s = table["settings"]
    lines += ["", f"Method columns: {s['method_interval']}; the claim about a training procedure. "
              f"'These weights' columns: unit {s['unit']}; {s['interval']} ({s['n_resamples']} resamples, "
              f"seed {s['seed']}); {s['test']}; {s['p_holm']}. 'better / worse': images where the variant "
              "beats / trails the reference.", ""]
    return "\n".join(lines)
