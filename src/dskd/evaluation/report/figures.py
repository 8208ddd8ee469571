"""Figures of evaluations: per-image box plots, precision-recall curves, threshold sweeps."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global figure state, no backend to pick

__all__ = ["plot_metric_boxes", "plot_pr_curves", "plot_threshold_sweep", "read_pr_curve", "read_log"]


def plot_metric_boxes(values_by_run: dict[str, list[float]], path: str | Path, *,
                      ylabel: str = "Dice per image") -> None:
    """One box per run (or per metric) of per-image values, the images drawn as dots, the mean
    as a triangle; NaNs left out."""
    labels = list(values_by_run)
    data = [np.asarray(values_by_run[k], dtype=np.float64) for k in labels]
    data = [d[~np.isnan(d)] for d in data]
    fig = Figure(figsize=(max(3.2, 1.4 * len(labels) + 1.5), 3.6))
    ax = fig.subplots()
    ax.boxplot(data, showmeans=True, widths=0.5)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=15 if len(labels) > 3 else 0)
    jitter = np.random.default_rng(0)  # fixed, so the same data always gives the same picture
    for i, values in enumerate(data, start=1):
        ax.scatter(i + jitter.uniform(-0.12, 0.12, values.size), values, s=9, alpha=0.6,
                   color="tab:blue", zorder=3)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_pr_curves(curves: dict[str, dict[str, np.ndarray]], path: str | Path, *,
                   operating_points: dict[str, tuple[float, float]] | None = None) -> None:
    """Pooled precision-recall curves, one per run; operating_points: {run: (recall, precision)}
    at the run's threshold, drawn as a dot."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.subplots()
    for i, (name, curve) in enumerate(curves.items()):
        colour = f"C{i}"
        ax.plot(curve["recall"], curve["precision"], color=colour, label=name)
        point = (operating_points or {}).get(name)
        if point is not None:
            ax.plot(*point, "o", color=colour, markersize=6)
    ax.set_xlabel("recall (sensitivity), pooled pixels")
    ax.set_ylabel("precision, pooled pixels")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_threshold_sweep(rows: list[dict], path: str | Path, *, chosen: float) -> None:
    """Per-image mean and pooled Dice, sensitivity and precision against the threshold."""
    thresholds = [r["threshold"] for r in rows]
    fig = Figure(figsize=(5.2, 3.6))
    ax = fig.subplots()
    for key, style in (("dice_mean", "-o"), ("dice_pooled", "--"), ("sensitivity_mean", ":"),
                       ("precision_mean", ":")):
        ax.plot(thresholds, [r[key] for r in rows], style, markersize=3, label=key.replace("_", " "))
    ax.axvline(chosen, color="grey", lw=1)
    ax.set_xlabel(f"threshold (chosen: {chosen:.2f})")
    ax.set_ylabel("validation figure")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def read_pr_curve(path: str | Path) -> dict[str, np.ndarray] | None:
    """A pr_curve.csv written by dskd.evaluation.evaluate.write_report, or None when absent."""
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("threshold", "precision", "recall")}


def read_log(path: str | Path) -> list[dict]:
    """A training log.csv as rows of floats (empty cells as NaN); [] when absent."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
                for row in csv.DictReader(handle)]
