"""The HTML report of a comparison of evaluations: paired tables, box plot, PR and training curves."""

from __future__ import annotations

import os
from pathlib import Path

from dskd.evaluation.report.figures import plot_metric_boxes, plot_pr_curves, read_log, read_pr_curve
from dskd.evaluation.report.html import escape, figure, fmt, link, table, write_page
from dskd.metrics.suite import better_direction

__all__ = ["write_comparison_report"]


def _p(value: float | None) -> str:
    if value is None or value != value:
        return fmt(None)
    return f"{value:.2e}" if value < 1e-3 else f"{value:.4f}"


def _comparison_table(comparison: dict, result: dict) -> str:
    rows = []
    for m, r in comparison["metrics"].items():
        better = better_direction(m)
        rows.append([escape(m), better, fmt(r["mean_a"], m), fmt(r["mean_b"], m),
                     fmt(r["mean_difference"], m), f"[{fmt(r['ci_low'], m)}, {fmt(r['ci_high'], m)}]",
                     _p(r["p_value"]), _p(r["p_holm"]), str(r["n"]), f"{r['b_better']} / {r['a_better']}"])
    a, b = comparison["a"], comparison["b"]
    return table(["metric", "better", a, b, f"{b} − {a}", "CI", "Wilcoxon p", "Holm p", "n",
                  f"{b} / {a} better"], rows)


def _figures(out_dir: Path, runs: list) -> list[str]:
    names = []
    plot_metric_boxes({r.label: [v["dice"] for v in r.values.values()] for r in runs
                       if "dice" in next(iter(r.values.values()))}, out_dir / "dice_boxplot.png")
    names.append("dice_boxplot.png")
    curves, points = {}, {}
    for run in runs:
        curve = read_pr_curve(run.folder / "pr_curve.csv")
        if curve is not None:
            curves[run.label] = curve
            pooled = run.summary.pooled
            if run.summary.threshold is not None and "sensitivity" in pooled:
                points[run.label] = (pooled["sensitivity"], pooled["precision"])
    if curves:
        plot_pr_curves(curves, out_dir / "pr_curves.png", operating_points=points)
        names.append("pr_curves.png")
    logs = {r.label: read_log(r.summary.sources["training_log"]) for r in runs
            if r.summary.sources.get("training_log")}
    logs = {k: v for k, v in logs.items() if v and "val_dice" in v[0]}
    if logs:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.2, 3.6))
        ax = fig.subplots()
        for label, history in logs.items():
            ax.plot([h["epoch"] for h in history], [h["val_dice"] for h in history], marker="o",
                    markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation Dice (per-image mean, t=0.5)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "training_curves.png", dpi=110)
        names.append("training_curves.png")
    return names


def write_comparison_report(out_dir: str | Path, result: dict, runs: list) -> Path:
    """out_dir/report.html and its figures for a result of dskd.evaluation.compare.compare_runs."""
    out_dir = Path(out_dir)
    run_rows = []
    for run, info in zip(runs, result["runs"], strict=True):
        report = run.folder / "report.html"
        where = (link(os.path.relpath(report, out_dir), str(run.folder)) if report.is_file()
                 else escape(str(run.folder)))
        threshold = info["threshold"]
        run_rows.append([escape(run.label), where, "external" if threshold is None else f"{threshold:.2f}",
                         escape(info["threshold_policy"])])
    body = [f'<p class="note">{result["n_images"]} images, matched by name. Files: '
            f"{link('comparison.md', 'comparison.md')}, {link('comparison.json', 'comparison.json')}.</p>",
            "<h2>Runs</h2>", table(["run", "evaluation", "threshold", "policy"], run_rows)]
    for comparison in result["comparisons"]:
        body += [f"<h2>{escape(comparison['b'])} vs {escape(comparison['a'])}</h2>",
                 _comparison_table(comparison, result)]
    settings = result["settings"]
    body.append(f'<p class="note">Differences are per image ({escape(settings["difference"])}); '
                f"{int(round(settings['confidence'] * 100))}% {escape(settings['interval'])} "
                f"({settings['n_resamples']} resamples, seed {settings['seed']}); "
                f"{escape(settings['test'])}; {escape(settings['p_holm'])}.</p>")
    figures = _figures(out_dir, runs)
    body += ["<h2>Figures</h2>", '<div class="figures">' + "".join(figure(n, n) for n in figures) + "</div>"]
    title = "dskd comparison: " + " vs ".join(r.label for r in runs)
    return write_page(out_dir / "report.html", title, "\n".join(body))
